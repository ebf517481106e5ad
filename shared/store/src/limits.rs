//! DynamoDB's limits, enforced before a write reaches either backend.

use crate::{Item, Key, StoreError, StoreResult, TableSchema, Write};
use serde_json::Value;
use std::collections::HashSet;

/// DynamoDB's maximum item size, "400 KB", read as 400,000 bytes: under both 409,600 and
/// the lower figures emulators enforce, so an item this store accepts is accepted everywhere.
pub const MAX_ITEM_BYTES: usize = 400_000;
/// DynamoDB's deepest nesting of lists and maps in an attribute value (a top-level map or list
/// is level 1).
pub const MAX_NESTING: usize = 32;
/// DynamoDB's maximum number of writes in one `TransactWriteItems`.
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// Size of an item as DynamoDB counts it: attribute names plus values, with DynamoDB's
/// per-type overheads (numbers rounded up to their worst case).
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::String(s) => s.len(),
        Value::Number(n) => {
            let digits = n.to_string().chars().filter(char::is_ascii_digit).count();
            digits.div_ceil(2) + 1
        }
        Value::Array(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        Value::Object(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
    }
}

fn nesting(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(nesting).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}

/// Refuses an item DynamoDB would refuse for its size or nesting, on both backends, so that
/// nothing is stored that either cannot write or read back.
pub(crate) fn check_size(item: &Item) -> StoreResult<()> {
    let depth = item.values().map(nesting).max().unwrap_or(0);
    if depth > MAX_NESTING {
        return Err(StoreError::TooDeep { depth });
    }
    let bytes = item_size(item);
    if bytes > MAX_ITEM_BYTES {
        return Err(StoreError::TooLarge { bytes });
    }
    Ok(())
}

/// Refuses an update whose values nest deeper than DynamoDB stores (its size is checked by
/// DynamoDB itself, or by the embedded backend on the merged item).
pub(crate) fn check_update(update: &crate::Update) -> StoreResult<()> {
    let depth = update
        .set
        .iter()
        .chain(&update.set_if_absent)
        .map(|(_, v)| nesting(v))
        .max()
        .unwrap_or(0);
    if depth > MAX_NESTING {
        return Err(StoreError::TooDeep { depth });
    }
    Ok(())
}

/// Seconds since the Unix epoch, the unit of TTL attributes.
pub(crate) fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whether an item's TTL attribute lies in the past. Like DynamoDB, a TTL attribute that is not
/// a number is ignored.
pub(crate) fn is_expired(item: &Item, ttl_attribute: &str, now: i64) -> bool {
    item.get(ttl_attribute)
        .and_then(Value::as_f64)
        .is_some_and(|at| at <= now as f64)
}

/// Transactions may not touch one item twice, on either backend.
pub(crate) fn check_transaction(schema: &TableSchema, writes: &[Write]) -> StoreResult<Vec<Key>> {
    if writes.is_empty() || writes.len() > MAX_TRANSACTION_WRITES {
        return Err(StoreError::Invalid(format!(
            "a transaction holds 1 to {MAX_TRANSACTION_WRITES} writes, not {}",
            writes.len()
        )));
    }
    let keys = writes
        .iter()
        .map(|w| w.key(schema))
        .collect::<StoreResult<Vec<_>>>()?;
    let distinct: HashSet<&Key> = keys.iter().collect();
    if distinct.len() < keys.len() {
        return Err(StoreError::Invalid(
            "a transaction cannot write one item twice".into(),
        ));
    }
    Ok(keys)
}
