//! The conversations API (CONTRACT §8, with §8.3 create semantics): conversations in the
//! caller's tenant, their members, agents, e-mail participants and messages. The rules live
//! in `thanotopolis-conversations`; these routes parse and shape.

mod items;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use thanotopolis_agent_runtime::RealtimeState;
use thanotopolis_conversations::{
    self as conversations, ConversationRecord, ConversationStatus, Participant,
};
use thanotopolis_service::openapi::{self, ErrorBody};
use thanotopolis_service::{ApiError, ApiResult, AppState, Json};
use thanotopolis_service::{Path, Query};
use thanotopolis_store::schema::MAIN_TABLE;
use thanotopolis_store::{Condition, Index, Key, StoreError, Update, Write};
use thanotopolis_tenant_auth::records::readable;
use thanotopolis_tenant_auth::validate::{EmailAddress, Validator, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use thanotopolis_tenant_auth::{accounts, keys, Caller};
use uuid::Uuid;

/// How many of the newest messages a conversation response carries; the full history is the
/// messages route's job.
pub const RECENT_MESSAGES: u32 = 50;

/// Largest page of the conversation list.
const MAX_PAGE_SIZE: usize = 100;

/// The conversations routes. `replies` runs the agent pipeline for messages posted over REST
/// (the realtime function's, posting to open sockets); `None` stores messages without replies.
/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        components(schemas(ConversationStatus)),
        paths(
            list,
            create,
            search,
            by_id,
            update,
            remove,
            items::list_messages,
            items::post_message,
            items::clear_messages,
            items::message,
            items::delete_message,
            items::agents,
            items::attach_agent,
            items::detach_agent,
            items::add_participant,
            items::export,
            items::stats,
            active_users,
            websocket_stats,
            ws_stats,
        )
    )]
    struct Doc;
    openapi::part(
        <Doc as utoipa::OpenApi>::openapi(),
        "conversations",
        &[("/api/conversations/", "/api/conversations")],
    )
}

pub fn router(state: AppState, replies: Option<Arc<RealtimeState>>) -> Router {
    Router::new()
        .route("/api/conversations", get(list).post(create))
        .route("/api/conversations/", get(list).post(create))
        .route("/api/conversations/search", get(search))
        .route(
            "/api/conversations/{id}",
            get(by_id).patch(update).delete(remove),
        )
        .route(
            "/api/conversations/{id}/messages",
            get(items::list_messages)
                .post(items::post_message)
                .delete(items::clear_messages),
        )
        .route(
            "/api/conversations/{id}/messages/{message_id}",
            get(items::message).delete(items::delete_message),
        )
        .route(
            "/api/conversations/{id}/agents",
            get(items::agents).post(items::attach_agent),
        )
        .route(
            "/api/conversations/{id}/agents/{agent_id}",
            delete(items::detach_agent),
        )
        .route(
            "/api/conversations/{id}/participants",
            post(items::add_participant),
        )
        .route("/api/conversations/{id}/export", get(items::export))
        .route("/api/conversations/{id}/stats", get(items::stats))
        .route("/api/conversations/{id}/active-users", get(active_users))
        .route("/api/websocket/stats", get(websocket_stats))
        .route("/api/ws/stats", get(ws_stats))
        .layer(axum::Extension(Replies(replies)))
        .with_state(state)
}

/// The agent pipeline for REST-posted messages, if this deployment has one.
#[derive(Clone)]
pub(crate) struct Replies(pub(crate) Option<Arc<RealtimeState>>);

/// The conversation in the path, if the caller is an active member.
pub(crate) async fn open(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<ConversationRecord> {
    conversations::open(state.stores.main.as_ref(), caller, id).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CreateConversation)]
struct CreateBody {
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
async fn create(
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// 1-based page (default 1).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    page: Option<String>,
    /// 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// Only conversations with this status.
    status: Option<ConversationStatus>,
    /// The `X-Next-Cursor` of the previous page; continues without re-reading earlier pages.
    cursor: Option<String>,
}

fn bounded(raw: Option<&str>, field: &str, default: usize, max: usize) -> ApiResult<usize> {
    match raw {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                &["query", field],
                format!("Input should be a whole number from 1 to {max}"),
            )),
        },
    }
}

