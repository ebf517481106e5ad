//! System metrics: figures operators or agents report (`POST /api/admin/system/metrics`), kept
//! one item each in a partition per scope (an organization, or system-wide) and day, read back
//! newest first. Nothing here measures anything itself: what was reported is what there is.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thanotopolis_store::schema::MAIN_TABLE;
use thanotopolis_store::{Key, Query, Store, StoreResult};
use thanotopolis_tenant_auth::{keys, TenantScope};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Most metrics one read returns.
pub const MAX_METRICS: usize = 100;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemMetric {
    pub id: Uuid,
    pub metric_type: String,
    pub value: i64,
    /// `None`: system-wide.
    pub tenant_id: Option<Uuid>,
    #[serde(default)]
    pub additional_data: Value,
    pub created_at: String,
}

fn day_of(t: OffsetDateTime) -> String {
    thanotopolis_tenant_auth::format_rfc3339(t)[..10].to_string()
}

/// Stores a reported metric for `scope` (`None`: system-wide).
pub async fn record(
    store: &dyn Store,
    scope: Option<&TenantScope>,
    metric_type: &str,
    value: i64,
    additional_data: Value,
) -> StoreResult<SystemMetric> {
    let now = OffsetDateTime::now_utc();
    let metric = SystemMetric {
        id: Uuid::new_v4(),
        metric_type: metric_type.to_string(),
        value,
        tenant_id: scope.map(TenantScope::tenant_id),
        additional_data,
        created_at: thanotopolis_tenant_auth::format_rfc3339(now),
    };
    let key = Key::new(
        keys::metrics_partition(scope, &day_of(now)),
        format!("{}#{}", metric.created_at, metric.id),
    );
    let mut item = MAIN_TABLE.key_item(&key);
    if let Ok(Value::Object(attrs)) = serde_json::to_value(&metric) {
        item.extend(attrs);
    }
    if let (Some(scope), Some(sk)) = (scope, &key.sk) {
        item.insert("gsi1pk".into(), keys::index::tenant_metrics(scope).into());
        item.insert("gsi1sk".into(), sk.clone().into());
    }
    store.put(item, None).await?;
    Ok(metric)
}

/// The metrics of `scopes` reported in the last `hours`, newest first, at most
/// [`MAX_METRICS`], optionally of one type. One query per scope and day.
pub async fn recent(
    store: &dyn Store,
    scopes: &[Option<TenantScope>],
    metric_type: Option<&str>,
    hours: i64,
) -> StoreResult<Vec<SystemMetric>> {
    let now = OffsetDateTime::now_utc();
    let since = thanotopolis_tenant_auth::format_rfc3339(now - Duration::hours(hours));
    let mut metrics: Vec<SystemMetric> = Vec::new();
    for scope in scopes {
        for back in 0..=(hours / 24) {
            let partition =
                keys::metrics_partition(scope.as_ref(), &day_of(now - Duration::days(back)));
            let q = Query::new(partition).between(since.clone(), "~").backward();
            metrics.extend(thanotopolis_store::readable::<SystemMetric>(
                thanotopolis_store::query_all(store, &q).await?,
            ));
        }
    }
    metrics.retain(|m| metric_type.is_none_or(|t| m.metric_type == t));
    metrics.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    metrics.truncate(MAX_METRICS);
    Ok(metrics)
}
