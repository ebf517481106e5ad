//! Creating, changing and deactivating agents: an organization's own, or (super_admin) free ones.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_agents::{self as agents, AgentError, AgentRecord};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::Path;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json};
use thanotopolis_store::Write;
use thanotopolis_tenant_auth::records::Record;
use thanotopolis_tenant_auth::validate::{Validator, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use thanotopolis_tenant_auth::{audit, policy, Caller};
use uuid::Uuid;

use crate::MAX_SYSTEM_PROMPT;

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct CreateAgent {
    agent_type: String,
    name: String,
    description: Option<String>,
    #[serde(default)]
    is_free_agent: bool,
    configuration_template: Option<Value>,
    capabilities: Option<Vec<String>>,
    system_prompt: Option<String>,
}

fn check_capabilities(v: &mut Validator, caps: &[String]) {
    if caps.len() > 32 || caps.iter().any(|c| c.is_empty() || c.len() > 64) {
        v.reject("capabilities", "At most 32 capabilities of 1-64 characters");
    }
}

/// Creates an agent: proprietary to the caller's organization (org_admin+) or free (super_admin).
#[utoipa::path(post, path = "/api/agents", request_body = CreateAgent, responses(
    (status = 200, description = "The new agent", body = thanotopolis_agents::AgentResponse),
    (status = 400, description = "Agent type already exists", body = ErrorBody),
    (status = 403, body = ErrorBody),
    (status = 422, body = ErrorBody),
))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateAgent>,
) -> ApiResult<Json<Value>> {
    policy::require_org_admin(&caller)?;
    if body.is_free_agent && !policy::may_manage_free_agents(&caller) {
        return Err(ApiError::forbidden(
            "Only super admins can create free agents",
        ));
    }
    let mut v = Validator::new();
    let agent_type = body.agent_type.trim().to_string();
    if !agents::valid_agent_type(&agent_type) {
        v.reject(
            "agent_type",
            "Use 2-64 upper-case letters, digits and '_', starting with a letter",
        );
    }
    let name = v.text("name", &body.name, MAX_SHORT_TEXT);
    let description = v.optional_text("description", body.description.as_deref(), MAX_LONG_TEXT);
    let template = v.optional_object(
        "configuration_template",
        body.configuration_template.as_ref(),
    );
    let capabilities = body.capabilities.unwrap_or_default();
    check_capabilities(&mut v, &capabilities);
    let prompt = v.optional_text(
        "system_prompt",
        body.system_prompt.as_deref(),
        MAX_SYSTEM_PROMPT,
    );
    v.finish()?;
    let (Some(name), Some(description), Some(template), Some(prompt)) =
        (name, description, template, prompt)
    else {
        unreachable!("Validator::finish fails when any field is invalid")
    };
    let agent = AgentRecord {
        id: uuid::Uuid::new_v4(),
        system_prompt: prompt
            .unwrap_or_else(|| agents::default_prompt(&name, description.as_deref())),
        agent_type: agent_type.clone(),
        name,
        description,
        is_free_agent: body.is_free_agent,
        owner_tenant_id: (!body.is_free_agent).then(|| caller.scope().tenant_id()),
        owner_domain: None,
        is_enabled: true,
        configuration_template: template.unwrap_or_else(|| json!({})),
        capabilities,
        is_active: true,
        created_at: thanotopolis_tenant_auth::now_rfc3339(),
        updated_at: None,
        // Tools need instructions written for them; organizations' own agents have none yet.
        tools: Vec::new(),
    };
    let home = agent
        .home(&caller)
        .expect("the creator may write its own agent");
    let scope = caller.scope();
    let entry = audit::Entry::by(
        &caller,
        &scope,
        "agent.created",
        target(&agent),
        json!({ "is_free_agent": agent.is_free_agent, "name": audit::change(Value::Null, &agent.name) }),
    );
    agents::create(
        state.stores.main.as_ref(),
        &home,
        &agent,
        Some((&scope, &entry)),
    )
    .await?;
    Ok(Json(agent.response()))
}

/// The agent the caller may change: org_admin+ of the owner for proprietary agents,
/// super_admin for free ones.
async fn editable(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    verb: &str,
) -> ApiResult<AgentRecord> {
    let agent = agents::find(state.stores.main.as_ref(), caller, id).await?;
    policy::require_org_admin(caller)?;
    if agent.is_free_agent && !policy::may_manage_free_agents(caller) {
        return Err(ApiError::forbidden(format!(
            "Only super admins can {verb} free agents"
        )));
    }
    Ok(agent)
}

/// An agent as the audit trail names it.
fn target(agent: &AgentRecord) -> audit::Target {
    audit::Target::new("agent", agent.id, Some(&agent.agent_type))
}