/// `GET /api/conversations`: the caller's conversations, most recently active first. One index
/// query and one batch read per page. `page`/`page_size` as in the contract; a `cursor` (from
/// the `X-Next-Cursor` header) continues without re-reading earlier pages.
#[utoipa::path(get, path = "/api/conversations", params(ListQuery), summary = "The caller's conversations, most recently active first",
    responses(
        (status = 200, description = "A page of conversations; `X-Next-Cursor` when more follow", body = [thanotopolis_conversations::ConversationSummary],
            headers(("X-Next-Cursor" = String, description = "Pass as `cursor` for the next page"))),
        (status = 422, body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<impl IntoResponse> {
    let page = bounded(q.page.as_deref(), "page", 1, 10_000)?;
    let size = bounded(q.page_size.as_deref(), "page_size", 20, MAX_PAGE_SIZE)?;
    let store = state.stores.main.as_ref();
    let scope = caller.scope();
    let skip = if q.cursor.is_some() {
        0
    } else {
        (page - 1) * size
    };
    let index =
        thanotopolis_store::Query::new(keys::index::member_conversations(&scope, caller.user_id()))
            .on(Index::Gsi1)
            .backward()
            .limit(u32::try_from(skip + size).unwrap_or(u32::MAX))
            .after(q.cursor.clone());
    let rows = store.query(&index).await?;
    let next = rows.cursor.clone();
    let ids: Vec<Uuid> = rows
        .items
        .iter()
        .skip(skip)
        .filter_map(|r| r.get("conversation_id")?.as_str()?.parse().ok())
        .collect();
    let found = load_conversations(&state, &caller, &ids).await?;
    let items: Vec<Value> = ids
        .iter()
        .filter_map(|id| found.get(id))
        .filter(|c| q.status.is_none_or(|s| c.status == s.as_str()))
        .filter(|c| c.members.contains(&caller.user_id()))
        .map(ConversationRecord::list_item)
        .collect();
    let mut headers = HeaderMap::new();
    if let Some(c) = next.and_then(|c| c.parse().ok()) {
        headers.insert("x-next-cursor", c);
    }
    Ok((headers, Json(Value::Array(items))))
}

/// The conversations with these ids in the caller's tenant, by id. One batch read.
async fn load_conversations(
    state: &AppState,
    caller: &Caller,
    ids: &[Uuid],
) -> ApiResult<HashMap<Uuid, ConversationRecord>> {
    let keys: Vec<Key> = ids
        .iter()
        .map(|id| keys::conversation(&caller.scope(), *id))
        .collect();
    let items = state.stores.main.batch_get(&keys).await?;
    Ok(readable::<ConversationRecord>(items)
        .into_iter()
        .map(|c| (c.id, c))
        .collect())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Case-insensitive substring of title or description.
    q: Option<String>,
}

/// `GET /api/conversations/search?q=`: case-insensitive substring of title or description among
/// the caller's conversations. Cost: it reads all of the caller's conversations (one index
/// query per 1 MB page, one batch read per 100), so it grows with that number, not with the
/// tenant's or the table's size.
#[utoipa::path(get, path = "/api/conversations/search", params(SearchQuery), summary = "Searches the caller's conversations",
    responses((status = 200, description = "The matching conversations (`last_message` is null)", body = [thanotopolis_conversations::ConversationSummary])))]
