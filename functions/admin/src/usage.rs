//! The usage routes. Totals come from the daily aggregates (`thanotopolis_dashboard::figures`);
//! listings read the records themselves.

use crate::scope;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_dashboard::figures::{per_organization, totals, usage_stats};
use thanotopolis_dashboard::Window;
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::Query;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json, Pagination};
use thanotopolis_tenant_auth::{keys, policy, Caller};
use thanotopolis_usage::UsageRecord;

/// UsageStats of the caller's scope (every organization for a super_admin without filter).
async fn stats_for(
    state: &AppState,
    caller: &Caller,
    tenant: Option<&str>,
    window: &Window,
) -> ApiResult<Value> {
    let store = state.stores.main.as_ref();
    let everything = policy::sees_all_tenants(caller) && tenant.is_none();
    let tenants = if everything {
        Vec::new()
    } else {
        scope::tenants(state, caller, tenant).await?
    };
    Ok(usage_stats(
        window,
        &totals(store, &tenants, everything, window).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    tenant_id: Option<String>,
    user_id: Option<String>,
    period: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
}

/// `GET /api/admin/usage/stats`.
#[utoipa::path(get, path = "/api/admin/usage/stats", params(StatsQuery), summary = "Usage totals in scope for a period",
    responses((status = 200, body = Object), (status = 403, description = "Not an admin", body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<StatsQuery>,
) -> ApiResult<Json<Value>> {
    policy::require_admin(&caller)?;
    if q.user_id.is_some() {
        return Err(ApiError::Unprocessable(
            "Usage totals are kept per organization; filter records by user_id at /api/admin/usage/records".into(),
        ));
    }
    let window = Window::parse(
        q.period.as_deref(),
        q.start_date.as_deref(),
        q.end_date.as_deref(),
    )?;
    Ok(Json(
        stats_for(&state, &caller, q.tenant_id.as_deref(), &window).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ByOrgQuery {
    period: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
}

/// `GET /api/admin/usage/by-organization`.
#[utoipa::path(get, path = "/api/admin/usage/by-organization", params(ByOrgQuery), summary = "Usage totals per organization",
    responses((status = 200, body = Object), (status = 403, description = "Not an admin", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn by_organization(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ByOrgQuery>,
) -> ApiResult<Json<Value>> {
    policy::require_admin(&caller)?;
    let window = Window::parse(
        q.period.as_deref(),
        q.start_date.as_deref(),
        q.end_date.as_deref(),
    )?;
    let tenants = scope::tenants(&state, &caller, None).await?;
    let (start, end) = window.bounds();
    Ok(Json(json!({
        "period": window.period, "start_date": start, "end_date": end,
        "organizations": per_organization(state.stores.main.as_ref(), &tenants, &window).await?,
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordsQuery {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 10000)]
    page: Option<usize>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<usize>,
    tenant_id: Option<String>,
    user_id: Option<String>,
    usage_type: Option<String>,
    service_provider: Option<String>,
    period: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
}

/// `GET /api/admin/usage/records`: newest first, paginated (§1.5). It reads the records of the
/// window, so its cost grows with them (the totals above do not).
#[utoipa::path(get, path = "/api/admin/usage/records", params(RecordsQuery), summary = "Usage records in scope, newest first, paginated",
    responses((status = 200, body = Object), (status = 403, description = "Not an admin", body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn records(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RecordsQuery>,
) -> ApiResult<Json<Value>> {
    policy::require_admin(&caller)?;
    let pages = Pagination::new(q.page, q.page_size)?;
    let window = Window::parse(
        q.period.as_deref(),
        q.start_date.as_deref(),
        q.end_date.as_deref(),
    )?;
    let (start, end) = window.bounds();
    let store = state.stores.main.as_ref();
    let tenants = scope::tenants(&state, &caller, q.tenant_id.as_deref()).await?;
    let items = scope::each(&tenants, |scope| {
        let query = keys::lookup::tenant_usage(&scope).between(start.clone(), format!("{end}~"));
        async move { Ok(thanotopolis_store::query_all(store, &query).await?) }
    })
    .await?;
    let mut records: Vec<UsageRecord> = thanotopolis_store::readable(items.concat());
    let matches = |value: Option<String>, want: &Option<String>| {
        want.as_ref()
            .is_none_or(|w| value.as_deref() == Some(w.as_str()))
    };
    records.retain(|r| {
        matches(r.user_id.map(|u| u.to_string()), &q.user_id)
            && matches(Some(r.usage_type.clone()), &q.usage_type)
            && matches(Some(r.service_provider.clone()), &q.service_provider)
    });
    records.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    Ok(Json(pages.respond(&records, UsageRecord::response)))
}
