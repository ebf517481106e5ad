//! `GET /api/admin/dashboard`: an admin's organization composed live, a super_admin's view of
//! every organization read from the scheduled snapshot (`thanotopolis_dashboard::snapshot`).

use crate::scope;
use axum::extract::State;
use serde_json::Value;
use thanotopolis_dashboard::snapshot;
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiResult, AppState, Json};
use thanotopolis_tenant_auth::{policy, tenants, Caller};

/// `GET /api/admin/dashboard`.
#[utoipa::path(get, path = "/api/admin/dashboard", summary = "Figures of the caller's scope (admin: its organization, live; super_admin: all, as of the last scheduled snapshot)",
    responses((status = 200, body = Object), (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn dashboard(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    policy::require_admin(&caller)?;
    if policy::sees_all_tenants(&caller) {
        if let Some(snapshot) = snapshot::current(state.stores.main.as_ref()).await? {
            return Ok(Json(snapshot));
        }
        // Before the first scheduled run: composed live, once per view, until a snapshot exists.
        let all = tenants::all(state.stores.main.as_ref()).await?;
        return Ok(Json(snapshot::compose(&state, &all, true).await?));
    }
    let mine = scope::tenants(&state, &caller, None).await?;
    Ok(Json(snapshot::compose(&state, &mine, false).await?))
}
