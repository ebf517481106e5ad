//! A store that counts, per table and partition key, what the functions read and write, in
//! DynamoDB's capacity units, around a real store (which still does all the work): the
//! capacity model's source of figures.
//!
//! Units as DynamoDB bills on-demand tables: a strongly consistent read is 1 RRU per 4 KB
//! (queries sum the sizes of what they return; index queries are eventually consistent, half
//! that), a write 1 WRU per 1 KB of the item, plus the same again for each secondary index the
//! item is in; a transactional write counts twice. Where the size of a write is not known
//! here (a delete, a transaction's update) it counts as 1 KB.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use thanotopolis_service::Stores;
use thanotopolis_store::{
    item_size, Index, Item, Key, Page, Query, Store, StoreResult, TableSchema, Update, Write,
};

/// What happened to one partition key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyCounts {
    pub reads: u64,
    pub writes: u64,
    pub rru: f64,
    pub wru: f64,
}

/// Counts of both tables, shared by the wrapped stores and whoever reads them.
#[derive(Default)]
pub struct Counts(Mutex<HashMap<(&'static str, String), KeyCounts>>);

impl Counts {
    /// Every (table, partition key) seen so far with its counts.
    pub fn snapshot(&self) -> HashMap<(&'static str, String), KeyCounts> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn reset(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn add(&self, table: &'static str, pk: &str, read: Option<f64>, write: Option<f64>) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let c = all.entry((table, pk.to_string())).or_default();
        if let Some(rru) = read {
            c.reads += 1;
            c.rru += rru;
        }
        if let Some(wru) = write {
            c.writes += 1;
            c.wru += wru;
        }
    }
}

/// Wraps both stores so that `counts` sees every operation.
pub fn counting(counts: Arc<Counts>) -> impl Fn(Stores) -> Stores + Send + Sync {
    move |stores| Stores {
        main: Arc::new(Counting::new(stores.main, "main", counts.clone())),
        connections: Arc::new(Counting::new(
            stores.connections,
            "connections",
            counts.clone(),
        )),
    }
}

pub struct Counting {
    inner: Arc<dyn Store>,
    table: &'static str,
    counts: Arc<Counts>,
}

fn units(bytes: usize, per: usize) -> f64 {
    bytes.div_ceil(per).max(1) as f64
}

impl Counting {
    pub fn new(inner: Arc<dyn Store>, table: &'static str, counts: Arc<Counts>) -> Self {
        Counting {
            inner,
            table,
            counts,
        }
    }

    /// WRU of writing `item`: the item, and again for each index it is in.
    fn write_units(&self, item: &Item) -> f64 {
        let schema = self.inner.schema();
        let indexed = schema
            .indexes
            .iter()
            .filter(|i| item.contains_key(i.partition_key) && item.contains_key(i.sort_key))
            .count();
        units(item_size(item), 1024) * (1 + indexed) as f64
    }

    fn key_of(&self, item: &Item) -> String {
        self.inner
            .schema()
            .key_of(item)
            .map(|k| k.pk)
            .unwrap_or_default()
    }
}

#[async_trait]
impl Store for Counting {
    fn schema(&self) -> &'static TableSchema {
        self.inner.schema()
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn round_trips(&self) -> u64 {
        self.inner.round_trips()
    }
    fn conflicts(&self) -> u64 {
        self.inner.conflicts()
    }

    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        let found = self.inner.get(key).await?;
        let size = found.as_ref().map(item_size).unwrap_or(0);
        self.counts
            .add(self.table, &key.pk, Some(units(size, 4096)), None);
        Ok(found)
    }

    async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        let found = self.inner.batch_get(keys).await?;
        for item in &found {
            let pk = self.key_of(item);
            self.counts
                .add(self.table, &pk, Some(units(item_size(item), 4096)), None);
        }
        Ok(found)
    }

    async fn put(
        &self,
        item: Item,
        condition: Option<thanotopolis_store::Condition>,
    ) -> StoreResult<()> {
        let (pk, wru) = (self.key_of(&item), self.write_units(&item));
        self.inner.put(item, condition).await?;
        self.counts.add(self.table, &pk, None, Some(wru));
        Ok(())
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<thanotopolis_store::Condition>,
    ) -> StoreResult<Item> {
        let written = self.inner.update(key, update, condition).await?;
        self.counts
            .add(self.table, &key.pk, None, Some(self.write_units(&written)));
        Ok(written)
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<thanotopolis_store::Condition>,
    ) -> StoreResult<()> {
        self.inner.delete(key, condition).await?;
        self.counts.add(self.table, &key.pk, None, Some(1.0));
        Ok(())
    }

    async fn delete_batch(&self, keys: &[Key]) -> StoreResult<()> {
        self.inner.delete_batch(keys).await?;
        for key in keys {
            self.counts.add(self.table, &key.pk, None, Some(1.0));
        }
        Ok(())
    }

    async fn query(&self, query: &Query) -> StoreResult<Page> {
        let page = self.inner.query(query).await?;
        let bytes: usize = page.items.iter().map(item_size).sum();
        let consistency = if query.index == Index::Table {
            1.0
        } else {
            0.5
        };
        self.counts.add(
            self.table,
            &query.partition,
            Some(units(bytes, 4096) * consistency),
            None,
        );
        Ok(page)
    }

    async fn scan(&self, cursor: Option<&str>, limit: u32) -> StoreResult<Page> {
        let page = self.inner.scan(cursor, limit).await?;
        for item in &page.items {
            let pk = self.key_of(item);
            self.counts
                .add(self.table, &pk, Some(units(item_size(item), 4096)), None);
        }
        Ok(page)
    }

    async fn count(&self, query: &Query) -> StoreResult<u64> {
        let n = self.inner.count(query).await?;
        self.counts
            .add(self.table, &query.partition, Some(1.0), None);
        Ok(n)
    }

    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        let counted: Vec<(String, f64)> = writes
            .iter()
            .map(|w| match w {
                Write::Put { item, .. } => (self.key_of(item), 2.0 * self.write_units(item)),
                Write::Update { key, .. }
                | Write::Delete { key, .. }
                | Write::Check { key, .. } => (key.pk.clone(), 2.0),
            })
            .collect();
        self.inner.transact(writes).await?;
        for (pk, wru) in counted {
            self.counts.add(self.table, &pk, None, Some(wru));
        }
        Ok(())
    }
}
