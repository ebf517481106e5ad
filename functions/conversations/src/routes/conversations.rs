//! One conversation: create (with the contract's create semantics), read, change, delete.

use crate::RECENT_MESSAGES;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_conversations::{self as conversations, ConversationStatus, NewConversation};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json, Path};
use thanotopolis_tenant_auth::validate::{EmailAddress, Validator, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use thanotopolis_tenant_auth::{accounts, Caller};
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

    let (conversation, members) = conversations::create(
        state.stores.main.as_ref(),
        &caller,
        NewConversation {
            title,
            description,
            user_ids,
            agent_types: body.agent_types,
            emails,
        },
    )
    .await?;
    Ok(Json(conversation.response(&members, &[])))
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

/// `DELETE /api/conversations/{id}`: its creator or an org_admin+ only; gone from every list
/// at once, its messages and member rows removed after.
#[utoipa::path(delete, path = "/api/conversations/{id}", params(("id" = Uuid, Path, description = "Conversation id")), summary = "Deletes a conversation (its creator or org_admin+)",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody)))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    conversations::delete(state.stores.main.as_ref(), &caller, id).await?;
    Ok(Json(
        json!({ "status": "success", "message": "Conversation deleted successfully" }),
    ))
}
