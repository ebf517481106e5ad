//! One conversation: create (with the contract's create semantics), read, change, delete.

use crate::RECENT_MESSAGES;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_conversations::{
    self as conversations, ConversationRecord, ConversationStatus, Participant,
};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json, Path};
use thanotopolis_store::schema::MAIN_TABLE;
use thanotopolis_store::{Condition, StoreError, Update, Write};
use thanotopolis_tenant_auth::validate::{EmailAddress, Validator, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use thanotopolis_tenant_auth::{accounts, keys, Caller};
use uuid::Uuid;

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CreateConversation)]
pub(crate) struct CreateBody {
    title: Option<String>,
    description: Option<String>,
    #[serde(default)]
    user_ids: Vec<String>,
    #[serde(default)]
    agent_types: Vec<String>,
    #[serde(default)]
    participant_emails: Vec<String>,
}

/// `POST /api/conversations`: the conversation, its members (the caller plus the active users
/// of its tenant among `user_ids`), the agents of `agent_types` available to the caller, the
/// e-mail participants, and +1 on the tenant's counter, in one transaction.
#[utoipa::path(post, path = "/api/conversations", request_body = CreateBody, summary = "Starts a conversation",
    responses(
        (status = 200, description = "The new conversation", body = thanotopolis_conversations::ConversationResponse),
        (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateBody>,
) -> ApiResult<Json<Value>> {
    let store = state.stores.main.as_ref();
    let mut v = Validator::new();
    let title = v.optional_text("title", body.title.as_deref(), MAX_SHORT_TEXT);
    let description = v.optional_text("description", body.description.as_deref(), MAX_LONG_TEXT);
    let mut user_ids = Vec::new();
    for raw in &body.user_ids {
        match raw.parse::<Uuid>() {
            Ok(id) if id != caller.user_id() && !user_ids.contains(&id) => user_ids.push(id),
            Ok(_) => {}
            Err(_) => v.reject("user_ids", "Input should be a valid UUID"),
        }
    }
    if user_ids.len() >= conversations::MAX_MEMBERS {
        v.reject(
            "user_ids",
            format!("At most {} members", conversations::MAX_MEMBERS),
        );
    }
    if body.agent_types.len() > conversations::MAX_AGENTS {
        v.reject(
            "agent_types",
            format!("At most {} agents", conversations::MAX_AGENTS),
        );
    }
    let mut emails: Vec<EmailAddress> = Vec::new();
    for raw in body
        .participant_emails
        .iter()
        .filter(|e| !e.trim().is_empty())
    {
        if let Some(email) = v.email("participant_emails", raw) {
            if !emails.contains(&email) {
                emails.push(email);
            }
        }
    }
    if emails.len() > conversations::MAX_PARTICIPANTS {
        v.reject(
            "participant_emails",
            format!("At most {} participants", conversations::MAX_PARTICIPANTS),
        );
    }
    v.finish()?;
    let (Some(title), Some(description)) = (title, description) else {
        unreachable!("Validator::finish fails when any field is invalid")
    };

    let scope = caller.scope();
    let mut members = vec![caller.user().clone()];
    members.extend(
        accounts::load_many(store, &scope, &user_ids)
            .await?
            .into_iter()
            .filter(|u| u.is_active),
    );
    let now = thanotopolis_tenant_auth::now_rfc3339();
    let available = thanotopolis_agents::available(store, &caller).await?;
    let mut agents = Vec::new();
    for wanted in &body.agent_types {
        let attached = agents
            .iter()
            .any(|a: &conversations::AttachedAgent| &a.agent_type == wanted);
        if !attached && available.iter().any(|a| &a.agent_type == wanted) {
            agents.push(conversations::AttachedAgent {
                id: Uuid::new_v4(),
                agent_type: wanted.clone(),
                is_active: true,
                added_at: now.clone(),
                configuration: None,
            });
        }
    }
    let id = Uuid::new_v4();
    let participants: Vec<Participant> = emails
        .iter()
        .map(|e| Participant {
            id: Uuid::new_v4(),
            conversation_id: id,
            participant_type: "email".into(),
            identifier: e.as_str().into(),
            display_name: e.as_str().split('@').next().map(str::to_string),
            is_active: true,
            joined_at: now.clone(),
            left_at: None,
        })
        .collect();
    let title = title.unwrap_or_else(|| default_title(&caller, &members, &participants));
    let conversation = ConversationRecord {
        id,
        tenant_id: scope.tenant_id(),
        title: Some(title),
        description,
        status: "active".into(),
        created_by_user_id: Some(caller.user_id()),
        created_at: now.clone(),
        updated_at: None,
        version: 1,
        message_count: 0,
        last_message: None,
        last_message_at: None,
        members: members.iter().map(|u| u.id).collect(),
        agents,
        participants,
        agents_used: Vec::new(),
    };
    let mut writes = vec![Write::Put {
        item: conversation.item(&scope),
        condition: Some(Condition::NotExists),
    }];
    for member in &members {
        writes.push(Write::Put {
            item: member_row(&caller, id, member.id, &now),
            condition: None,
        });
    }
    writes.push(Write::Update {
        key: keys::tenant(&scope),
        update: Update::new().add("conversation_count", 1),
        condition: Some(Condition::Exists),
    });
    store.transact(writes).await?;
    Ok(Json(conversation.response(&members, &[])))
}

/// A member's row: its entry in that member's activity index.
fn member_row(
    caller: &Caller,
    conversation_id: Uuid,
    user_id: Uuid,
    at: &str,
) -> thanotopolis_store::Item {
    let scope = caller.scope();
    let mut item =
        MAIN_TABLE.key_item(&keys::conversation_member(&scope, conversation_id, user_id));
    item.insert("conversation_id".into(), json!(conversation_id));
    item.insert("user_id".into(), json!(user_id));
    item.insert("joined_at".into(), json!(at));
    item.insert(
        "gsi1pk".into(),
        json!(keys::index::member_conversations(&scope, user_id)),
    );
    item.insert(
        "gsi1sk".into(),
        json!(keys::index::activity(at, conversation_id)),
    );
    item
}

/// `"<username> - <first other member or participant> [et al.] - <date UTC>"` (§8.3).
fn default_title(
    caller: &Caller,
    members: &[thanotopolis_tenant_auth::UserRecord],
    participants: &[Participant],
) -> String {
    let others: Vec<&str> = members
        .iter()
        .filter(|u| u.id != caller.user_id())
        .map(|u| u.email.as_str())
        .chain(participants.iter().map(|p| p.identifier.as_str()))
        .collect();
    let who = match others.as_slice() {
        [] => "no participants".to_string(),
        [one] => one.to_string(),
        [first, ..] => format!("{first} et al."),
    };
    let format = time::macros::format_description!(
        "[month repr:short] [day], [year] [hour repr:12]:[minute] [period] UTC"
    );
    let date = time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default();
    format!("{} - {who} - {date}", caller.user().username)
}

/// `GET /api/conversations/{id}`: the conversation with its members and its newest
/// messages. The conversation and its recent messages are read together, then the members.
#[utoipa::path(get, path = "/api/conversations/{id}", params(("id" = Uuid, Path, description = "Conversation id")), summary = "A conversation with its members and newest messages",
    responses((status = 200, body = thanotopolis_conversations::ConversationResponse), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn by_id(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let store = state.stores.main.as_ref();
    let scope = caller.scope();
    let (conversation, recent) = tokio::join!(
        conversations::open(store, &caller, id),
        conversations::recent_messages(store, &scope, id, RECENT_MESSAGES),
    );
    let conversation = conversation?;
    let users = accounts::load_many(store, &caller.scope(), &conversation.members).await?;
    Ok(Json(conversation.response(&users, &recent?)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ConversationPatch)]
pub(crate) struct PatchBody {
    title: Option<String>,
    description: Option<String>,
    status: Option<String>,
}

/// `PATCH /api/conversations/{id}`: `null` or absent leaves a field unchanged.
#[utoipa::path(patch, path = "/api/conversations/{id}", params(("id" = Uuid, Path, description = "Conversation id")), request_body = PatchBody,
    summary = "Changes title, description or status",
    responses((status = 200, body = thanotopolis_conversations::ConversationResponse), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody), (status = 409, description = "Changed concurrently; retry", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<PatchBody>,
) -> ApiResult<Json<Value>> {
    let mut v = Validator::new();
    let title = v.optional_text("title", body.title.as_deref(), MAX_SHORT_TEXT);
    let description = v.optional_text("description", body.description.as_deref(), MAX_LONG_TEXT);
    if let Some(s) = &body.status {
        if !ConversationStatus::ALL.iter().any(|c| c.as_str() == s) {
            v.reject("status", "Input should be 'active', 'archived' or 'closed'");
        }
    }
    v.finish()?;
    let mut changes: Vec<(String, Value)> = Vec::new();
    if let Some(Some(t)) = title {
        changes.push(("title".into(), json!(t)));
    }
    if let Some(Some(d)) = description {
        changes.push(("description".into(), json!(d)));
    }
    if let Some(s) = body.status {
        changes.push(("status".into(), json!(s)));
    }
    let store = state.stores.main.as_ref();
    let updated =
        conversations::modify(store, &caller, id, |_| Ok::<_, ApiError>(changes.clone())).await?;
    let users = accounts::load_many(store, &caller.scope(), &updated.members).await?;
    let recent =
        conversations::recent_messages(store, &caller.scope(), id, RECENT_MESSAGES).await?;
    Ok(Json(updated.response(&users, &recent)))
}

/// `DELETE /api/conversations/{id}`: its creator or an org_admin+ only. The conversation
/// disappears at once (its `META` item and the tenant counter, in one transaction); then every
/// other item of its partition (member rows, messages) is deleted in batches.
#[utoipa::path(delete, path = "/api/conversations/{id}", params(("id" = Uuid, Path, description = "Conversation id")), summary = "Deletes a conversation (its creator or org_admin+)",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody)))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let store = state.stores.main.as_ref();
    let id = conversations::open_to_delete(store, &caller, id).await?;
    let scope = caller.scope();
    match store
        .transact(vec![
            Write::Delete {
                key: keys::conversation(&scope, id),
                condition: Some(Condition::Exists),
            },
            Write::Update {
                key: keys::tenant(&scope),
                update: Update::new().add("conversation_count", -1),
                condition: Some(Condition::Exists),
            },
        ])
        .await
    {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { .. }) => {
            return Err(ApiError::not_found("Conversation not found"))
        }
        Err(e) => return Err(e.into()),
    }
    let partition = thanotopolis_store::Query::new(keys::conversation_partition(&scope, id));
    thanotopolis_store::delete_all(store, &partition).await?;
    Ok(Json(
        json!({ "status": "success", "message": "Conversation deleted successfully" }),
    ))
}
