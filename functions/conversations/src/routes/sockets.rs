//! Live sockets, counted from connection rows: of a conversation, of the organization.

use crate::open;
use axum::extract::State;
use serde_json::{json, Value};
use thanotopolis_conversations as conversations;
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiResult, AppState, Json, Path};
use thanotopolis_tenant_auth::Caller;
use uuid::Uuid;

/// `GET /api/conversations/{id}/active-users`: open sockets of a conversation the caller is a
/// member of, counted from live connection rows (decision D16: no counter that can drift).
#[utoipa::path(get, path = "/api/conversations/{id}/active-users", params(("id" = Uuid, Path, description = "Conversation id")), summary = "Open sockets of a conversation (members only)",
    responses((status = 200, body = Object), (status = 403, description = "Access denied: not a member", body = ErrorBody), (status = 404, description = "No such conversation", body = ErrorBody)))]
pub(crate) async fn active_users(
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
pub(crate) async fn websocket_stats(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let p = conversations::presence::in_tenant(&state, caller.scope().tenant_id()).await?;
    Ok(Json(json!({
        "total_connections": p.total_connections,
        "total_conversations": p.total_conversations,
        "total_users": p.total_users,
        "max_connections_per_user": Value::Null,
        "timestamp": thanotopolis_tenant_auth::now_rfc3339(),
    })))
}

/// `GET /api/ws/stats` (authenticated now, decision D9): the same figures, per conversation too.
#[utoipa::path(get, path = "/api/ws/stats", summary = "Open sockets of the caller's organization, per conversation too",
    responses((status = 200, body = Object)))]
pub(crate) async fn ws_stats(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
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
