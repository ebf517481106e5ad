//! The members page: list an organization's users, change their role or status, deactivate.

use crate::org_scope;
use axum::extract::State;
use serde_json::{json, Value};
use thanotopolis_conversations::presence;
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::Path;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json};
use thanotopolis_tenant_auth::accounts;
use thanotopolis_tenant_auth::{policy, Caller, TenantScope, UserRecord};
use uuid::Uuid;

async fn member(state: &AppState, scope: &TenantScope, id: Uuid) -> ApiResult<UserRecord> {
    accounts::load(state.stores.main.as_ref(), scope, id)
        .await?
        .ok_or_else(|| ApiError::not_found("User not found in this organization"))
}

/// `GET /api/organizations/{org_id}/users`: every member, inactive ones included.
#[utoipa::path(get, path = "/api/organizations/{org_id}/users", summary = "The organization's members, inactive ones included (org_admin+)",
    params(("org_id" = Uuid, Path)),
    responses((status = 200, description = "The members", body = [thanotopolis_tenant_auth::records::UserResponse]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let scope = org_scope(&caller, org_id)?;
    policy::require_org_admin(&caller)?;
    let users = accounts::list(state.stores.main.as_ref(), &scope).await?;
    Ok(Json(Value::Array(
        users.iter().map(UserRecord::response).collect(),
    )))
}

/// `PATCH /api/organizations/{org_id}/users/{user_id}`.
#[utoipa::path(patch, path = "/api/organizations/{org_id}/users/{user_id}", summary = "Changes a member's role or status (org_admin+)",
    params(("org_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = thanotopolis_tenant_auth::accounts::UserPatch,
    responses(
        (status = 200, description = "The changed user", body = thanotopolis_tenant_auth::records::UserResponse),
        (status = 400, description = "Invalid role", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(Uuid, Uuid)>,
    Json(mut patch): Json<accounts::UserPatch>,
) -> ApiResult<Json<Value>> {
    let scope = org_scope(&caller, org_id)?;
    policy::require_org_admin(&caller)?;
    let target = member(&state, &scope, id).await?;
    // The members page sends an empty role when only the status changes.
    patch.role = patch.role.filter(|r| !r.is_empty());
    let updated =
        accounts::change_by(state.stores.main.as_ref(), &caller, &scope, &target, patch).await?;
    if !updated.is_active {
        presence::end_user_sockets(&state, scope.tenant_id(), id).await?;
    }
    Ok(Json(updated.response()))
}

/// `DELETE /api/organizations/{org_id}/users/{user_id}`: a soft delete (deactivation).
#[utoipa::path(delete, path = "/api/organizations/{org_id}/users/{user_id}", summary = "Deactivates a member (org_admin+)",
    params(("org_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 400, description = "You cannot deactivate yourself", body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<Value>> {
    let scope = org_scope(&caller, org_id)?;
    policy::require_org_admin(&caller)?;
    let target = member(&state, &scope, id).await?;
    let change = accounts::UserPatch {
        is_active: Some(false),
        ..accounts::UserPatch::default()
    };
    accounts::change_by(state.stores.main.as_ref(), &caller, &scope, &target, change).await?;
    presence::end_user_sockets(&state, scope.tenant_id(), id).await?;
    Ok(Json(json!({ "message": "User deactivated successfully" })))
}
