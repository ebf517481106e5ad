//! The all-tenant usage aggregates, recomputed off the request path.
//!
//! A request only ever writes its own tenant's aggregate. A scheduled run (every minute in the
//! template; `thanotopolis-local` runs it too) sums every tenant's aggregates of yesterday and
//! today and *puts* the sums as the all-tenant items. A put of a recomputed sum is idempotent:
//! a run that is repeated, overlaps another or dies half-way can neither lose nor double-count
//! a use, and the figures are exact as of the run (they lag by at most one period). Older days
//! no longer change, so their items stay as last computed. Cost: one query per tenant per run,
//! whatever the traffic; see `docs/capacity.md` for where that stops being the right trade.

use crate::number;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use thanotopolis_store::{Item, Query, Store, StoreResult, Write, MAX_TRANSACTION_WRITES};
use thanotopolis_tenant_auth::{keys, tenants};
use time::{Date, Duration};

/// What a run did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RollupReport {
    pub tenants: usize,
    pub days: Vec<String>,
    /// All-tenant aggregate items written (one per day and usage type with any use).
    pub aggregates: usize,
    pub rolled_up_at: String,
}

#[derive(Default)]
struct Sum {
    amount: f64,
    count: i64,
    unknown_count: i64,
    cost: f64,
}

fn day(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Recomputes the all-tenant aggregates of `today` and the day before from every tenant's.
pub async fn roll_up(store: &dyn Store, today: Date) -> StoreResult<RollupReport> {
    let days = [day(today - Duration::days(1)), day(today)];
    let at = thanotopolis_tenant_auth::now_rfc3339();
    let recomputed = recompute(store, &days[0], &days[1], &at).await?;
    let mark = keys::usage_rollup_mark();
    // The mark goes after the sums: it never claims sums that were not written.
    store
        .put(
            thanotopolis_store::item(json!({
                "pk": mark.pk, "sk": mark.sk, "rolled_up_at": at, "tenants": recomputed.tenants,
            })),
            None,
        )
        .await?;
    Ok(RollupReport {
        tenants: recomputed.tenants,
        days: days.to_vec(),
        aggregates: recomputed.aggregates,
        rolled_up_at: at,
    })
}

/// What [`recompute`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recomputed {
    pub tenants: usize,
    /// All-tenant items put (one per day and type with any use).
    pub aggregates: usize,
    /// All-tenant items deleted: no tenant has any use of their day and type any more.
    pub removed: usize,
}

/// Recomputes the all-tenant aggregates of the days `first..=last` (`YYYY-MM-DD`) from every
/// tenant's: puts each sum, and deletes an item no tenant's use adds up to any more (an
/// erased organization's). One query per tenant, whatever the number of days.
pub async fn recompute(
    store: &dyn Store,
    first: &str,
    last: &str,
    at: &str,
) -> StoreResult<Recomputed> {
    let tenants = tenants::all(store).await?;
    let mut sums: BTreeMap<(String, String), Sum> = BTreeMap::new();
    for (scope, _) in &tenants {
        let query = Query::new(keys::tenant_partition(scope))
            .between(format!("USAGEDAY#{first}"), format!("USAGEDAY#{last}#~"));
        for item in thanotopolis_store::query_all(store, &query).await? {
            let (Some(d), Some(t)) = (text(&item, "day"), text(&item, "usage_type")) else {
                continue;
            };
            let sum = sums.entry((d.to_string(), t.to_string())).or_default();
            sum.amount += float(&item, "amount");
            sum.cost += float(&item, "cost");
            sum.count += item.get("count").and_then(Value::as_i64).unwrap_or(0);
            sum.unknown_count += item
                .get("unknown_count")
                .and_then(Value::as_i64)
                .unwrap_or(0);
        }
    }
    let existing = Query::new(keys::GLOBAL_USAGE).between(first, format!("{last}#~"));
    let stale: Vec<Write> = thanotopolis_store::query_all(store, &existing)
        .await?
        .iter()
        .filter(|item| {
            let (Some(d), Some(t)) = (text(item, "day"), text(item, "usage_type")) else {
                return false;
            };
            !sums.contains_key(&(d.to_string(), t.to_string()))
        })
        .filter_map(|item| store.schema().key_of(item).ok())
        .map(|key| Write::Delete {
            key,
            condition: None,
        })
        .collect();
    let removed = stale.len();
    let mut writes: Vec<Write> = sums
        .iter()
        .map(|((d, t), sum)| {
            let key = keys::global_usage_day(d, t);
            let item = thanotopolis_store::item(json!({
                "pk": key.pk, "sk": key.sk, "day": d, "usage_type": t,
                "amount": number(sum.amount), "count": sum.count,
                "unknown_count": sum.unknown_count, "cost": number(sum.cost),
                "rolled_up_at": at,
            }));
            Write::Put {
                item,
                condition: None,
            }
        })
        .collect();
    let aggregates = writes.len();
    writes.extend(stale);
    for chunk in writes.chunks(MAX_TRANSACTION_WRITES) {
        store.transact(chunk.to_vec()).await?;
    }
    Ok(Recomputed {
        tenants: tenants.len(),
        aggregates,
        removed,
    })
}

/// When the rollup last ran, if ever.
pub async fn last_run(store: &dyn Store) -> StoreResult<Option<String>> {
    Ok(store
        .get(&keys::usage_rollup_mark())
        .await?
        .and_then(|m| text(&m, "rolled_up_at").map(str::to_string)))
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(Value::as_str)
}

fn float(item: &Item, name: &str) -> f64 {
    item.get(name).and_then(Value::as_f64).unwrap_or(0.0)
}
