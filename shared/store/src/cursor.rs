//! Opaque query cursors: base64url of the JSON key attributes of the last item read, the same
//! shape as DynamoDB's `LastEvaluatedKey`, so both backends share one format.

use crate::{Index, Item, StoreError, StoreResult, TableSchema};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

pub(crate) fn encode(key: &Item) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::Value::Object(key.clone()).to_string())
}

pub(crate) fn decode(cursor: &str) -> StoreResult<Item> {
    let invalid = || StoreError::Invalid("malformed cursor".into());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(map)) if map.values().all(|v| v.is_string()) => Ok(map),
        _ => Err(invalid()),
    }
}

/// The key attributes of `item` that position a query on `index`.
pub(crate) fn position_of(schema: &TableSchema, index: Index, item: &Item) -> Item {
    let mut names = vec![schema.partition_key];
    names.extend(schema.sort_key);
    if let Some(ix) = schema.index(index) {
        names.push(ix.partition_key);
        names.push(ix.sort_key);
    }
    names
        .into_iter()
        .filter_map(|n| item.get(n).map(|v| (n.to_string(), v.clone())))
        .collect()
}