async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let needle = q
        .q
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::Unprocessable("Search query 'q' parameter is required".into()))?
        .to_lowercase();
    let store = state.stores.main.as_ref();
    let index = thanotopolis_store::Query::new(keys::index::member_conversations(
        &caller.scope(),
        caller.user_id(),
    ))
    .on(Index::Gsi1)
    .backward();
    let ids: Vec<Uuid> = thanotopolis_store::query_all(store, &index)
        .await?
        .iter()
        .filter_map(|r| r.get("conversation_id")?.as_str()?.parse().ok())
        .collect();
    let found = load_conversations(&state, &caller, &ids).await?;
    let matches = |c: &ConversationRecord| {
        let hit = |s: &Option<String>| {
            s.as_deref()
                .is_some_and(|s| s.to_lowercase().contains(&needle))
        };
        hit(&c.title) || hit(&c.description)
    };
    let items: Vec<Value> = ids
        .iter()
        .filter_map(|id| found.get(id))
        .filter(|c| c.members.contains(&caller.user_id()) && matches(c))
        .map(|c| {
            let mut item = c.list_item();
            item["last_message"] = Value::Null;
            item
        })
        .collect();
    Ok(Json(Value::Array(items)))
}

/// `GET /api/conversations/{id}`: the conversation with its members and its newest
/// messages. The conversation and its recent messages are read together, then the members.
#[utoipa::path(get, path = "/api/conversations/{id}", params(("id" = Uuid, Path, description = "Conversation id")), summary = "A conversation with its members and newest messages",
    responses((status = 200, body = thanotopolis_conversations::ConversationResponse), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn by_id(
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
struct PatchBody {
    title: Option<String>,
    description: Option<String>,
    status: Option<String>,
}

/// `PATCH /api/conversations/{id}`: `null` or absent leaves a field unchanged.
#[utoipa::path(patch, path = "/api/conversations/{id}", params(("id" = Uuid, Path, description = "Conversation id")), request_body = PatchBody,
    summary = "Changes title, description or status",
    responses((status = 200, body = thanotopolis_conversations::ConversationResponse), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody), (status = 409, description = "Changed concurrently; retry", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
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
    let updated = conversations::modify(store, &caller, id, |_| Ok(changes.clone())).await?;
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
async fn remove(
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

/// `GET /api/conversations/{id}/active-users`: open sockets of a conversation the caller is a
/// member of, counted from live connection rows (defect #16: no counter that can drift).
#[utoipa::path(get, path = "/api/conversations/{id}/active-users", params(("id" = Uuid, Path, description = "Conversation id")), summary = "Open sockets of a conversation (members only)",
    responses((status = 200, body = Object), (status = 403, description = "Access denied: not a member", body = ErrorBody), (status = 404, description = "No such conversation", body = ErrorBody)))]
async fn active_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let id = open(&state, &caller, id).await?.id;
    let live = conversations::presence::count_in_conversation(&state, id).await?;
    Ok(Json(json!({
        "conversation_id": id,
        "active_connections": live,
        "timestamp": thanotopolis_tenant_auth::now_rfc3339(),
    })))
}

/// `GET /api/websocket/stats`: the caller's organization's open sockets. There is no
/// per-user connection cap in this system, so none is reported.
#[utoipa::path(get, path = "/api/websocket/stats", summary = "Open sockets of the caller's organization",
    responses((status = 200, body = Object)))]
async fn websocket_stats(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let p = conversations::presence::in_tenant(&state, caller.scope().tenant_id()).await?;
    Ok(Json(json!({
        "total_connections": p.total_connections,
        "total_conversations": p.total_conversations,
        "total_users": p.total_users,
        "max_connections_per_user": Value::Null,
        "timestamp": thanotopolis_tenant_auth::now_rfc3339(),
    })))
}

/// `GET /api/ws/stats` (authenticated now, defect #9): the same figures, per conversation too.
#[utoipa::path(get, path = "/api/ws/stats", summary = "Open sockets of the caller's organization, per conversation too",
    responses((status = 200, body = Object)))]
async fn ws_stats(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let p = conversations::presence::in_tenant(&state, caller.scope().tenant_id()).await?;
    Ok(Json(json!({
        "active_connections": { "total": p.total_connections, "by_conversation": p.by_conversation },
        "connection_manager": {
            "total_connections": p.total_connections,
            "total_conversations": p.total_conversations,
            "total_users": p.total_users,
        },
        "timestamp": thanotopolis_tenant_auth::now_rfc3339(),
    })))
}
