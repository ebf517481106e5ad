//! A conversation's export and its message counts.

use crate::open;
use axum::extract::State;
use serde_json::{json, Value};
use thanotopolis_conversations as conversations;
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiResult, AppState, Json, Path};
use thanotopolis_tenant_auth::Caller;
use uuid::Uuid;

/// `GET …/export`: the whole thread (one query per 1 MB of history).
#[utoipa::path(get, path = "/api/conversations/{id}/export", params(("id" = Uuid, Path, description = "Conversation id")), summary = "The whole thread",
    responses((status = 200, body = Object), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody)))]
pub(crate) async fn export(
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
pub(crate) async fn stats(
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
