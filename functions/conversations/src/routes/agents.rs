//! The agents attached to a conversation.

use crate::open;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_conversations::{self as conversations, AttachedAgent};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json, Path};
use thanotopolis_tenant_auth::validate::Validator;
use thanotopolis_tenant_auth::Caller;
use uuid::Uuid;

#[utoipa::path(get, path = "/api/conversations/{id}/agents", params(("id" = Uuid, Path, description = "Conversation id")), summary = "The agents attached to a conversation",
    responses((status = 200, body = [Object]), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody)))]
pub(crate) async fn agents(
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
pub(crate) struct AttachAgent {
    agent_type: String,
    configuration: Option<Value>,
}

/// `POST …/agents`: attaches an agent available to the caller (re-activates it if attached).
#[utoipa::path(post, path = "/api/conversations/{id}/agents", params(("id" = Uuid, Path, description = "Conversation id")), request_body = AttachAgent,
    summary = "Attaches an agent available to the caller",
    responses((status = 200, body = Object), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn attach_agent(
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
pub(crate) async fn detach_agent(
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
