//! The dashboard's figures, composed. An admin's cover one organization and are composed live.
//! A super_admin's span every organization: composed at request time they would cost a few
//! queries per organization per view, so the scheduled rollup composes them once a run into a
//! snapshot and a view reads that: one pointer and its parts, whatever the number of
//! organizations. The answer's `as_of` says when its figures were true.
//!
//! A snapshot is JSON text split into parts under DynamoDB's item limit, written under a fresh
//! generation before the pointer moves to it, so a reader never mixes two snapshots.

use crate::figures::{per_organization, recent, recent_of, totals, usage_stats};
use crate::window::Window;
use serde_json::{json, Value};
use thanotopolis_conversations::presence;
use thanotopolis_service::AppState;
use thanotopolis_store::{Condition, Item, Query, Store, StoreError, StoreResult};
use thanotopolis_tenant_auth::{keys, tenants, TenantRecord, TenantScope};

/// Bytes of JSON text per part: well under the 400 KB item limit, escaping included.
const PART_BYTES: usize = 128 * 1024;

/// The dashboard's figures for `tenants`; with `everything`, also the all-organization usage
/// aggregates and system-wide metrics.
pub async fn compose(
    state: &AppState,
    tenants: &[(TenantScope, TenantRecord)],
    everything: bool,
) -> StoreResult<Value> {
    let store = state.stores.main.as_ref();
    let as_of = thanotopolis_tenant_auth::now_rfc3339();
    let mut sockets = 0;
    let mut tenant_stats = Vec::new();
    for (scope, t) in tenants {
        sockets += presence::in_tenant(state, scope.tenant_id())
            .await?
            .total_connections;
        tenant_stats.push(json!({
            "tenant_id": t.id, "name": t.name, "subdomain": t.subdomain,
            "user_count": t.user_count, "conversation_count": t.conversation_count,
        }));
    }
    let window = Window::last_days("month", 30);
    let totals = totals(store, tenants, everything, &window).await?;
    Ok(json!({
        "total_users": tenants.iter().map(|(_, t)| t.user_count).sum::<i64>(),
        "total_conversations": tenants.iter().map(|(_, t)| t.conversation_count).sum::<i64>(),
        "active_ws_connections": sockets,
        "db_connection_pool_size": Value::Null,
        "recent_usage": recent(store, tenants, 50).await?,
        "system_metrics": recent_of(store, tenants, everything, None, 24).await?,
        "tenant_stats": tenant_stats,
        "overall_usage_stats": usage_stats(&window, &totals),
        "usage_by_organization": per_organization(store, tenants, &window).await?,
        "as_of": as_of,
    }))
}

/// What a snapshot run wrote.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SnapshotReport {
    pub organizations: usize,
    pub parts: usize,
    pub bytes: usize,
    pub as_of: String,
    /// Another run moved the pointer first; this run's parts were removed again.
    pub superseded: bool,
}

/// Composes every organization's dashboard and makes it the current snapshot (run by the
/// scheduled rollup, after the all-organization aggregates it reads).
pub async fn snapshot(state: &AppState) -> StoreResult<SnapshotReport> {
    let store = state.stores.main.as_ref();
    let all = tenants::all(store).await?;
    let figures = compose(state, &all, true).await?;
    let text = serde_json::to_string(&figures).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let previous = store.get(&keys::dashboard_snapshot()).await?;
    let generation = uuid::Uuid::new_v4().simple().to_string();
    let parts = split(&text, PART_BYTES);
    for (i, part) in parts.iter().enumerate() {
        let key = keys::dashboard_snapshot_part(&generation, i);
        store
            .put(
                thanotopolis_store::item(json!({ "pk": key.pk, "sk": key.sk, "body": part })),
                None,
            )
            .await?;
    }
    let pointer = keys::dashboard_snapshot();
    let previous_generation = previous.as_ref().and_then(|old| {
        Some((
            text_of(old, "generation")?.to_string(),
            old.get("parts")?.as_u64()?,
        ))
    });
    // Moves only from the pointer this run read: of two overlapping runs, the later to finish
    // removes its own parts instead of leaking the other's.
    let expected = match &previous_generation {
        Some((generation, _)) => Condition::Equals("generation".into(), json!(generation)),
        None => Condition::NotExists,
    };
    let moved = store
        .put(
            thanotopolis_store::item(json!({
                "pk": pointer.pk, "sk": pointer.sk, "generation": generation,
                "parts": parts.len(), "as_of": figures["as_of"],
            })),
            Some(expected),
        )
        .await;
    let superseded = matches!(moved, Err(StoreError::ConditionFailed));
    if !superseded {
        moved?;
    }
    // The replaced generation goes only once nothing points at it; a reader that read the old
    // pointer just before finds its parts gone and reads the pointer again.
    let (garbage, count) = match (&previous_generation, superseded) {
        (_, true) => (generation.clone(), parts.len() as u64),
        (Some((old, count)), false) => (old.clone(), *count),
        (None, false) => (String::new(), 0),
    };
    for i in 0..count as usize {
        store
            .delete(&keys::dashboard_snapshot_part(&garbage, i), None)
            .await?;
    }
    Ok(SnapshotReport {
        organizations: all.len(),
        parts: parts.len(),
        bytes: text.len(),
        superseded,
        as_of: figures["as_of"].as_str().unwrap_or_default().to_string(),
    })
}

/// The current snapshot, if one is whole and readable.
pub async fn current(store: &dyn Store) -> StoreResult<Option<Value>> {
    for _ in 0..2 {
        let Some(pointer) = store.get(&keys::dashboard_snapshot()).await? else {
            return Ok(None);
        };
        let (Some(generation), Some(parts)) = (
            text_of(&pointer, "generation"),
            pointer.get("parts").and_then(Value::as_u64),
        ) else {
            return Ok(None);
        };
        let q = Query::new(keys::DASHBOARD).begins_with(keys::dashboard_snapshot_parts(generation));
        let items = thanotopolis_store::query_all(store, &q).await?;
        if items.len() as u64 != parts {
            continue;
        }
        let text: String = items
            .iter()
            .filter_map(|item| text_of(item, "body"))
            .collect();
        return match serde_json::from_str(&text) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable dashboard snapshot; composing live");
                Ok(None)
            }
        };
    }
    Ok(None)
}

/// `text` in pieces of at most `max` bytes, cut at character boundaries.
fn split(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, tail) = rest.split_at(end);
        parts.push(part);
        rest = tail;
    }
    parts
}

fn text_of<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn parts_rejoin_to_the_text_and_never_cut_a_character() {
        let text = "ab€d€€f".repeat(1000);
        let parts = split(&text, 7);
        assert!(parts.iter().all(|p| p.len() <= 7 && !p.is_empty()));
        assert_eq!(parts.concat(), text);
        assert!(split("", 7).is_empty());
    }
}
