//! The DynamoDB backend. Conditions, TTL filtering and limits are expressed so that it behaves
//! exactly like the embedded backend: expired items (which DynamoDB deletes only lazily) are
//! filtered from reads and count as absent in conditions.

use crate::conflicts::retrying;
use crate::limits::{check_size, check_transaction, check_update, is_expired, now_epoch};
use crate::{
    cursor, Condition, Index, Item, Key, Page, Query, SortCondition, Store, StoreError,
    StoreResult, TableSchema, Update, Write, VERSION_ATTRIBUTE,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType,
    Put, ReturnValue, ScalarAttributeType, Select, TimeToLiveSpecification, TransactWriteItem,
    Update as UpdateAction, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

type AttrMap = HashMap<String, AttributeValue>;

/// DynamoDB's limit on keys in one `BatchGetItem`.
const BATCH_GET_KEYS: usize = 100;
/// DynamoDB's limit on requests in one `BatchWriteItem`.
const BATCH_WRITE_REQUESTS: usize = 25;
/// Retries of a batch's unprocessed part (throttling) before giving up.
const UNPROCESSED_RETRIES: u32 = 8;

pub struct DynamoStore {
    client: Client,
    table: String,
    schema: &'static TableSchema,
    round_trips: AtomicU64,
    conflicts: AtomicU64,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, schema: &'static TableSchema) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            schema,
            round_trips: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
        }
    }

    /// Creates the table as `infra/template.yaml` declares it (on-demand, all-attribute GSIs,
    /// TTL), unless it exists. For tests and the local run; deployments use the template.
    pub async fn ensure_table(&self) -> StoreResult<()> {
        let s = self.schema;
        let mut attrs: Vec<&str> = vec![s.partition_key];
        attrs.extend(s.sort_key);
        for ix in &s.indexes {
            attrs.extend([ix.partition_key, ix.sort_key]);
        }
        attrs.sort();
        attrs.dedup();
        let key_schema = |pk: &str, sk: Option<&str>| -> StoreResult<Vec<KeySchemaElement>> {
            let mut v = vec![key_element(pk, KeyType::Hash)?];
            if let Some(sk) = sk {
                v.push(key_element(sk, KeyType::Range)?);
            }
            Ok(v)
        };
        let mut req = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(s.partition_key, s.sort_key)?));
        for a in attrs {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(a)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_error)?,
            );
        }
        for ix in &s.indexes {
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(ix.name)
                    .set_key_schema(Some(key_schema(ix.partition_key, Some(ix.sort_key))?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(build_error)?,
            );
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
            Err(e) => return Err(sdk_error(e)),
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(s.ttl_attribute)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    fn count_trip(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    fn key_map(&self, key: &Key) -> StoreResult<AttrMap> {
        self.schema.check_key(key)?;
        to_attrs(&self.schema.key_item(key))
    }

    /// Decodes DynamoDB items, dropping expired ones.
    /// A page of a query or scan: its live items, and a cursor when DynamoDB has more.
    fn page(&self, items: Option<Vec<AttrMap>>, last: Option<AttrMap>) -> StoreResult<Page> {
        let cursor = match last {
            Some(k) if !k.is_empty() => Some(cursor::encode(&from_attrs(k)?)),
            _ => None,
        };
        Ok(Page {
            items: self.live_items(items.unwrap_or_default())?,
            cursor,
        })
    }

    fn live_items(&self, items: Vec<AttrMap>) -> StoreResult<Vec<Item>> {
        let now = now_epoch();
        let mut out = Vec::with_capacity(items.len());
        for raw in items {
            let item = from_attrs(raw)?;
            if !is_expired(&item, self.schema.ttl_attribute, now) {
                out.push(item);
            }
        }
        Ok(out)
    }

    /// One write as a transaction element (also used, unwrapped, for single writes).
    fn transact_item(&self, write: &Write, now: i64) -> StoreResult<TransactWriteItem> {
        let mut expr = Expr::default();
        let b = TransactWriteItem::builder();
        let item = match write {
            Write::Put { item, condition } => {
                self.schema.key_of(item)?;
                check_size(item)?;
                let cond = condition
                    .as_ref()
                    .map(|c| expr.condition(c, self.schema, now));
                b.put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_attrs(item)?))
                        .set_condition_expression(cond)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?,
                )
            }
            Write::Update {
                key,
                update,
                condition,
            } => {
                check_update(update)?;
                let update_expr = expr.update(update, self.schema)?;
                let cond = condition
                    .as_ref()
                    .map(|c| expr.condition(c, self.schema, now));
                b.update(
                    UpdateAction::builder()
                        .table_name(&self.table)
                        .set_key(Some(self.key_map(key)?))
                        .update_expression(update_expr.unwrap_or_default())
                        .set_condition_expression(cond)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?,
                )
            }
            Write::Delete { key, condition } => {
                let cond = condition
                    .as_ref()
                    .map(|c| expr.condition(c, self.schema, now));
                b.delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(self.key_map(key)?))
                        .set_condition_expression(cond)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?,
                )
            }
            Write::Check { key, condition } => {
                let cond = expr.condition(condition, self.schema, now);
                b.condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(self.key_map(key)?))
                        .condition_expression(cond)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?,
                )
            }
        };
        Ok(item.build())
    }

    /// The key condition and (TTL) filter of a query, with its names and values.
    fn query_parts(&self, q: &Query) -> (String, String, Expr) {
        let (pname, sname) = self.schema.query_keys(q.index);
        let mut e = Expr::default();
        let p = e.name(pname);
        let pv = e.value(AttributeValue::S(q.partition.clone()));
        let mut key_cond = format!("{p} = {pv}");
        match (sname, &q.sort) {
            (None, _) | (_, SortCondition::Any) => {}
            (Some(sname), SortCondition::BeginsWith(prefix)) => {
                let s = e.name(sname);
                let v = e.value(AttributeValue::S(prefix.clone()));
                key_cond.push_str(&format!(" AND begins_with({s}, {v})"));
            }
            (Some(sname), SortCondition::Between(from, to)) => {
                let s = e.name(sname);
                let a = e.value(AttributeValue::S(from.clone()));
                let b = e.value(AttributeValue::S(to.clone()));
                key_cond.push_str(&format!(" AND {s} BETWEEN {a} AND {b}"));
            }
        }
        let filter = e.live(self.schema, now_epoch());
        (key_cond, filter, e)
    }

    fn index_name(&self, index: Index) -> Option<String> {
        self.schema.index(index).map(|ix| ix.name.to_string())
    }
}

