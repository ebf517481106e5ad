//! The agents API (contract §7.3, decisions D6, D7): the agents that serve the caller,
//! and management of proprietary agents (org_admin+ of the owner) and free agents
//! (super_admin only). Another organization's proprietary agents read as absent.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use thanotopolis_agents::{self as agents, AgentRecord};
use thanotopolis_service::openapi::{self, ErrorBody};
use thanotopolis_service::Path;
use thanotopolis_service::{ApiResult, AppState, Json};
use thanotopolis_tenant_auth::Caller;
use uuid::Uuid;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(list, edit::create, by_id, edit::update, edit::deactivate))]
    struct Doc;
    openapi::part(
        <Doc as utoipa::OpenApi>::openapi(),
        "agents",
        &[("/api/agents/", "/api/agents")],
    )
}

mod edit;

use edit::{create, deactivate, update};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/agents", get(list).post(create))
        .route("/api/agents/", get(list).post(create))
        .route(
            "/api/agents/{agent_id}",
            get(by_id).patch(update).delete(deactivate),
        )
        .with_state(state)
}

/// Longest system prompt an organization may give its agent.
pub(crate) const MAX_SYSTEM_PROMPT: usize = 8_000;

/// The agents that serve the caller's organization: free agents and its own.
#[utoipa::path(get, path = "/api/agents", responses(
    (status = 200, description = "`{\"agents\": [agent]}`", body = Object),
    (status = 401, body = ErrorBody),
))]
async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let available = agents::available(state.stores.main.as_ref(), &caller).await?;
    Ok(Json(json!({
        "agents": available.iter().map(AgentRecord::response).collect::<Vec<_>>()
    })))
}

/// One agent that serves the caller's organization.
#[utoipa::path(get, path = "/api/agents/{agent_id}",
    params(("agent_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The agent", body = thanotopolis_agents::AgentResponse),
        (status = 404, description = "No such agent, or another organization's", body = ErrorBody),
        (status = 422, description = "Malformed id", body = ErrorBody),
    ))]
async fn by_id(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let agent = agents::find(state.stores.main.as_ref(), &caller, id).await?;
    Ok(Json(agent.response()))
}
