//! Single-table item storage for Thanotopolis.
//!
//! Every function stores its data through the [`Store`] trait: items are JSON objects keyed by a
//! partition key and an optional sort key, with two global secondary indexes, conditional writes,
//! all-or-nothing transactions and TTL. Two backends implement it with the same observable
//! behaviour, checked by one contract suite (`tests/tests/store_contract.rs`):
//!
//! - [`DynamoStore`]: Amazon DynamoDB (production, and moto server in tests);
//! - `SqliteStore`: an embedded SQLite file (WAL) for one machine, or in memory for tests
//!   (feature `embedded`; Lambda functions build without it).
//!
//! DynamoDB's limits are enforced on both (400 KB items, 32 levels of nesting, 100 writes a transaction, one write per
//! item a transaction), and items past their TTL attribute are invisible on both. This crate knows
//! nothing about tenants or HTTP: key formats live in `thanotopolis_tenant_auth::keys`.

mod conflicts;
mod cursor;
mod decode;
mod dynamo;
mod error;
mod limits;
pub mod schema;
#[cfg(feature = "embedded")]
mod sqlite;
mod types;

pub use decode::{from_item, readable, records};
pub use dynamo::DynamoStore;
pub use error::{StoreError, StoreResult};
pub use limits::{item_size, MAX_ITEM_BYTES, MAX_NESTING, MAX_TRANSACTION_WRITES};
pub use schema::{IndexSchema, TableSchema};
#[cfg(feature = "embedded")]
pub use sqlite::SqliteStore;
pub use types::{
    Condition, Index, Item, Key, Page, Query, SortCondition, Stored, StoredPage, Update, Write,
};

use async_trait::async_trait;

/// An item written as a `json!({...})` object. Anything but an object is an empty item, which
/// no write accepts (it has no key).
pub fn item(value: serde_json::Value) -> Item {
    match value {
        serde_json::Value::Object(m) => m,
        _ => Item::new(),
    }
}

/// The record stored at `key`, if any.
pub async fn get_record<T: for<'de> serde::Deserialize<'de>>(
    store: &dyn Store,
    key: &Key,
) -> StoreResult<Option<T>> {
    store.get(key).await?.map(from_item).transpose()
}

/// One page of a query read as records (items no record can be read from are skipped and
/// logged, as [`readable`]), and the cursor to the next. Where the backend keeps items as
/// text, each record is read straight from it, with no JSON value in between.
pub async fn query_records<T: for<'de> serde::Deserialize<'de>>(
    store: &dyn Store,
    query: &Query,
) -> StoreResult<(Vec<T>, Option<String>)> {
    let page = store.query_stored(query).await?;
    Ok((records(page.items), page.cursor))
}

/// Every item a query matches, reading page after page.
pub async fn query_all(store: &dyn Store, query: &Query) -> StoreResult<Vec<Item>> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.query(&query.clone().after(cursor)).await?;
        items.extend(page.items);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(items),
        }
    }
}

/// The items of a batch read by their keys (batch reads answer in no particular order).
pub fn by_key(schema: &TableSchema, items: Vec<Item>) -> std::collections::HashMap<Key, Item> {
    items
        .into_iter()
        .filter_map(|item| Some((schema.key_of(&item).ok()?, item)))
        .collect()
}

/// Deletes every item a query matches, on the table or an index, a page of up to 100 at a
/// time ([`Store::delete_batch`]: an interrupted run leaves the rest for the next, which
/// finishes it), and returns how many. Only key attributes are read, so no item's other
/// content can stop it; the cursor is a position, so the next page starts after the deleted
/// ones whether or not an eventually consistent index still lists them.
pub async fn delete_all(store: &dyn Store, query: &Query) -> StoreResult<u64> {
    let schema = store.schema();
    let mut query = query.clone().limit(100).after(None);
    let mut deleted = 0;
    loop {
        let page = store.query(&query).await?;
        let mut keys: Vec<Key> = page
            .items
            .iter()
            .filter_map(|item| schema.key_of(item).ok())
            .collect();
        // A page read through an index can list an item twice when a concurrent write moved
        // its entry.
        keys.sort();
        keys.dedup();
        if !keys.is_empty() {
            deleted += keys.len() as u64;
            store.delete_batch(&keys).await?;
        }
        match page.cursor {
            Some(cursor) => query = query.after(Some(cursor)),
            None => return Ok(deleted),
        }
    }
}

/// A cursor that continues a query on `index` right after `item` (for callers that trim a
/// page themselves).
pub fn cursor_after(schema: &TableSchema, index: Index, item: &Item) -> String {
    cursor::encode(&cursor::position_of(schema, index, item))
}

/// The attribute that holds an item's optimistic-concurrency version ([`Condition::VersionEquals`]).
pub const VERSION_ATTRIBUTE: &str = "version";

/// Storage for one table. Cheap to share (`Arc<dyn Store>`); every method is one round trip to
/// the backend (batch gets and counts may page internally), counted by [`Store::round_trips`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The table's key layout.
    fn schema(&self) -> &'static TableSchema;
    /// Short backend name for health reports: `"embedded"` or `"dynamodb"`.
    fn backend(&self) -> &'static str;
    /// Requests made to the backend since this store was created.
    fn round_trips(&self) -> u64;
    /// Writes refused because a concurrent transaction held their items (each retried with
    /// jittered backoff; only one that keeps conflicting reaches the caller as
    /// [`StoreError::TransactionConflict`]).
    fn conflicts(&self) -> u64;

    /// Reads one item; expired items read as absent.
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>>;
    /// Reads many items (any number; duplicates are read once). Order is unspecified.
    async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>>;
    /// Writes a whole item, replacing any existing one, if `condition` holds.
    async fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<()>;
    /// Updates (or creates) an item if `condition` holds and returns the item as written.
    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> StoreResult<Item>;
    /// Deletes an item if `condition` holds; deleting an absent item is not an error.
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> StoreResult<()>;
    /// Deletes every key (any number; absent items are no error), unconditionally and not
    /// atomically: a failure may leave some deleted, and deleting again finishes the job. For
    /// bulk removal, at half a transaction's write cost; like [`Store::delete`], a key an
    /// in-flight transaction holds is retried.
    async fn delete_batch(&self, keys: &[Key]) -> StoreResult<()>;
    /// One page of items under a partition key, ordered by sort key.
    async fn query(&self, query: &Query) -> StoreResult<Page>;
    /// [`Store::query`] for reads that turn every item into a record ([`query_records`]): a
    /// backend that keeps items as JSON text answers the text.
    async fn query_stored(&self, query: &Query) -> StoreResult<StoredPage> {
        let page = self.query(query).await?;
        Ok(StoredPage {
            items: page.items.into_iter().map(Stored::Item).collect(),
            cursor: page.cursor,
        })
    }
    /// One page of up to `limit` live items of the whole table, in no particular order, and the
    /// cursor to the next. Operator tools and tests only (proving what an erasure left): it
    /// reads every item, so nothing on a request path may call it.
    async fn scan(&self, cursor: Option<&str>, limit: u32) -> StoreResult<Page>;
    /// Number of live items a query matches (limit and cursor are ignored).
    async fn count(&self, query: &Query) -> StoreResult<u64>;
    /// Applies up to [`MAX_TRANSACTION_WRITES`] writes all or nothing. Like DynamoDB, both
    /// backends refuse a transaction that touches an item another in-flight write holds, and
    /// a single write to an item an in-flight transaction holds; both retry those.
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()>;
}