#[async_trait]
impl Store for DynamoStore {
    fn schema(&self) -> &'static TableSchema {
        self.schema
    }

    fn backend(&self) -> &'static str {
        "dynamodb"
    }

    fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }

    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        let key = self.key_map(key)?;
        self.count_trip();
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(self.live_items(out.item.into_iter().collect())?.pop())
    }

    async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_KEYS) {
            let mut pending = chunk
                .iter()
                .map(|k| self.key_map(k))
                .collect::<StoreResult<Vec<_>>>()?;
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(build_error)?;
                self.count_trip();
                let res = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                if let Some(mut found) = res.responses {
                    out.extend(self.live_items(found.remove(&self.table).unwrap_or_default())?);
                }
                if let Some(unprocessed) =
                    res.unprocessed_keys.and_then(|mut u| u.remove(&self.table))
                {
                    pending = unprocessed.keys;
                    attempt += 1;
                    unprocessed_backoff(attempt, "keys").await?;
                }
            }
        }
        Ok(out)
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<()> {
        self.schema.key_of(&item)?;
        check_size(&item)?;
        let c = self.conditioned(Expr::default(), condition.as_ref());
        let attrs = to_attrs(&item)?;
        let request = || {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(attrs.clone()))
        };
        self.single(|| async { conditioned!(request(), c).send().await.map_err(sdk_error) })
            .await
            .map(drop)
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> StoreResult<Item> {
        check_update(&update)?;
        let mut expr = Expr::default();
        let update_expr = expr.update(&update, self.schema)?;
        let c = self.conditioned(expr, condition.as_ref());
        let key = self.key_map(key)?;
        let request = || {
            let request = self.client.update_item().table_name(&self.table);
            request
                .set_key(Some(key.clone()))
                .set_update_expression(update_expr.clone())
                .return_values(ReturnValue::AllNew)
        };
        let out = self
            .single(|| async { conditioned!(request(), c).send().await.map_err(sdk_error) })
            .await?;
        from_attrs(out.attributes.unwrap_or_default())
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> StoreResult<()> {
        let c = self.conditioned(Expr::default(), condition.as_ref());
        let key = self.key_map(key)?;
        let request = || {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
        };
        self.single(|| async { conditioned!(request(), c).send().await.map_err(sdk_error) })
            .await
            .map(drop)
    }

    async fn delete_batch(&self, keys: &[Key]) -> StoreResult<()> {
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        let requests = keys
            .iter()
            .map(|k| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(self.key_map(k)?))
                    .build()
                    .map_err(build_error)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        // The batches of one call touch distinct items: they go at once.
        let batches = requests
            .chunks(BATCH_WRITE_REQUESTS)
            .map(|chunk| self.write_batch(chunk.to_vec()));
        futures::future::try_join_all(batches).await.map(drop)
    }

    async fn query(&self, q: &Query) -> StoreResult<Page> {
        let (key_cond, filter, mut e) = self.query_parts(q);
        let start = q
            .cursor
            .as_deref()
            .map(|c| cursor::decode(self.schema, q, c).and_then(|pos| to_attrs(&pos)))
            .transpose()?;
        self.count_trip();
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(self.index_name(q.index))
            .key_condition_expression(key_cond)
            .filter_expression(filter)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .scan_index_forward(q.forward)
            .set_limit(q.limit.map(|l| l.min(i32::MAX as u32) as i32))
            .set_exclusive_start_key(start)
            .consistent_read(q.index == Index::Table)
            .send()
            .await
            .map_err(sdk_error)?;
        self.page(out.items, out.last_evaluated_key)
    }

    async fn scan(&self, cursor: Option<&str>, limit: u32) -> StoreResult<Page> {
        let start = cursor
            .map(|c| cursor::decode_scan(self.schema, c).and_then(|pos| to_attrs(&pos)))
            .transpose()?;
        let mut e = Expr::default();
        let filter = e.live(self.schema, now_epoch());
        self.count_trip();
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(filter)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .limit(limit.clamp(1, i32::MAX as u32) as i32)
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        self.page(out.items, out.last_evaluated_key)
    }

    async fn count(&self, q: &Query) -> StoreResult<u64> {
        let (key_cond, filter, mut e) = self.query_parts(q);
        let (names, values) = (e.names(), e.values());
        let mut total = 0u64;
        let mut start = None;
        loop {
            self.count_trip();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(self.index_name(q.index))
                .key_condition_expression(&key_cond)
                .filter_expression(&filter)
                .set_expression_attribute_names(names.clone())
                .set_expression_attribute_values(values.clone())
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .consistent_read(q.index == Index::Table)
                .send()
                .await
                .map_err(sdk_error)?;
            total += out.count.max(0) as u64;
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(total),
            }
        }
    }

    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        check_transaction(self.schema, &writes)?;
        let now = now_epoch();
        let items = writes
            .iter()
            .map(|w| self.transact_item(w, now))
            .collect::<StoreResult<Vec<_>>>()?;
        retrying(&self.conflicts, || self.transact_once(items.clone())).await
    }
}

