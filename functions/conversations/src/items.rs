//! What hangs off a conversation: messages, attached agents, e-mail participants, export and
//! stats.

use crate::open;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_conversations::{
    self as conversations, AttachedAgent, MessageInput, MessageRecord, Participant,
};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json};
use thanotopolis_service::{Path, Query};
use thanotopolis_store::{Query as StoreQuery, Update};
use thanotopolis_tenant_auth::records::from_item;
use thanotopolis_tenant_auth::validate::Validator;
use thanotopolis_tenant_auth::{keys, Caller};
use uuid::Uuid;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// Messages to skip from the oldest.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 2147483647)]
    skip: Option<String>,
    /// Page size; without it, the whole history.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 2147483647)]
    limit: Option<String>,
    /// The `X-Next-Cursor` of the previous page.
    cursor: Option<String>,
}

/// Largest `skip` and `limit` (the document's int32 maximum).
const MAX_PAGING: usize = i32::MAX as usize;

fn number(raw: Option<&str>, field: &str, min: usize) -> ApiResult<Option<usize>> {
    raw.map(|s| match s.parse::<usize>() {
        Ok(n) if (min..=MAX_PAGING).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid(
            &["query", field],
            format!("Input should be a whole number from {min} to {MAX_PAGING}"),
        )),
    })
    .transpose()
}

/// `GET …/messages`: oldest first, `skip`/`limit` as in the contract, plus a cursor
/// (`X-Next-Cursor` header, `cursor` parameter) for long histories. One query per page.
#[utoipa::path(get, path = "/api/conversations/{id}/messages", params(("id" = Uuid, Path, description = "Conversation id"), MessagesQuery), summary = "Messages, oldest first",
    responses(
        (status = 200, description = "A page of messages; `X-Next-Cursor` when more follow", body = [thanotopolis_conversations::MessageRecord],
            headers(("X-Next-Cursor" = String, description = "Pass as `cursor` for the next page"))),
        (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<MessagesQuery>,
) -> ApiResult<impl IntoResponse> {
    let conversation = open(&state, &caller, id).await?;
    let skip = number(q.skip.as_deref(), "skip", 0)?.unwrap_or(0);
    let limit = number(q.limit.as_deref(), "limit", 1)?;
    let (messages, next) = conversations::list_messages(
        state.stores.main.as_ref(),
        &caller.scope(),
        conversation.id,
        skip,
        limit,
        q.cursor,
    )
    .await?;
    let mut headers = HeaderMap::new();
    if let Some(c) = next.and_then(|c| c.parse().ok()) {
        headers.insert("x-next-cursor", c);
    }
    Ok((
        headers,
        Json(Value::Array(
            messages.iter().map(MessageRecord::response).collect(),
        )),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PostMessage {
    content: String,
    message_type: Option<String>,
    metadata: Option<Value>,
    mention: Option<String>,
}

/// `POST …/messages`: stores the caller's message, runs the same agent pipeline as the
/// WebSocket path (its frames reach the conversation's open sockets, its reply is stored), and
/// returns the caller's message as stored. The pipeline runs before the response so that it
/// completes inside the Lambda invocation; nothing here invents a reply.
#[utoipa::path(post, path = "/api/conversations/{id}/messages", params(("id" = Uuid, Path, description = "Conversation id")), request_body = PostMessage,
    summary = "Posts a message; agents reply over the conversation's sockets and in its history",
    responses((status = 200, description = "The caller's message as stored", body = thanotopolis_conversations::MessageRecord), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn post_message(
    State(state): State<AppState>,
    axum::Extension(replies): axum::Extension<crate::Replies>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<PostMessage>,
) -> ApiResult<Json<Value>> {
    let conversation = open(&state, &caller, id).await?;
    let message = conversations::post_message(
        state.stores.main.as_ref(),
        &caller.scope(),
        &conversation,
        MessageInput {
            id: None,
            content: body.content,
            message_type: body.message_type,
            metadata: body.metadata,
            author: Some(caller.user()),
            agent_type: None,
        },
    )
    .await?;
    if let Some(realtime) = replies.0 {
        thanotopolis_agent_runtime::reply_to_message(
            &realtime,
            &caller,
            &conversation,
            &message,
            body.mention,
        )
        .await;
    }
    Ok(Json(message.response()))
}

async fn find_message(
    state: &AppState,
    caller: &Caller,
    conversation: Uuid,
    id: Uuid,
) -> ApiResult<MessageRecord> {
    state
        .stores
        .main
        .get(&keys::message(&caller.scope(), conversation, id))
        .await?
        .map(from_item)
        .transpose()?
        .ok_or_else(|| ApiError::not_found("Message not found"))
}

#[utoipa::path(get, path = "/api/conversations/{id}/messages/{message_id}", params(("id" = Uuid, Path, description = "Conversation id"), ("message_id" = Uuid, Path)), summary = "One message",
    responses((status = 200, body = thanotopolis_conversations::MessageRecord), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody)))]
pub async fn message(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, message_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<Value>> {
    let conversation = open(&state, &caller, id).await?;
    Ok(Json(
        find_message(&state, &caller, conversation.id, message_id)
            .await?
            .response(),
    ))
}

/// `DELETE …/messages/{id}`: the author, the conversation's creator or an org_admin+.
#[utoipa::path(delete, path = "/api/conversations/{id}/messages/{message_id}", params(("id" = Uuid, Path, description = "Conversation id"), ("message_id" = Uuid, Path)), summary = "Deletes a message",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody)))]
pub async fn delete_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, message_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<Value>> {
    let conversation = open(&state, &caller, id).await?;
    let message = find_message(&state, &caller, conversation.id, message_id).await?;
    if message.user_id != Some(caller.user_id())
        && !conversations::may_manage(&caller, &conversation)
    {
        return Err(ApiError::forbidden("You can only delete your own messages"));
    }
    conversations::delete_message(
        state.stores.main.as_ref(),
        &caller.scope(),
        conversation.id,
        message.id,
    )
    .await?;
    Ok(Json(
        json!({ "status": "success", "message": "Message deleted successfully" }),
    ))
}

/// `DELETE …/messages`: the conversation's creator or an org_admin+.
#[utoipa::path(delete, path = "/api/conversations/{id}/messages", params(("id" = Uuid, Path, description = "Conversation id")), summary = "Deletes every message (creator or org_admin+)",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody)))]
pub async fn clear_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let conversation =
        conversations::open_to_manage(state.stores.main.as_ref(), &caller, id, "clear it").await?;
    let scope = caller.scope();
    let partition = keys::conversation_partition(&scope, conversation.id);
    let messages = StoreQuery::new(partition).begins_with(keys::MESSAGE_PREFIX);
    let deleted = thanotopolis_store::delete_all(state.stores.main.as_ref(), &messages).await?;
    state
        .stores
        .main
        .update(
            &keys::conversation(&scope, conversation.id),
            Update::new()
                .add("message_count", -(deleted as i64))
                .set("last_message", Value::Null)
                .set("last_message_at", Value::Null),
            Some(thanotopolis_store::Condition::Exists),
        )
        .await?;
    Ok(Json(
        json!({ "status": "success", "message": "All messages cleared successfully" }),
    ))
}

#[utoipa::path(get, path = "/api/conversations/{id}/agents", params(("id" = Uuid, Path, description = "Conversation id")), summary = "The agents attached to a conversation",
    responses((status = 200, body = [Object]), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody)))]
