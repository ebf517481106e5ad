//! The `organizations` function (contract §5): register an organization with its first
//! org_admin, read and edit the caller's organization, and manage its members. Another
//! tenant's ids read as absent (404) unless the caller is a super_admin; ids are resolved
//! before role checks, so that holds whoever asks.

mod members;
mod register;

use axum::extract::State;
use axum::routing::{get, patch, post};
use axum::Router;
use serde_json::{Map, Value};
use thanotopolis_service::openapi::{self, ErrorBody};
use thanotopolis_service::{ApiError, ApiResult, AppState, Json};
use thanotopolis_service::{Path, Query};
use thanotopolis_store::{Condition, Update, Write};
use thanotopolis_tenant_auth::validate::{Validator, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use thanotopolis_tenant_auth::{audit, keys, policy, tenants, Caller, TenantRecord, TenantScope};
use uuid::Uuid;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        register::register,
        current,
        patch_current,
        regenerate_access_code,
        usage,
        audit_current,
        audit_by_id,
        by_id,
        patch_by_id,
        members::list,
        members::update,
        members::deactivate,
    ))]
    struct Doc;
    openapi::part(<Doc as utoipa::OpenApi>::openapi(), "organizations", &[])
}

/// The edit body is read key by key (absent keys stay, `null` clears a nullable field, unknown
/// keys are ignored), so it is documented by description and example.
const PATCH_BODY: &str = "Any of `name`, `description`, `full_name`, `phone`, `address` (object), \
    `organization_email`, and `is_active` (super_admin only)";

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/organizations/register", post(register::register))
        .route(
            "/api/organizations/current",
            get(current).patch(patch_current),
        )
        .route(
            "/api/organizations/current/regenerate-access-code",
            post(regenerate_access_code),
        )
        .route("/api/organizations/current/usage", get(usage))
        .route("/api/organizations/current/audit", get(audit_current))
        .route("/api/organizations/{org_id}/audit", get(audit_by_id))
        .route("/api/organizations/{org_id}", get(by_id).patch(patch_by_id))
        .route("/api/organizations/{org_id}/users", get(members::list))
        .route(
            "/api/organizations/{org_id}/users/{user_id}",
            patch(members::update).delete(members::deactivate),
        )
        .with_state(state)
}

/// The scope of the organization in the path, if the caller may see it; else 404.
fn org_scope(caller: &Caller, id: Uuid) -> ApiResult<TenantScope> {
    caller
        .scope_for(id)
        .ok_or_else(|| ApiError::not_found("Organization not found"))
}

async fn load(state: &AppState, scope: &TenantScope) -> ApiResult<TenantRecord> {
    tenants::load(state.stores.main.as_ref(), scope)
        .await?
        .ok_or_else(|| ApiError::not_found("Organization not found"))
}

/// `GET /api/organizations/current`: no extra read, the extractor already has it.
#[utoipa::path(get, path = "/api/organizations/current", summary = "The caller's organization",
    responses((status = 200, description = "The organization", body = thanotopolis_tenant_auth::records::OrganizationResponse), (status = 401, body = ErrorBody)))]
async fn current(caller: Caller) -> Json<Value> {
    Json(caller.tenant().response())
}

/// `GET /api/organizations/current/usage` (org_admin+): the organization's AI budget for the
/// month, what is used (from the month's aggregate, one batch get) and what is left.
#[utoipa::path(get, path = "/api/organizations/current/usage", summary = "This month's agent use against the organization's AI budget (org_admin+)",
    responses((status = 200, body = thanotopolis_usage::limits::BudgetStatus), (status = 403, body = ErrorBody)))]