impl DynamoStore {
    /// One `BatchWriteItem` of up to 25 requests, sent again while it conflicts with a
    /// transaction, and its unprocessed part (throttled, or held by a transaction) until none
    /// is left. Deletes are idempotent: sending one twice is harmless.
    async fn write_batch(&self, mut pending: Vec<WriteRequest>) -> StoreResult<()> {
        let mut attempt = 0u32;
        while !pending.is_empty() {
            let requests = std::mem::take(&mut pending);
            let res = self
                .single(|| async {
                    self.client
                        .batch_write_item()
                        .request_items(&self.table, requests.clone())
                        .send()
                        .await
                        .map_err(sdk_error)
                })
                .await?;
            if let Some(unprocessed) = res
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .filter(|u| !u.is_empty())
            {
                pending = unprocessed;
                attempt += 1;
                unprocessed_backoff(attempt, "writes").await?;
            }
        }
        Ok(())
    }

    /// One `TransactWriteItems`, its cancellation read as conditions that failed or a conflict.
    async fn transact_once(&self, items: Vec<TransactWriteItem>) -> StoreResult<()> {
        self.count_trip();
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(e) => {
                    let reasons = e.cancellation_reasons();
                    let failed: Vec<usize> = reasons
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                        .map(|(i, _)| i)
                        .collect();
                    if !failed.is_empty() {
                        Err(StoreError::TransactionCanceled { failed })
                    } else if reasons
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"))
                    {
                        Err(StoreError::TransactionConflict)
                    } else {
                        Err(StoreError::Unavailable(format!(
                            "transaction cancelled: {:?}",
                            reasons.iter().map(|r| r.code()).collect::<Vec<_>>()
                        )))
                    }
                }
                other => Err(service_error(&other)),
            },
        }
    }
}

