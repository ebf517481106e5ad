//! `/api/admin/users`: users of the organizations in scope, and changes to them under the same
//! rules as everywhere (policy module): only a super_admin grants or touches super_admin.

use crate::scope;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use thanotopolis_conversations::presence;
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json, Pagination};
use thanotopolis_service::{Path, Query};
use thanotopolis_tenant_auth::accounts;
use thanotopolis_tenant_auth::operator::{self, UserRef};
use thanotopolis_tenant_auth::{policy, Caller, Role, UserRecord};
use uuid::Uuid;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 10000)]
    page: Option<usize>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<usize>,
    tenant_id: Option<String>,
    role: Option<String>,
    is_active: Option<bool>,
}

/// `GET /api/admin/users`: newest first, paginated (§1.5).
#[utoipa::path(get, path = "/api/admin/users", params(ListQuery), summary = "Users in scope, newest first, paginated",
    responses((status = 200, body = Object), (status = 403, description = "Not an admin", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    policy::require_admin(&caller)?;
    let pages = Pagination::new(q.page, q.page_size)?;
    let role = q
        .role
        .as_deref()
        .map(|r| Role::parse(r).ok_or_else(|| ApiError::bad_request("Invalid role")))
        .transpose()?;
    let tenants = scope::tenants(&state, &caller, q.tenant_id.as_deref()).await?;
    let store = state.stores.main.as_ref();
    let mut users: Vec<UserRecord> = scope::each(&tenants, |scope| async move {
        Ok(accounts::list(store, &scope).await?)
    })
    .await?
    .concat();
    users.retain(|u| {
        role.is_none_or(|r| u.role == r) && q.is_active.is_none_or(|a| u.is_active == a)
    });
    users.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    Ok(Json(pages.respond(&users, UserRecord::response)))
}

/// `PATCH /api/admin/users/{id}`.
#[utoipa::path(patch, path = "/api/admin/users/{user_id}", params(("user_id" = Uuid, Path)),
    request_body = thanotopolis_tenant_auth::accounts::UserPatch, summary = "Changes a user's role or status",
    responses((status = 200, description = "The changed user", body = thanotopolis_tenant_auth::records::UserResponse), (status = 400, body = ErrorBody), (status = 403, description = "Not an admin", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(patch): Json<accounts::UserPatch>,
) -> ApiResult<Json<Value>> {
    policy::require_admin(&caller)?;
    if patch.role.is_some() && id == caller.user_id() {
        return Err(ApiError::forbidden("You cannot change your own role"));
    }
    let store = state.stores.main.as_ref();
    let not_found = || ApiError::not_found("User not found");
    let (scope, target) = if policy::sees_all_tenants(&caller) {
        let (found_scope, user) = operator::find_user(store, &UserRef::Id(id))
            .await
            .map_err(|_| not_found())?;
        (
            caller
                .scope_for(found_scope.tenant_id())
                .ok_or_else(not_found)?,
            user,
        )
    } else {
        let user = accounts::load(store, &caller.scope(), id)
            .await?
            .ok_or_else(not_found)?;
        (caller.scope(), user)
    };
    let updated = accounts::change_by(store, &caller, &scope, &target, patch).await?;
    if !updated.is_active {
        presence::end_user_sockets(&state, scope.tenant_id(), id).await?;
    }
    Ok(Json(updated.response()))
}
