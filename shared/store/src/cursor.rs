//! Opaque query cursors: base64url of the JSON key attributes of the last item read, the same
//! shape as DynamoDB's `LastEvaluatedKey`, so both backends share one format.

use crate::{Index, Item, Query, SortCondition, StoreError, StoreResult, TableSchema};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

pub(crate) fn encode(key: &Item) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::Value::Object(key.clone()).to_string())
}

/// The position a cursor holds, if it is one that `query` could have issued: exactly the key
/// attributes of its table and index, as strings, inside its partition and sort condition.
/// Anything else (garbage, `{}`, another query's cursor) is [`StoreError::BadCursor`], before
/// it reaches a backend (DynamoDB would answer a ValidationException).
pub(crate) fn decode(schema: &TableSchema, query: &Query, cursor: &str) -> StoreResult<Item> {
    let position = parse(cursor)?;
    let names = key_names(schema, query.index);
    let text = |name: &str| position.get(name).and_then(serde_json::Value::as_str);
    let fits_names = position.len() == names.len() && names.iter().all(|n| text(n).is_some());
    let (partition_name, sort_name) = schema.query_keys(query.index);
    let in_partition = text(partition_name) == Some(query.partition.as_str());
    let in_range = match (sort_name.and_then(text), &query.sort) {
        (_, SortCondition::Any) => true,
        (Some(sort), SortCondition::BeginsWith(prefix)) => sort.starts_with(prefix.as_str()),
        (Some(sort), SortCondition::Between(from, to)) => {
            (from.as_str()..=to.as_str()).contains(&sort)
        }
        (None, _) => false,
    };
    if fits_names && in_partition && in_range {
        Ok(position)
    } else {
        Err(StoreError::BadCursor)
    }
}

/// The position a scan cursor holds: exactly the table's key attributes, as strings.
pub(crate) fn decode_scan(schema: &TableSchema, cursor: &str) -> StoreResult<Item> {
    let position = parse(cursor)?;
    let names = key_names(schema, Index::Table);
    let fits = position.len() == names.len()
        && names.iter().all(|n| {
            position
                .get(*n)
                .and_then(serde_json::Value::as_str)
                .is_some()
        });
    if fits {
        Ok(position)
    } else {
        Err(StoreError::BadCursor)
    }
}

/// The JSON object a cursor encodes (at most 4 KB of it), whatever its attributes.
fn parse(cursor: &str) -> StoreResult<Item> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::BadCursor)?;
    if bytes.len() > 4096 {
        return Err(StoreError::BadCursor);
    }
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(position)) => Ok(position),
        _ => Err(StoreError::BadCursor),
    }
}

fn key_names(schema: &TableSchema, index: Index) -> Vec<&'static str> {
    let mut names = vec![schema.partition_key];
    names.extend(schema.sort_key);
    if let Some(ix) = schema.index(index) {
        names.push(ix.partition_key);
        names.push(ix.sort_key);
    }
    names.sort_unstable();
    names.dedup();
    names
}

/// The key attributes of `item` that position a query on `index`.
pub(crate) fn position_of(schema: &TableSchema, index: Index, item: &Item) -> Item {
    key_names(schema, index)
        .into_iter()
        .filter_map(|n| item.get(n).map(|v| (n.to_string(), v.clone())))
        .collect()
}
