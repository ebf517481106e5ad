//! A conversation's messages: paged history, posting (answered by the agent pipeline), reading and deleting.

use crate::open;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_conversations::{self as conversations, MessageInput, MessageRecord};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{query_number, ApiError, ApiResult, AppState, Json, Path, Query};
use thanotopolis_store::{Query as StoreQuery, Update};
use thanotopolis_tenant_auth::{keys, Caller};
use uuid::Uuid;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MessagesQuery {
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

/// `GET …/messages`: oldest first, `skip`/`limit` as in the contract, plus a cursor
/// (`X-Next-Cursor` header, `cursor` parameter) for long histories. One query per page.
#[utoipa::path(get, path = "/api/conversations/{id}/messages", params(("id" = Uuid, Path, description = "Conversation id"), MessagesQuery), summary = "Messages, oldest first",
    responses(
        (status = 200, description = "A page of messages; `X-Next-Cursor` when more follow", body = [thanotopolis_conversations::MessageRecord],
            headers(("X-Next-Cursor" = String, description = "Pass as `cursor` for the next page"))),
        (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<MessagesQuery>,
) -> ApiResult<impl IntoResponse> {
    let conversation = open(&state, &caller, id).await?;
    let skip = query_number(q.skip.as_deref(), "skip", 0, MAX_PAGING)?.unwrap_or(0);
    let limit = query_number(q.limit.as_deref(), "limit", 1, MAX_PAGING)?;
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
    // Serialized straight from the records (what `MessageRecord::response` gives, without
    // building a JSON value per message first).
    Ok((headers, Json(messages)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct PostMessage {
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
    responses((status = 200, description = "The caller's message as stored", body = thanotopolis_conversations::MessageRecord), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "Over the user's message rate, or the organization's AI budget for the month is spent (nothing stored; `Retry-After`)", body = ErrorBody)))]
pub(crate) async fn post_message(
    State(state): State<AppState>,
    axum::Extension(replies): axum::Extension<crate::Replies>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<PostMessage>,
) -> ApiResult<Json<Value>> {
    let conversation = open(&state, &caller, id).await?;
    thanotopolis_agent_runtime::admit_message(&state, &caller).await?;
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
    thanotopolis_store::get_record(
        state.stores.main.as_ref(),
        &keys::message(&caller.scope(), conversation, id),
    )
    .await?
    .ok_or_else(|| ApiError::not_found("Message not found"))
}

#[utoipa::path(get, path = "/api/conversations/{id}/messages/{message_id}", params(("id" = Uuid, Path, description = "Conversation id"), ("message_id" = Uuid, Path)), summary = "One message",
    responses((status = 200, body = thanotopolis_conversations::MessageRecord), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody)))]
pub(crate) async fn message(
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
pub(crate) async fn delete_message(
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
pub(crate) async fn clear_messages(
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
