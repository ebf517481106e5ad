//! The figures the dashboard and the usage routes share, read from real data: totals from the
//! daily aggregates (cost independent of the number of records), the newest records and
//! reported metrics.

use crate::window::Window;
use serde_json::{json, Value};
use thanotopolis_store::{Item, Store, StoreResult};
use thanotopolis_tenant_auth::{keys, TenantRecord, TenantScope};
use thanotopolis_usage::{global_totals, metrics, tenant_totals, UsageRecord, UsageTotals};

/// The contract's UsageStats of `t` over `window`.
pub fn usage_stats(window: &Window, t: &UsageTotals) -> Value {
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
        // Live streams go to Deepgram directly; their usage is in the STT totals only as of
        // this import (null: never imported, so the STT totals are file uploads only).
        "live_stt_imported_at": t.live_stt_imported_at,
        "breakdown_by_service": t.breakdown_by_service,
    })
}

/// The totals of `tenants` in `window`; with `everything`, of every organization as of the
/// last rollup (one query, whatever the number of organizations).
pub async fn totals(
    store: &dyn Store,
    tenants: &[(TenantScope, TenantRecord)],
    everything: bool,
    window: &Window,
) -> StoreResult<UsageTotals> {
    let (first, last) = window.days();
    if everything {
        return global_totals(store, &first, &last).await;
    }
    let mut sum = UsageTotals {
        rolled_up_at: Some(thanotopolis_tenant_auth::now_rfc3339()),
        live_stt_imported_at: thanotopolis_usage::live_stt::last_import(store).await?,
        ..UsageTotals::default()
    };
    for (scope, _) in tenants {
        sum.merge(tenant_totals(store, scope, &first, &last).await?);
    }
    Ok(sum)
}

/// OrgUsage for each organization, ordered by name.
pub async fn per_organization(
    store: &dyn Store,
    tenants: &[(TenantScope, TenantRecord)],
    window: &Window,
) -> StoreResult<Vec<Value>> {
    let (first, last) = window.days();
    let mut rows = Vec::new();
    for (scope, t) in tenants {
        let u = tenant_totals(store, scope, &first, &last).await?;
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

/// The newest `n` records in scope: the newest `n` of each organization, merged (there is no
/// index across organizations: its partitions would be written by every tenant's every use).
pub async fn recent(
    store: &dyn Store,
    tenants: &[(TenantScope, TenantRecord)],
    n: usize,
) -> StoreResult<Vec<Value>> {
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

/// Metrics of `tenants` (and, with `system`, the system-wide ones) reported in the last
/// `hours`, newest first, at most 100.
pub async fn recent_of(
    store: &dyn Store,
    tenants: &[(TenantScope, TenantRecord)],
    system: bool,
    metric_type: Option<&str>,
    hours: i64,
) -> StoreResult<Vec<Value>> {
    let mut scopes: Vec<Option<TenantScope>> = tenants.iter().map(|(s, _)| Some(*s)).collect();
    if system {
        scopes.push(None);
    }
    let found = metrics::recent(store, &scopes, metric_type, hours).await?;
    Ok(found.iter().map(|m| json!(m)).collect())
}