/// A single write's condition and the expression attributes it (and the update) use, ready
/// to be set on any of the write requests (their builders are distinct types, hence a macro).
struct Conditioned {
    condition: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<AttrMap>,
}

macro_rules! conditioned {
    ($request:expr, $c:expr) => {
        $request
            .set_condition_expression($c.condition.clone())
            .set_expression_attribute_names($c.names.clone())
            .set_expression_attribute_values($c.values.clone())
    };
}
use conditioned;

impl DynamoStore {
    /// One single-item request, counted, retried while it conflicts with a transaction.
    async fn single<T, F, Fut>(&self, mut send: F) -> StoreResult<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = StoreResult<T>>,
    {
        retrying(&self.conflicts, || {
            self.count_trip();
            send()
        })
        .await
    }

    fn conditioned(&self, mut expr: Expr, condition: Option<&Condition>) -> Conditioned {
        let condition = condition.map(|c| expr.condition(c, self.schema, now_epoch()));
        Conditioned {
            condition,
            names: expr.names(),
            values: expr.values(),
        }
    }
}

/// Expression attribute names and values, numbered as they are added.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: AttrMap,
}

impl Expr {
    fn name(&mut self, name: &str) -> String {
        if let Some((alias, _)) = self.names.iter().find(|(_, n)| *n == name) {
            return alias.clone();
        }
        let alias = format!("#n{}", self.names.len());
        self.names.insert(alias.clone(), name.to_string());
        alias
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let alias = format!(":v{}", self.values.len());
        self.values.insert(alias.clone(), value);
        alias
    }

    fn names(&mut self) -> Option<HashMap<String, String>> {
        Some(std::mem::take(&mut self.names)).filter(|n| !n.is_empty())
    }

    fn values(&mut self) -> Option<AttrMap> {
        Some(std::mem::take(&mut self.values)).filter(|v| !v.is_empty())
    }

    /// "The item has not expired": a missing TTL or one in the future.
    fn live(&mut self, schema: &TableSchema, now: i64) -> String {
        let ttl = self.name(schema.ttl_attribute);
        let now = self.value(AttributeValue::N(now.to_string()));
        format!("(attribute_not_exists({ttl}) OR {ttl} > {now})")
    }

    fn condition(&mut self, c: &Condition, schema: &TableSchema, now: i64) -> String {
        match c {
            Condition::NotExists => {
                let pk = self.name(schema.partition_key);
                let ttl = self.name(schema.ttl_attribute);
                let now = self.value(AttributeValue::N(now.to_string()));
                format!("(attribute_not_exists({pk}) OR {ttl} <= {now})")
            }
            Condition::Exists => {
                let pk = self.name(schema.partition_key);
                let live = self.live(schema, now);
                format!("attribute_exists({pk}) AND {live}")
            }
            Condition::Equals(name, value) => {
                let n = self.name(name);
                let v = self.value(to_attr(value));
                let live = self.live(schema, now);
                format!("{n} = {v} AND {live}")
            }
            Condition::VersionEquals(version) => {
                let n = self.name(VERSION_ATTRIBUTE);
                let v = self.value(AttributeValue::N(version.to_string()));
                let live = self.live(schema, now);
                format!("{n} = {v} AND {live}")
            }
        }
    }

