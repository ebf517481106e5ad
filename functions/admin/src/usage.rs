//! Usage figures. Totals come from the daily aggregates (cost independent of the number of
//! records); listings read the records themselves.

use crate::scope;
use crate::window::Window;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::Query;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json, Pagination};
use thanotopolis_store::Item;
use thanotopolis_tenant_auth::{keys, policy, Caller, TenantRecord, TenantScope};
use thanotopolis_usage::{global_totals, tenant_totals, UsageRecord, UsageTotals};

fn usage_stats(window: &Window, t: &UsageTotals) -> Value {
    let (start, end) = window.bounds();
    json!({
        "period": window.period,
        "start_date": start,
        "end_date": end,
        "total_tokens": t.total_tokens,
        "total_tts_words": t.total_tts_words,
        "total_stt_words": t.total_stt_words,
        "total_stt_seconds": t.total_stt_seconds,
        "total_cost_cents": t.total_cost_cents,
        // Uses whose amount the provider did not report: not in the totals, never counted as 0.
        "uses_with_unknown_amount": t.unknown_amount_count,
        // Aggregates are kept per organization and type, not per user.
        "breakdown_by_user": Value::Null,
        // When the figures were true: now for organizations' live totals; for all
        // organizations, the last rollup (null before the first: zeros, not a measurement).
        "as_of": t.rolled_up_at,
        "breakdown_by_service": t.breakdown_by_service,
    })
}

/// UsageStats of the caller's scope (every organization for a super_admin without filter).
pub async fn stats_for(
    state: &AppState,
    caller: &Caller,
    tenant: Option<&str>,
    window: &Window,
) -> ApiResult<Value> {
    let store = state.stores.main.as_ref();
    let (first, last) = window.days();
    let totals = if policy::sees_all_tenants(caller) && tenant.is_none() {
        global_totals(store, &first, &last).await?
    } else {
        let mut sum = UsageTotals {
            rolled_up_at: Some(thanotopolis_tenant_auth::now_rfc3339()),
            ..UsageTotals::default()
        };
        for (scope, _) in scope::tenants(state, caller, tenant).await? {
            sum.merge(tenant_totals(store, &scope, &first, &last).await?);
        }
        sum
    };
    Ok(usage_stats(window, &totals))
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

/// OrgUsage for each organization, ordered by name.
pub async fn per_organization(
    state: &AppState,
    tenants: &[(TenantScope, TenantRecord)],
    window: &Window,
) -> ApiResult<Vec<Value>> {
    let (first, last) = window.days();
    let mut rows = Vec::new();
    for (scope, t) in tenants {
        let u = tenant_totals(state.stores.main.as_ref(), scope, &first, &last).await?;
        rows.push(json!({
            "tenant_id": t.id, "tenant_name": t.name, "subdomain": t.subdomain,
            "total_tokens": u.total_tokens, "total_tts_words": u.total_tts_words,
            "total_stt_words": u.total_stt_words, "total_cost_cents": u.total_cost_cents,
            "record_count": u.record_count, "uses_with_unknown_amount": u.unknown_amount_count,
        }));
    }
    rows.sort_by(|a, b| a["tenant_name"].as_str().cmp(&b["tenant_name"].as_str()));
    Ok(rows)
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
        "organizations": per_organization(&state, &tenants, &window).await?,
    })))
}

/// The newest `n` records in scope: the newest `n` of each organization, merged (there is no
/// index across organizations: its partitions would be written by every tenant's every use).
pub async fn recent(
    state: &AppState,
    tenants: &[(TenantScope, TenantRecord)],
    n: usize,
) -> ApiResult<Vec<Value>> {
    let store = state.stores.main.as_ref();
    let mut items: Vec<Item> = Vec::new();
    for (scope, _) in tenants {
        let q = keys::lookup::tenant_usage(scope).backward().limit(n as u32);
        items.extend(store.query(&q).await?.items);
    }
    let mut records: Vec<UsageRecord> = thanotopolis_store::readable(items);
    records.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    records.truncate(n);
    Ok(records.iter().map(UsageRecord::response).collect())
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
    let mut items = Vec::new();
    for (scope, _) in scope::tenants(&state, &caller, q.tenant_id.as_deref()).await? {
        let query = keys::lookup::tenant_usage(&scope).between(start.clone(), format!("{end}~"));
        items.extend(thanotopolis_store::query_all(store, &query).await?);
    }
    let mut records: Vec<UsageRecord> = thanotopolis_store::readable(items);
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