async fn usage(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<thanotopolis_usage::limits::BudgetStatus>> {
    policy::require_org_admin(&caller)?;
    let store = state.stores.main.as_ref();
    Ok(Json(
        thanotopolis_usage::limits::status(store, &caller.scope(), caller.tenant()).await?,
    ))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only entries of this action (`user.role_changed`, `auth.login_failed`, …).
    action: Option<String>,
    /// Only entries by this user.
    actor_id: Option<Uuid>,
    /// Page size, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// The `X-Next-Cursor` of the previous page.
    cursor: Option<String>,
}

/// One page of an organization's audit trail, newest first (org_admin+ of it, or super_admin).
async fn audit_page(
    state: &AppState,
    caller: &Caller,
    scope: &TenantScope,
    q: AuditQuery,
) -> ApiResult<impl axum::response::IntoResponse> {
    policy::require_org_admin(caller)?;
    let limit = thanotopolis_service::query_number(q.limit.as_deref(), "limit", 1, 200)?;
    let filter = audit::Filter {
        action: q.action,
        actor_id: q.actor_id,
    };
    let (entries, next) = audit::list(
        state.stores.main.as_ref(),
        scope,
        &filter,
        limit.unwrap_or(50),
        q.cursor,
    )
    .await?;
    let mut headers = axum::http::HeaderMap::new();
    if let Some(c) = next.and_then(|c| c.parse().ok()) {
        headers.insert("x-next-cursor", c);
    }
    Ok((headers, Json(entries)))
}

#[utoipa::path(get, path = "/api/organizations/current/audit", params(AuditQuery),
    summary = "The organization's audit trail, newest first (org_admin+)",
    responses(
        (status = 200, description = "A page of entries; `X-Next-Cursor` when more follow", body = [thanotopolis_tenant_auth::audit::Entry],
            headers(("X-Next-Cursor" = String, description = "Pass as `cursor` for the next page"))),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
async fn audit_current(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<impl axum::response::IntoResponse> {
    let scope = caller.scope();
    audit_page(&state, &caller, &scope, q).await
}

#[utoipa::path(get, path = "/api/organizations/{org_id}/audit", params(("org_id" = Uuid, Path), AuditQuery),
    summary = "An organization's audit trail, newest first (org_admin+ of it, or super_admin)",
    responses(
        (status = 200, description = "A page of entries; `X-Next-Cursor` when more follow", body = [thanotopolis_tenant_auth::audit::Entry],
            headers(("X-Next-Cursor" = String, description = "Pass as `cursor` for the next page"))),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
async fn audit_by_id(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<Uuid>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<impl axum::response::IntoResponse> {
    let scope = org_scope(&caller, org_id)?;
    audit_page(&state, &caller, &scope, q).await
}

#[utoipa::path(get, path = "/api/organizations/{org_id}", summary = "An organization (the caller's; any for super_admin)",
    params(("org_id" = Uuid, Path)),
    responses((status = 200, description = "The organization", body = thanotopolis_tenant_auth::records::OrganizationResponse), (status = 404, body = ErrorBody)))]
async fn by_id(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let scope = org_scope(&caller, org_id)?;
    Ok(Json(load(&state, &scope).await?.response()))
}

#[utoipa::path(patch, path = "/api/organizations/current", summary = "Edits the caller's organization (org_admin+)",
    request_body(content = Object, description = PATCH_BODY,
        example = json!({"name": "Acme Memorial", "phone": null})),
    responses(
        (status = 200, description = "The organization", body = thanotopolis_tenant_auth::records::OrganizationResponse),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn patch_current(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    policy::require_org_admin(&caller)?;
    apply_patch(&state, &caller, &caller.scope(), body).await
}

#[utoipa::path(patch, path = "/api/organizations/{org_id}", summary = "Edits an organization (org_admin+ of it, or super_admin)",
    params(("org_id" = Uuid, Path)),
    request_body(content = Object, description = PATCH_BODY,
        example = json!({"name": "Acme Memorial", "phone": null})),
    responses(
        (status = 200, description = "The organization", body = thanotopolis_tenant_auth::records::OrganizationResponse),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn patch_by_id(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<Uuid>,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let scope = org_scope(&caller, org_id)?;
    policy::require_org_admin(&caller)?;
    apply_patch(&state, &caller, &scope, body).await
}

/// Applies the keys present in `body` (explicit `null` clears a nullable field; unknown keys,
/// such as the edit page's `contact_*`, are ignored).
async fn apply_patch(
    state: &AppState,
    caller: &Caller,
    scope: &TenantScope,
    body: Map<String, Value>,
) -> ApiResult<Json<Value>> {
    let mut v = Validator::new();
    let mut update = Update::new().set("updated_at", thanotopolis_tenant_auth::now_rfc3339());
    let nullable_text = |v: &mut Validator, field: &str, max: usize| -> Option<Value> {
        match body.get(field)? {
            Value::Null => Some(Value::Null),
            Value::String(s) => v
                .optional_text(field, Some(s), max)
                .map(|t| t.map_or(Value::Null, Value::String)),
            _ => {
                v.reject(field, "Input should be a valid string");
                None
            }
        }
    };
    match body.get("name") {
        None => {}
        Some(Value::String(raw)) => {
            if let Some(name) = v.text("name", raw, MAX_SHORT_TEXT) {
                update = update.set("name", name);
            }
        }
        Some(_) => v.reject("name", "Input should be a valid string"),
    }
    for (field, max) in [
        ("description", MAX_LONG_TEXT),
        ("full_name", MAX_SHORT_TEXT),
        ("phone", MAX_SHORT_TEXT),
    ] {
        if let Some(value) = nullable_text(&mut v, field, max) {
            update = update.set(field, value);
        }
    }
    if body.contains_key("address") {
        if let Some(address) = v.optional_object("address", body.get("address")) {
            update = update.set("address", address.unwrap_or(Value::Null));
        }
    }
    match body.get("organization_email") {
        None => {}
        Some(Value::Null) => update = update.set("organization_email", Value::Null),
        Some(Value::String(raw)) => {
            if let Some(email) = v.email("organization_email", raw) {
                update = update.set("organization_email", email.as_str());
            }
        }
        Some(_) => v.reject("organization_email", "Input should be a valid string"),
    }
    match body.get("is_active") {
        None => {}
        Some(Value::Bool(active)) => {
            // Deactivating an organization locks out all its members, its admins included:
            // only a super_admin may do (and undo) it.
            policy::require_super_admin(
                caller,
                "Only super admins can activate or deactivate an organization",
            )?;
            update = update.set("is_active", *active);
        }
        Some(_) => v.reject("is_active", "Input should be a valid boolean"),
    }
    v.finish()?;
    let store = state.stores.main.as_ref();
    let before = if scope.tenant_id() == caller.scope().tenant_id() {
        caller.tenant().clone()
    } else {
        load(state, scope).await?
    };
    let shown = serde_json::to_value(&before).unwrap_or_default();
    let mut changes = Map::new();
    for (field, after) in &update.set {
        if field != "updated_at" && shown.get(field.as_str()) != Some(after) {
            let was = shown.get(field.as_str()).cloned().unwrap_or(Value::Null);
            changes.insert(field.clone(), audit::change(was, after));
        }
    }
    let entry = audit::Entry::by(
        caller,
        scope,
        "organization.updated",
        audit::Target::new("organization", scope.tenant_id(), Some(&before.name)),
        Value::Object(changes),
    );
    let change = Write::Update {
        key: keys::tenant(scope),
        update,
        condition: Some(Condition::Exists),
    };
    if !entry.commit(store, scope, change).await? {
        return Err(ApiError::not_found("Organization not found"));
    }
    Ok(Json(load(state, scope).await?.response()))
}

/// A new access code; the old one stops working at once.
#[utoipa::path(post, path = "/api/organizations/current/regenerate-access-code",
    responses(
        (status = 200, description = "The organization with its new access code", body = thanotopolis_tenant_auth::records::OrganizationResponse),
        (status = 403, body = ErrorBody),
    ))]
async fn regenerate_access_code(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    policy::require_org_admin(&caller)?;
    let tenant =
        tenants::regenerate_access_code(state.stores.main.as_ref(), &caller, &caller.scope())
            .await?;
    Ok(Json(tenant.response()))
}
