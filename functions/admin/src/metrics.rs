//! The system-metrics routes (`POST`, and `GET /api/admin/system/metrics`, also read by the
//! dashboard): who may report and read what. A tenant's metrics are its admins'; system-wide
//! ones (no tenant) are for super_admins. Storage is `thanotopolis_usage::metrics`.

use crate::scope;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_dashboard::figures::recent_of;
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::Query;
use thanotopolis_service::{parse_id, ApiError, ApiResult, AppState, Json};
use thanotopolis_tenant_auth::{policy, Caller};
use thanotopolis_usage::metrics;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    metric_type: Option<String>,
    /// 1 to 168 (default 24).
    #[param(minimum = 1, maximum = 168)]
    hours: Option<i64>,
}

/// `GET /api/admin/system/metrics?metric_type=&hours=` (1 to 168, default 24).
#[utoipa::path(get, path = "/api/admin/system/metrics", params(ListQuery), summary = "Recently recorded metrics in scope (hours 1 to 168, default 24)",
    responses((status = 200, body = [Object]), (status = 403, description = "Not an admin", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    policy::require_admin(&caller)?;
    let hours = q.hours.unwrap_or(24);
    if !(1..=168).contains(&hours) {
        return Err(ApiError::invalid(
            &["query", "hours"],
            "Input should be from 1 to 168",
        ));
    }
    let tenants = scope::tenants(&state, &caller, None).await?;
    Ok(Json(Value::Array(
        recent_of(
            state.stores.main.as_ref(),
            &tenants,
            policy::sees_all_tenants(&caller),
            q.metric_type.as_deref(),
            hours,
        )
        .await?,
    )))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordQuery {
    metric_type: Option<String>,
    value: Option<i64>,
    tenant_id: Option<String>,
}

/// `POST /api/admin/system/metrics?metric_type=&value=&tenant_id=`, body: `additional_data`.
/// An admin records for its organization; a super_admin for any, or system-wide without one.
#[utoipa::path(post, path = "/api/admin/system/metrics", params(RecordQuery), summary = "Records a metric",
    request_body(content = Object, description = "Optional `additional_data` object"),
    responses((status = 200, body = Object), (status = 403, description = "Not an admin", body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn record(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RecordQuery>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    policy::require_admin(&caller)?;
    let metric_type = q
        .metric_type
        .filter(|t| {
            !t.is_empty()
                && t.len() <= 64
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        })
        .ok_or_else(|| {
            ApiError::invalid(
                &["query", "metric_type"],
                "1-64 letters, digits, '_' or '.'",
            )
        })?;
    let value = q
        .value
        .ok_or_else(|| ApiError::invalid(&["query", "value"], "Field required"))?;
    let additional = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match thanotopolis_service::from_json::<Value>(&body, "body") {
            Ok(v @ Value::Object(_)) if body.len() <= 4096 => v,
            _ => {
                return Err(ApiError::invalid(
                    &["body"],
                    format!(
                        "additional_data must be a JSON object of at most 4 KB, nested at most \
                         {} levels deep",
                        thanotopolis_service::MAX_JSON_DEPTH
                    ),
                ))
            }
        }
    };
    // No tenant named: a super_admin reports a system-wide metric, anyone else their own.
    let scope = match q.tenant_id.as_deref() {
        Some(raw) => Some(
            caller
                .scope_for(parse_id("tenant_id", raw)?)
                .ok_or_else(|| ApiError::not_found("Organization not found"))?,
        ),
        None if policy::sees_all_tenants(&caller) => None,
        None => Some(caller.scope()),
    };
    let metric = metrics::record(
        state.stores.main.as_ref(),
        scope.as_ref(),
        &metric_type,
        value,
        additional,
    )
    .await?;
    Ok(Json(
        json!({ "message": "Metric recorded", "id": metric.id }),
    ))
}
