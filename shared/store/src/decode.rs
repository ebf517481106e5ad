//! Typed records from stored items: one way to read an item as a record, and one rule for a
//! list that holds an item no record can be read from (it is skipped and logged, so one
//! damaged or older item never fails a read of the others).

use crate::schema::MAIN_TABLE;
use crate::{Item, StoreError, StoreResult, Stored};
use serde::Deserialize;
use serde_json::Value;

/// Reads a record from a stored item (key attributes and unknown fields are ignored).
pub fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> StoreResult<T> {
    serde_json::from_value(Value::Object(item)).map_err(|e| StoreError::Unreadable(e.to_string()))
}

/// The records of a list of items, skipping any stored item that cannot be read (logged with
/// its key).
pub fn readable<T: for<'de> Deserialize<'de>>(items: impl IntoIterator<Item = Item>) -> Vec<T> {
    items.into_iter().filter_map(record_of_item).collect()
}

/// [`readable`] for a query's [`Stored`] items: text is read straight into the record.
pub fn records<T: for<'de> Deserialize<'de>>(items: impl IntoIterator<Item = Stored>) -> Vec<T> {
    items
        .into_iter()
        .filter_map(|stored| match stored {
            Stored::Item(item) => record_of_item(item),
            Stored::Text(text) => match serde_json::from_str(&text) {
                Ok(record) => Some(record),
                Err(e) => {
                    // Only now is the item parsed whole, for its key.
                    let item: Item = serde_json::from_str(&text).unwrap_or_default();
                    let key = (item.get(MAIN_TABLE.partition_key), item.get("sk"));
                    tracing::error!(?key, error = %e, "unreadable stored record skipped");
                    None
                }
            },
        })
        .collect()
}

fn record_of_item<T: for<'de> Deserialize<'de>>(mut item: Item) -> Option<T> {
    // Records ignore their key attributes: taking them out costs no copy, and they are at
    // hand for the log line if the rest does not read.
    let key = (item.remove(MAIN_TABLE.partition_key), item.remove("sk"));
    match serde_json::from_value(Value::Object(item)) {
        Ok(record) => Some(record),
        Err(e) => {
            tracing::error!(?key, error = %e, "unreadable stored record skipped");
            None
        }
    }
}
