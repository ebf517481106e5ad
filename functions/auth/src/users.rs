//! `/api/users`: user administration within the caller's own tenant (contract §4). Ids of
//! other tenants' users read as absent: the id is resolved in the caller's tenant before any
//! role check, so a foreign id is a 404 whoever asks.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_conversations::presence;
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json};
use thanotopolis_service::{Path, Query};
use thanotopolis_tenant_auth::accounts;
use thanotopolis_tenant_auth::{policy, Caller, UserRecord};
use uuid::Uuid;

async fn target(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<UserRecord> {
    accounts::load(state.stores.main.as_ref(), &caller.scope(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("User not found"))
}

/// The users of the caller's organization (admin+).
#[utoipa::path(get, path = "/api/users", responses(
    (status = 200, description = "The users", body = [thanotopolis_tenant_auth::records::UserResponse]),
    (status = 403, body = ErrorBody),
))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    policy::require_admin(&caller)?;
    let users = accounts::list(state.stores.main.as_ref(), &caller.scope()).await?;
    Ok(Json(Value::Array(
        users.iter().map(UserRecord::response).collect(),
    )))
}

/// One user of the caller's organization: the caller themselves, or anyone as admin+.
#[utoipa::path(get, path = "/api/users/{user_id}", params(("user_id" = Uuid, Path)), responses(
    (status = 200, description = "The user", body = thanotopolis_tenant_auth::records::UserResponse),
    (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let user = target(&state, &caller, id).await?;
    if id != caller.user_id() && !policy::may_read_other_users(&caller) {
        return Err(ApiError::forbidden("Not authorized"));
    }
    Ok(Json(user.response()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoleQuery {
    /// The new role: `user` (or `member`), `org_admin`, `admin` or `super_admin`.
    role: String,
}

/// `PUT`/`PATCH /api/users/{id}/role?role=…`.
#[utoipa::path(method(put, patch), path = "/api/users/{user_id}/role", params(("user_id" = Uuid, Path), RoleQuery),
    summary = "Changes a user's role",
    responses(
        (status = 200, description = "The changed user", body = thanotopolis_tenant_auth::records::UserResponse),
        (status = 400, description = "Invalid role", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(query): Query<RoleQuery>,
) -> ApiResult<Json<Value>> {
    let user = target(&state, &caller, id).await?;
    policy::require_admin(&caller)?;
    let change = accounts::UserPatch {
        role: Some(query.role),
        ..accounts::UserPatch::default()
    };
    let store = state.stores.main.as_ref();
    let updated = accounts::change_by(store, &caller, &caller.scope(), &user, change).await?;
    Ok(Json(updated.response()))
}

/// `DELETE /api/users/{id}`: a hard delete (with its uniqueness claims).
#[utoipa::path(delete, path = "/api/users/{user_id}", params(("user_id" = Uuid, Path)),
    summary = "Deletes a user",
    responses(
        (status = 200, body = Object),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let user = target(&state, &caller, id).await?;
    policy::require_admin(&caller)?;
    if id == caller.user_id() {
        return Err(ApiError::bad_request("Cannot delete your own account"));
    }
    if !policy::may_touch(&caller, user.role) {
        return Err(ApiError::forbidden("Cannot delete super admin"));
    }
    policy::check_manage_user(&caller, id, user.role, "Cannot delete your own account")?;
    accounts::delete(state.stores.main.as_ref(), &caller, &caller.scope(), &user).await?;
    presence::end_user_sockets(&state, caller.scope().tenant_id(), id).await?;
    Ok(Json(json!({ "detail": "User deleted successfully" })))
}