/// What an edit changed, for the audit trail. Prompts and templates are long: the entry says
/// that they changed, not what they say.
fn changes(before: &AgentRecord, after: &AgentRecord) -> Value {
    let mut changes = serde_json::Map::new();
    let mut field = |name: &str, was: Value, now: Value| {
        if was != now {
            changes.insert(name.into(), audit::change(was, now));
        }
    };
    field("name", json!(before.name), json!(after.name));
    field(
        "description",
        json!(before.description),
        json!(after.description),
    );
    field(
        "capabilities",
        json!(before.capabilities),
        json!(after.capabilities),
    );
    field(
        "is_enabled",
        json!(before.is_enabled),
        json!(after.is_enabled),
    );
    field("is_active", json!(before.is_active), json!(after.is_active));
    for (name, changed) in [
        ("system_prompt", before.system_prompt != after.system_prompt),
        (
            "configuration_template",
            before.configuration_template != after.configuration_template,
        ),
    ] {
        if changed {
            changes.insert(name.into(), json!("changed"));
        }
    }
    Value::Object(changes)
}

/// Stores the changed agent (built-in agents keep their stored state in the global partition)
/// with its audit entry, in the caller's organization, in one transaction.
async fn save(
    state: &AppState,
    caller: &Caller,
    before: &AgentRecord,
    agent: AgentRecord,
    action: &str,
) -> ApiResult<AgentRecord> {
    let home = agent.home(caller).ok_or(AgentError::NotFound)?;
    let scope = caller.scope();
    let entry = audit::Entry::by(
        caller,
        &scope,
        action,
        target(&agent),
        changes(before, &agent),
    );
    let change = Write::Put {
        item: agent.item(&home),
        condition: None,
    };
    entry
        .commit(state.stores.main.as_ref(), &scope, change)
        .await?;
    Ok(
        thanotopolis_store::get_record(state.stores.main.as_ref(), &agent.key(&home))
            .await?
            .ok_or(AgentError::NotFound)?,
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct UpdateAgent {
    name: Option<String>,
    description: Option<String>,
    configuration_template: Option<Value>,
    capabilities: Option<Vec<String>>,
    is_enabled: Option<bool>,
    is_active: Option<bool>,
    system_prompt: Option<String>,
}

/// Changes an agent (org_admin+ of its owner; super_admin for free agents).
#[utoipa::path(patch, path = "/api/agents/{agent_id}",
    params(("agent_id" = Uuid, Path)),
    request_body = UpdateAgent,
    responses(
        (status = 200, description = "The changed agent", body = thanotopolis_agents::AgentResponse),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateAgent>,
) -> ApiResult<Json<Value>> {
    let mut agent = editable(&state, &caller, id, "update").await?;
    let before = agent.clone();
    let mut v = Validator::new();
    if let Some(name) = body
        .name
        .as_deref()
        .and_then(|n| v.text("name", n, MAX_SHORT_TEXT))
    {
        agent.name = name;
    }
    if let Some(d) = v.optional_text("description", body.description.as_deref(), MAX_LONG_TEXT) {
        if body.description.is_some() {
            agent.description = d;
        }
    }
    if let Some(Some(t)) = v.optional_object(
        "configuration_template",
        body.configuration_template.as_ref(),
    ) {
        agent.configuration_template = t;
    }
    if let Some(caps) = body.capabilities {
        check_capabilities(&mut v, &caps);
        agent.capabilities = caps;
    }
    if let Some(Some(p)) = v.optional_text(
        "system_prompt",
        body.system_prompt.as_deref(),
        MAX_SYSTEM_PROMPT,
    ) {
        agent.system_prompt = p;
    }
    v.finish()?;
    if let Some(enabled) = body.is_enabled {
        agent.is_enabled = enabled;
    }
    if let Some(active) = body.is_active {
        agent.is_active = active;
    }
    agent.updated_at = Some(thanotopolis_tenant_auth::now_rfc3339());
    Ok(Json(
        save(&state, &caller, &before, agent, "agent.updated")
            .await?
            .response(),
    ))
}

/// A soft delete: the agent stops serving, its history stays readable.
#[utoipa::path(delete, path = "/api/agents/{agent_id}",
    params(("agent_id" = Uuid, Path)),
    responses(
        (status = 200, description = "`{\"message\": ...}`", body = Object),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub(crate) async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let mut agent = editable(&state, &caller, id, "delete").await?;
    let before = agent.clone();
    agent.is_active = false;
    agent.updated_at = Some(thanotopolis_tenant_auth::now_rfc3339());
    save(&state, &caller, &before, agent, "agent.deleted").await?;
    Ok(Json(json!({ "message": "Agent deactivated successfully" })))
}
