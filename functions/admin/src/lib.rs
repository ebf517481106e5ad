//! The admin API (contract §11, decisions D8, D15, D16). Every figure is read from real
//! data: user and conversation totals from the counters kept by the transactions that create
//! and delete them, open sockets from live connection rows, usage from the daily aggregates.
//! A figure that means nothing here (a database pool in a serverless system) is `null`;
//! system metrics are what was reported through `POST /api/admin/system/metrics`.
//! Scope: an `admin` sees its own organization, a `super_admin` every organization.

mod dashboard;
mod metrics;
mod scope;
mod usage;
mod users;

use axum::extract::State;
use axum::routing::{get, patch};
use axum::Router;
use serde_json::{json, Value};
use thanotopolis_conversations::presence;
use thanotopolis_service::openapi::{self, ErrorBody};
use thanotopolis_service::{ApiError, ApiResult, AppState, Json, Path};
use thanotopolis_tenant_auth::records::AiBudget;
use thanotopolis_tenant_auth::{policy, tenants, Caller, TenantRecord};
use uuid::Uuid;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        dashboard::dashboard,
        users::list,
        users::update,
        usage::stats,
        usage::records,
        usage::by_organization,
        tenants,
        patch_tenant,
        websocket_stats,
        metrics::list,
        metrics::record,
    ))]
    struct Doc;
    openapi::part(<Doc as utoipa::OpenApi>::openapi(), "admin", &[])
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/admin/dashboard", get(dashboard::dashboard))
        .route("/api/admin/users", get(users::list))
        .route("/api/admin/users/{user_id}", patch(users::update))
        .route("/api/admin/usage/stats", get(usage::stats))
        .route("/api/admin/usage/records", get(usage::records))
        .route(
            "/api/admin/usage/by-organization",
            get(usage::by_organization),
        )
        .route("/api/admin/tenants", get(tenants))
        .route("/api/admin/tenants/{tenant_id}", patch(patch_tenant))
        .route("/api/admin/websocket/stats", get(websocket_stats))
        .route(
            "/api/admin/system/metrics",
            get(metrics::list).post(metrics::record),
        )
        .with_state(state)
}

/// An organization as the super_admin's list shows it.
fn tenant_entry(t: &TenantRecord) -> Value {
    json!({
        "id": t.id, "name": t.name, "subdomain": t.subdomain, "is_active": t.is_active,
        "created_at": t.created_at, "access_code": t.access_code, "ai_budget": t.ai_budget,
    })
}

/// `GET /api/admin/tenants`: super_admin only.
#[utoipa::path(get, path = "/api/admin/tenants", summary = "Every organization (super_admin)",
    responses((status = 200, body = [Object]), (status = 403, description = "Not an admin", body = ErrorBody)))]
async fn tenants(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    policy::require_super_admin(&caller, "Super admin access required")?;
    let mut tenants = scope::tenants(&state, &caller, None).await?;
    tenants.sort_by(|a, b| b.1.created_at.cmp(&a.1.created_at));
    Ok(Json(Value::Array(
        tenants.iter().map(|(_, t)| tenant_entry(t)).collect(),
    )))
}

/// `PATCH /api/admin/tenants/{id}`: sets an organization's monthly AI budget (super_admin).
/// `ai_budget` is required: an object sets it, `null` removes it (unlimited).
#[utoipa::path(patch, path = "/api/admin/tenants/{tenant_id}", params(("tenant_id" = Uuid, Path)),
    summary = "Sets an organization's monthly AI budget (super_admin)",
    request_body(content = Object, description = "`ai_budget`: `{monthly_tokens, monthly_cost_cents}` (each a whole number or null), or null for no budget",
        example = json!({"ai_budget": {"monthly_tokens": 2_000_000, "monthly_cost_cents": 5000}})),
    responses((status = 200, description = "The organization", body = Object), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn patch_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant_id): Path<Uuid>,
    Json(mut body): Json<serde_json::Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    policy::require_super_admin(&caller, "Super admin access required")?;
    let raw = body
        .remove("ai_budget")
        .ok_or_else(|| ApiError::invalid(&["body", "ai_budget"], "Field required"))?;
    if let Some(other) = body.keys().next() {
        return Err(ApiError::invalid(&["body", other], "Unknown field"));
    }
    let budget: Option<AiBudget> = serde_json::from_value(raw).map_err(|e| {
        ApiError::invalid(
            &["body", "ai_budget"],
            format!("Expected monthly_tokens and/or monthly_cost_cents as whole numbers: {e}"),
        )
    })?;
    if let Some(b) = budget {
        for (name, limit) in [
            ("monthly_tokens", b.monthly_tokens),
            ("monthly_cost_cents", b.monthly_cost_cents),
        ] {
            if limit.is_some_and(|l| l > AiBudget::MAX) {
                return Err(ApiError::invalid(
                    &["body", "ai_budget", name],
                    format!("At most {}; null for no limit", AiBudget::MAX),
                ));
            }
        }
    }
    let scope = caller
        .scope_for(tenant_id)
        .ok_or_else(|| ApiError::not_found("Organization not found"))?;
    let tenant = tenants::set_ai_budget(state.stores.main.as_ref(), Some(&caller), &scope, budget)
        .await?
        .ok_or_else(|| ApiError::not_found("Organization not found"))?;
    Ok(Json(tenant_entry(&tenant)))
}

/// `GET /api/admin/websocket/stats`: open sockets in scope, from live connection rows.
#[utoipa::path(get, path = "/api/admin/websocket/stats", summary = "Open sockets in scope, from live connection rows",
    responses((status = 200, body = Object), (status = 403, description = "Not an admin", body = ErrorBody)))]
async fn websocket_stats(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    policy::require_admin(&caller)?;
    let (mut total, mut users, mut by_conversation) = (0, 0, serde_json::Map::new());
    let tenants = scope::tenants(&state, &caller, None).await?;
    let presences = scope::each(&tenants, |scope| {
        let state = &state;
        async move { Ok(presence::in_tenant(state, scope.tenant_id()).await?) }
    })
    .await?;
    for p in presences {
        total += p.total_connections;
        users += p.total_users;
        for (id, n) in p.by_conversation {
            by_conversation.insert(id.to_string(), n.into());
        }
    }
    Ok(Json(json!({
        "connection_manager": {
            "total_connections": total,
            "total_conversations": by_conversation.len(),
            "total_users": users,
        },
        "global_connections": {
            "total": total,
            "conversations": by_conversation.len(),
            "by_conversation": by_conversation,
        },
        "timestamp": thanotopolis_tenant_auth::now_rfc3339(),
    })))
}