    fn update(&mut self, u: &Update, schema: &TableSchema) -> StoreResult<Option<String>> {
        if let Some(name) = u.attribute_names().find(|n| schema.is_key_attribute(n)) {
            return Err(StoreError::Invalid(format!(
                "cannot update key attribute {name}"
            )));
        }
        let mut sets = Vec::new();
        for (name, value) in &u.set {
            let (n, v) = (self.name(name), self.value(to_attr(value)));
            sets.push(format!("{n} = {v}"));
        }
        for (name, value) in &u.set_if_absent {
            let (n, v) = (self.name(name), self.value(to_attr(value)));
            sets.push(format!("{n} = if_not_exists({n}, {v})"));
        }
        let mut clauses = Vec::new();
        if !sets.is_empty() {
            clauses.push(format!("SET {}", sets.join(", ")));
        }
        if !u.add.is_empty() {
            let adds: Vec<String> = u
                .add
                .iter()
                .map(|(name, amount)| {
                    let n = self.name(name);
                    let v = self.value(AttributeValue::N(amount.to_string()));
                    format!("{n} {v}")
                })
                .collect();
            clauses.push(format!("ADD {}", adds.join(", ")));
        }
        if !u.remove.is_empty() {
            let removes: Vec<String> = u.remove.iter().map(|n| self.name(n)).collect();
            clauses.push(format!("REMOVE {}", removes.join(", ")));
        }
        Ok(Some(clauses.join(" ")).filter(|s| !s.is_empty()))
    }
}

fn key_element(name: &str, key_type: KeyType) -> StoreResult<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(build_error)
}

fn to_attr(value: &serde_json::Value) -> AttributeValue {
    serde_dynamo::to_attribute_value(value).unwrap_or(AttributeValue::Null(true))
}

fn to_attrs(item: &Item) -> StoreResult<AttrMap> {
    serde_dynamo::to_item(item)
        .map_err(|e| StoreError::Invalid(format!("item cannot be stored: {e}")))
}

fn from_attrs(attrs: AttrMap) -> StoreResult<Item> {
    serde_dynamo::from_item(attrs)
        .map_err(|e| StoreError::Unavailable(format!("unreadable DynamoDB item: {e}")))
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Invalid(format!("DynamoDB request: {e}"))
}

/// Maps a DynamoDB error by its error code to our typed error.
fn sdk_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(e) => service_error(e.err()),
        other => StoreError::Unavailable(format!("DynamoDB: {}", DisplayErrorContext(&other))),
    }
}

fn service_error(e: &(impl ProvideErrorMetadata + std::error::Error)) -> StoreError {
    let message = e.message().unwrap_or_default().to_string();
    match e.code() {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
        Some("ResourceNotFoundException") => StoreError::NotFound(message),
        Some("TransactionConflictException") => StoreError::TransactionConflict,
        Some("ItemCollectionSizeLimitExceededException") => StoreError::TooLarge { bytes: 0 },
        // An update that grows an item past 400 KB can only be refused by DynamoDB itself.
        Some("ValidationException") if message.contains("size has exceeded") => {
            StoreError::TooLarge { bytes: 0 }
        }
        Some("ValidationException") => StoreError::Invalid(message),
        code => StoreError::Unavailable(format!("DynamoDB {}: {message}", code.unwrap_or("error"))),
    }
}

/// Waits before sending a batch's unprocessed part again (DynamoDB asks for exponential
/// backoff), or gives up after [`UNPROCESSED_RETRIES`].
async fn unprocessed_backoff(attempt: u32, what: &str) -> StoreResult<()> {
    if attempt > UNPROCESSED_RETRIES {
        return Err(StoreError::Unavailable(format!(
            "DynamoDB kept returning unprocessed {what}"
        )));
    }
    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
    Ok(())
}