pub async fn agents(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let conversation = open(&state, &caller, id).await?;
    Ok(Json(Value::Array(
        conversation
            .agents
            .iter()
            .filter(|a| a.is_active)
            .map(|a| json!({ "id": a.id, "agent_type": a.agent_type, "configuration": a.configuration, "added_at": a.added_at }))
            .collect(),
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AttachAgent {
    agent_type: String,
    configuration: Option<Value>,
}

/// `POST …/agents`: attaches an agent available to the caller (re-activates it if attached).
#[utoipa::path(post, path = "/api/conversations/{id}/agents", params(("id" = Uuid, Path, description = "Conversation id")), request_body = AttachAgent,
    summary = "Attaches an agent available to the caller",
    responses((status = 200, body = Object), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn attach_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<AttachAgent>,
) -> ApiResult<Json<Value>> {
    let store = state.stores.main.as_ref();
    let mut v = Validator::new();
    let configuration = v
        .optional_object("configuration", body.configuration.as_ref())
        .flatten();
    v.finish()?;
    let available = thanotopolis_agents::available(store, &caller).await?;
    if !available.iter().any(|a| a.agent_type == body.agent_type) {
        return Err(ApiError::not_found("Agent not found"));
    }
    let mut attached = None;
    conversations::modify(store, &caller, id, |c| {
        let mut agents = c.agents.clone();
        let full = agents.len() >= conversations::MAX_AGENTS;
        let agent = match agents.iter_mut().find(|a| a.agent_type == body.agent_type) {
            Some(a) => {
                a.is_active = true;
                a.configuration = configuration.clone();
                a.clone()
            }
            None if full => {
                return Err(ApiError::bad_request(format!(
                    "A conversation has at most {} agents",
                    conversations::MAX_AGENTS
                )))
            }
            None => {
                let a = AttachedAgent {
                    id: Uuid::new_v4(),
                    agent_type: body.agent_type.clone(),
                    is_active: true,
                    added_at: thanotopolis_tenant_auth::now_rfc3339(),
                    configuration: configuration.clone(),
                };
                agents.push(a.clone());
                a
            }
        };
        attached = Some(agent);
        Ok(vec![("agents".into(), json!(agents))])
    })
    .await?;
    let a = attached.expect("set by the successful change");
    Ok(Json(
        json!({ "id": a.id, "agent_type": a.agent_type, "configuration": a.configuration }),
    ))
}

/// `DELETE …/agents/{id}` (the attachment's id).
#[utoipa::path(delete, path = "/api/conversations/{id}/agents/{agent_id}", params(("id" = Uuid, Path, description = "Conversation id"), ("agent_id" = Uuid, Path, description = "The attachment's id")),
    summary = "Detaches an agent",
    responses((status = 200, body = Object), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody)))]
pub async fn detach_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, agent_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<Value>> {
    conversations::modify(state.stores.main.as_ref(), &caller, id, |c| {
        if !c.agents.iter().any(|a| a.id == agent_id) {
            return Err(ApiError::not_found("Agent not found"));
        }
        let rest: Vec<&AttachedAgent> = c.agents.iter().filter(|a| a.id != agent_id).collect();
        Ok(vec![("agents".into(), json!(rest))])
    })
    .await?;
    Ok(Json(
        json!({ "status": "success", "message": "Agent removed successfully" }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AddParticipant {
    email: String,
}

/// `POST …/participants`: invites an e-mail participant (the frontend's add-participant).
#[utoipa::path(post, path = "/api/conversations/{id}/participants", params(("id" = Uuid, Path, description = "Conversation id")), request_body = AddParticipant,
    summary = "Invites an e-mail participant",
    responses((status = 200, body = Object), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_participant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<AddParticipant>,
) -> ApiResult<Json<Value>> {
    let mut v = Validator::new();
    let email = v.email("email", &body.email);
    v.finish()?;
    let email = email.expect("validated");
    let mut added = None;
    conversations::modify(state.stores.main.as_ref(), &caller, id, |c| {
        let mut participants = c.participants.clone();
        if let Some(p) = participants
            .iter_mut()
            .find(|p| p.identifier == email.as_str())
        {
            p.is_active = true;
            p.left_at = None;
            added = Some(p.clone());
        } else if participants.len() >= conversations::MAX_PARTICIPANTS {
            return Err(ApiError::bad_request(format!(
                "A conversation has at most {} participants",
                conversations::MAX_PARTICIPANTS
            )));
        } else {
            let p = Participant {
                id: Uuid::new_v4(),
                conversation_id: id,
                participant_type: "email".into(),
                identifier: email.as_str().into(),
                display_name: email.as_str().split('@').next().map(str::to_string),
                is_active: true,
                joined_at: thanotopolis_tenant_auth::now_rfc3339(),
                left_at: None,
            };
            participants.push(p.clone());
            added = Some(p);
        }
        Ok(vec![("participants".into(), json!(participants))])
    })
    .await?;
    Ok(Json(json!(added.expect("set by the successful change"))))
}

/// `GET …/export`: the whole thread (one query per 1 MB of history).
#[utoipa::path(get, path = "/api/conversations/{id}/export", params(("id" = Uuid, Path, description = "Conversation id")), summary = "The whole thread",
    responses((status = 200, body = Object), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let c = open(&state, &caller, id).await?;
    let messages =
        conversations::history(state.stores.main.as_ref(), &caller.scope(), c.id).await?;
    Ok(Json(json!({
        "thread_id": c.id,
        "title": c.title,
        "description": c.description,
        "created_at": c.created_at,
        "messages": messages.iter().map(|m| json!({
            "id": m.id, "content": m.content, "sender_name": m.sender_name,
            "sender_type": m.sender_type, "created_at": m.created_at, "metadata": m.export_metadata(),
        })).collect::<Vec<_>>(),
    })))
}

/// `GET …/stats`: from the counters kept with every message (one read).
#[utoipa::path(get, path = "/api/conversations/{id}/stats", params(("id" = Uuid, Path, description = "Conversation id")), summary = "Message counts of a conversation",
    responses((status = 200, body = Object), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let c = open(&state, &caller, id).await?;
    Ok(Json(json!({
        "message_count": c.message_count,
        "created_at": c.created_at,
        "last_message_at": c.last_message_at,
        "agents_used": c.agents_used,
        "status": c.status,
        "title": c.title,
    })))
}
