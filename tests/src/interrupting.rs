//! A store that stops writing after a number of writes, as a process that is killed would:
//! every later write fails (reads still work). For proving that an operator's long run can be
//! run again after an interruption and finish.

use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use thanotopolis_store::{
    Condition, Item, Key, Page, Query, Store, StoreError, StoreResult, TableSchema, Update, Write,
};

pub struct Interrupting {
    inner: Arc<dyn Store>,
    /// Writes (each put, update, delete or transaction) still allowed.
    left: AtomicU64,
}

impl Interrupting {
    pub fn after(inner: Arc<dyn Store>, writes: u64) -> Self {
        Interrupting {
            inner,
            left: AtomicU64::new(writes),
        }
    }

    fn write(&self) -> StoreResult<()> {
        self.left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| StoreError::Unavailable("interrupted".into()))
    }
}

#[async_trait]
impl Store for Interrupting {
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
        self.inner.get(key).await
    }
    async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        self.inner.batch_get(keys).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<()> {
        self.write()?;
        self.inner.put(item, condition).await
    }
    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> StoreResult<Item> {
        self.write()?;
        self.inner.update(key, update, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> StoreResult<()> {
        self.write()?;
        self.inner.delete(key, condition).await
    }
    async fn delete_batch(&self, keys: &[Key]) -> StoreResult<()> {
        self.write()?;
        self.inner.delete_batch(keys).await
    }
    async fn query(&self, query: &Query) -> StoreResult<Page> {
        self.inner.query(query).await
    }
    async fn scan(&self, cursor: Option<&str>, limit: u32) -> StoreResult<Page> {
        self.inner.scan(cursor, limit).await
    }
    async fn count(&self, query: &Query) -> StoreResult<u64> {
        self.inner.count(query).await
    }
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        self.write()?;
        self.inner.transact(writes).await
    }
}
