//! The embedded backend: one SQLite file (WAL) per data directory, one SQL table per store
//! table, the item kept as JSON beside its extracted key, index and TTL columns. Writes run in
//! `BEGIN IMMEDIATE` transactions, so conditions and atomic adds hold across threads and
//! processes (the local gateway and `thanotopolis-admin` can share a file).

use crate::conflicts::{retrying, InFlight};
use crate::limits::{check_size, check_transaction, is_expired, now_epoch};
use crate::{
    cursor, Condition, Index, Item, Key, Page, Query, SortCondition, Store, StoreError,
    StoreResult, Stored, StoredPage, TableSchema, Update, Write, VERSION_ATTRIBUTE,
};
use async_trait::async_trait;
use rusqlite::{params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{Number, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The largest page a query may ask for and still run in place ([`SqliteStore::read`]); longer
/// or unbounded queries go to the blocking pool.
const INLINE_QUERY_LIMIT: u32 = 250;

pub struct SqliteStore {
    inner: Arc<Inner>,
    round_trips: AtomicU64,
    in_flight: InFlight,
    conflicts: AtomicU64,
}

struct Inner {
    /// Every write, and reads too large to run on the async runtime.
    conn: Mutex<Connection>,
    /// Connections for short reads, run in place on the calling task (see [`SqliteStore::read`]).
    /// Empty for an in-memory database, which other connections cannot see.
    readers: Vec<Mutex<Connection>>,
    table: String,
    schema: &'static TableSchema,
}

impl SqliteStore {
    /// Opens (creating if needed) `table` in the SQLite file at `path`.
    /// The file holds password hashes: it is created readable by its owner only (SQLite gives
    /// its `-wal` and `-shm` files the same mode), and an existing one is made so.
    pub fn open(path: &Path, table: &str, schema: &'static TableSchema) -> StoreResult<Self> {
        make_private(path)?;
        let conn = Connection::open(path).map_err(sql_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql_error)?;
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let readers = (0..readers)
            .map(|_| {
                let reader = Connection::open(path).map_err(sql_error)?;
                reader
                    .pragma_update(None, "query_only", "ON")
                    .map_err(sql_error)?;
                reader
                    .busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(sql_error)?;
                reader.set_prepared_statement_cache_capacity(64);
                Ok(Mutex::new(reader))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Self::with_connection(conn, readers, table, schema)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory(schema: &'static TableSchema) -> StoreResult<Self> {
        let conn = Connection::open_in_memory().map_err(sql_error)?;
        Self::with_connection(conn, Vec::new(), schema.logical_id, schema)
    }

    fn with_connection(
        conn: Connection,
        readers: Vec<Mutex<Connection>>,
        table: &str,
        schema: &'static TableSchema,
    ) -> StoreResult<Self> {
        if !table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            return Err(StoreError::Invalid(format!("bad table name {table:?}")));
        }
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql_error)?;
        // Every read and write runs a prepared statement; queries come in a few dozen shapes.
        conn.set_prepared_statement_cache_capacity(64);
        let t = format!("\"{table}\"");
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                pk TEXT NOT NULL, sk TEXT NOT NULL,
                x1pk TEXT, x1sk TEXT, x2pk TEXT, x2sk TEXT,
                ttl REAL, body TEXT NOT NULL,
                PRIMARY KEY (pk, sk)) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS \"{table}.x1\" ON {t} (x1pk, x1sk, pk, sk) WHERE x1pk IS NOT NULL;
             CREATE INDEX IF NOT EXISTS \"{table}.x2\" ON {t} (x2pk, x2sk, pk, sk) WHERE x2pk IS NOT NULL;"
        ))
        .map_err(sql_error)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                readers,
                table: t,
                schema,
            }),
            round_trips: AtomicU64::new(0),
            in_flight: InFlight::default(),
            conflicts: AtomicU64::new(0),
        })
    }

    /// Runs `f` on the connection off the async runtime.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner, &mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner
                .conn
                .lock()
                .map_err(|_| StoreError::Unavailable("embedded store lock poisoned".into()))?;
            f(&inner, &mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("embedded store task failed: {e}")))?
    }

    /// Runs a short read (a get, a batch get, a bounded query) on a free reader connection
    /// in place: reading a few pages of a WAL file costs less than handing the work to the
    /// blocking pool and back (two thread wake-ups per request, a fifth of `GET /api/auth/me`'s
    /// CPU in the profile, issue #13). WAL readers never wait for the writer. With every reader
    /// busy, or no readers (in memory), the read goes to the blocking pool like a write.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner, &Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        for reader in &self.inner.readers {
            match reader.try_lock() {
                Ok(conn) => {
                    self.round_trips.fetch_add(1, Ordering::Relaxed);
                    return f(&self.inner, &conn);
                }
                Err(std::sync::TryLockError::WouldBlock) => continue,
                Err(std::sync::TryLockError::Poisoned(_)) => {
                    return Err(StoreError::Unavailable(
                        "embedded store lock poisoned".into(),
                    ))
                }
            }
        }
        self.run(move |inner, conn| f(inner, conn)).await
    }
}

fn make_private(path: &Path) -> StoreResult<()> {
    let io = |e: std::io::Error| StoreError::Unavailable(format!("{}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path).map_err(io)?;
        if file.metadata().map_err(io)?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io)?;
        }
    }
    #[cfg(not(unix))]
    options.open(path).map_err(io)?;
    Ok(())
}

fn sql_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable("embedded store busy".into())
        }
        _ => StoreError::Unavailable(format!("embedded store: {e}")),
    }
}

impl Inner {
    fn read(&self, conn: &Connection, key: &Key, now: i64) -> StoreResult<Option<Item>> {
        self.live(self.read_body(conn, key)?, now)
    }

    /// The stored text at `key`, expired or not. Reads that hold the connection's lock take
    /// only the text; parsing it waits until the lock is released.
    fn read_body(&self, conn: &Connection, key: &Key) -> StoreResult<Option<String>> {
        conn.prepare_cached(&format!(
            "SELECT body FROM {} WHERE pk = ?1 AND sk = ?2",
            self.table
        ))
        .and_then(|mut stmt| {
            stmt.query_row([&key.pk, key.sk.as_deref().unwrap_or("")], |row| row.get(0))
                .optional()
        })
        .map_err(sql_error)
    }

    /// The item a stored text holds, unless it has expired.
    fn live(&self, body: Option<String>, now: i64) -> StoreResult<Option<Item>> {
        body.map(|b| parse_body(&b))
            .transpose()
            .map(|item| item.filter(|i| !is_expired(i, self.schema.ttl_attribute, now)))
    }

    fn write(&self, conn: &Connection, item: &Item) -> StoreResult<()> {
        let key = self.schema.key_of(item)?;
        check_size(item)?;
        let index_col = |n: usize, sort: bool| -> Option<&str> {
            let ix = &self.schema.indexes[n];
            // Like DynamoDB, an item is in an index only when it has all its key attributes.
            let (p, s) = (item.get(ix.partition_key)?, item.get(ix.sort_key)?);
            if sort {
                s.as_str()
            } else {
                p.as_str()
            }
        };
        conn.prepare_cached(&format!(
            "INSERT OR REPLACE INTO {} (pk, sk, x1pk, x1sk, x2pk, x2sk, ttl, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            self.table
        ))
        .and_then(|mut stmt| {
            stmt.execute(rusqlite::params![
                key.pk,
                key.sk.as_deref().unwrap_or(""),
                index_col(0, false),
                index_col(0, true),
                index_col(1, false),
                index_col(1, true),
                item.get(self.schema.ttl_attribute).and_then(Value::as_f64),
                Value::Object(item.clone()).to_string(),
            ])
        })
        .map_err(sql_error)?;
        Ok(())
    }

    fn remove(&self, conn: &Connection, key: &Key) -> StoreResult<()> {
        conn.prepare_cached(&format!(
            "DELETE FROM {} WHERE pk = ?1 AND sk = ?2",
            self.table
        ))
        .and_then(|mut stmt| stmt.execute([&key.pk, key.sk.as_deref().unwrap_or("")]))
        .map_err(sql_error)?;
        Ok(())
    }

    /// Applies one write inside an open transaction: `Ok(None)` when its condition fails, else
    /// the item as written (`Some(None)` after a delete or check).
    fn apply(
        &self,
        conn: &Connection,
        write: &Write,
        now: i64,
    ) -> StoreResult<Option<Option<Item>>> {
        let (key, condition) = match write {
            Write::Put { item, condition } => (self.schema.key_of(item)?, condition.as_ref()),
            Write::Update { key, condition, .. } | Write::Delete { key, condition } => {
                (key.clone(), condition.as_ref())
            }
            Write::Check { key, condition } => (key.clone(), Some(condition)),
        };
        self.schema.check_key(&key)?;
        let current = self.read(conn, &key, now)?;
        if let Some(c) = condition {
            if !holds(c, current.as_ref()) {
                return Ok(None);
            }
        }
        let written = match write {
            Write::Put { item, .. } => {
                self.write(conn, item)?;
                Some(item.clone())
            }
            Write::Update { update, .. } => {
                let item = apply_update(self.schema, &key, current, update)?;
                self.write(conn, &item)?;
                Some(item)
            }
            Write::Delete { .. } => {
                self.remove(conn, &key)?;
                None
            }
            Write::Check { .. } => None,
        };
        Ok(Some(written))
    }

    fn query_sql(&self, q: &Query, counting: bool) -> StoreResult<(String, Vec<String>)> {
        let (pcol, scol) = match q.index {
            Index::Table => ("pk", "sk"),
            Index::Gsi1 => ("x1pk", "x1sk"),
            Index::Gsi2 => ("x2pk", "x2sk"),
        };
        let mut args = vec![q.partition.clone(), now_epoch().to_string()];
        let mut sql = format!(
            "SELECT {} FROM {} WHERE {pcol} = ?1 AND (ttl IS NULL OR ttl > CAST(?2 AS REAL))",
            if counting { "COUNT(*)" } else { "body" },
            self.table
        );
        let mut arg = |sql: &mut String, clause: &str, value: String| {
            args.push(value);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        match &q.sort {
            SortCondition::Any => {}
            SortCondition::BeginsWith(prefix) => {
                arg(&mut sql, &format!(" AND {scol} >= ?"), prefix.clone());
                // Bounded above too, so the index range holds only the prefix's items: a
                // query's cost depends on what it returns, not on what sorts after it.
                if let Some(end) = prefix_end(prefix) {
                    arg(&mut sql, &format!(" AND {scol} < ?"), end);
                }
                arg(
                    &mut sql,
                    &format!(" AND substr({scol}, 1, length(?)) = "),
                    prefix.clone(),
                );
                arg(&mut sql, "?", prefix.clone());
            }
            SortCondition::Between(from, to) => {
                arg(&mut sql, &format!(" AND {scol} >= ?"), from.clone());
                arg(&mut sql, &format!(" AND {scol} <= ?"), to.clone());
            }
        }
        if counting {
            return Ok((sql, args));
        }
        let (dir, op) = if q.forward {
            ("ASC", ">")
        } else {
            ("DESC", "<")
        };
        if let Some(c) = &q.cursor {
            let pos = cursor::decode(self.schema, q, c)?;
            let get = |name: &str| -> StoreResult<String> {
                pos.get(name)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or(StoreError::BadCursor)
            };
            let table_sk = match self.schema.sort_key {
                Some(s) => get(s)?,
                None => String::new(),
            };
            match self.schema.index(q.index) {
                None => arg(&mut sql, &format!(" AND sk {op} ?"), table_sk),
                Some(ix) => {
                    let isk = get(ix.sort_key)?;
                    let pk = get(self.schema.partition_key)?;
                    arg(&mut sql, &format!(" AND ({scol}, pk, sk) {op} (?"), isk);
                    arg(&mut sql, ", ?", pk);
                    arg(&mut sql, ", ?)", table_sk);
                }
            }
        }
        sql.push_str(&format!(" ORDER BY {scol} {dir}, pk {dir}, sk {dir}"));
        if let Some(limit) = q.limit {
            sql.push_str(&format!(" LIMIT {}", u64::from(limit) + 1));
        }
        Ok((sql, args))
    }
}

/// The least string greater than every string that starts with `prefix`: the prefix with its
/// last character incremented (UTF-8 keeps code-point order, which SQLite's binary collation
/// compares). `None` when there is no such string (empty, or only `char::MAX`).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        // Skip the surrogate range, which no char occupies.
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn parse_body(body: &str) -> StoreResult<Item> {
    match serde_json::from_str(body) {
        Ok(Value::Object(item)) => Ok(item),
        _ => Err(StoreError::Unavailable(
            "embedded store: corrupt item".into(),
        )),
    }
}

/// Whether `condition` holds for the current (live) item.
pub(crate) fn holds(condition: &Condition, current: Option<&Item>) -> bool {
    match (condition, current) {
        (Condition::NotExists, current) => current.is_none(),
        (_, None) => false,
        (Condition::Exists, Some(_)) => true,
        (Condition::Equals(name, value), Some(item)) => item.get(name) == Some(value),
        (Condition::VersionEquals(v), Some(item)) => {
            item.get(VERSION_ATTRIBUTE).and_then(Value::as_u64) == Some(*v)
        }
    }
}

/// The item after `update`, with DynamoDB's semantics (upsert, ADD to a missing number = 0 + n).
fn apply_update(
    schema: &TableSchema,
    key: &Key,
    current: Option<Item>,
    update: &Update,
) -> StoreResult<Item> {
    if let Some(name) = update
        .attribute_names()
        .find(|n| schema.is_key_attribute(n))
    {
        return Err(StoreError::Invalid(format!(
            "cannot update key attribute {name}"
        )));
    }
    let mut item = current.unwrap_or_else(|| schema.key_item(key));
    for (name, value) in &update.set {
        item.insert(name.clone(), value.clone());
    }
    for (name, value) in &update.set_if_absent {
        item.entry(name.clone()).or_insert_with(|| value.clone());
    }
    for (name, amount) in &update.add {
        let sum = match item.get(name) {
            None => amount.clone(),
            Some(Value::Number(n)) => add_numbers(n, amount)?,
            Some(_) => {
                return Err(StoreError::Invalid(format!(
                    "cannot add to non-number attribute {name}"
                )))
            }
        };
        item.insert(name.clone(), Value::Number(sum));
    }
    for name in &update.remove {
        item.remove(name);
    }
    Ok(item)
}

fn add_numbers(a: &Number, b: &Number) -> StoreResult<Number> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        if let Some(sum) = x.checked_add(y) {
            return Ok(sum.into());
        }
    }
    let sum = a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0);
    Number::from_f64(sum).ok_or_else(|| StoreError::Invalid("number out of range".into()))
}

#[async_trait]
impl Store for SqliteStore {
    fn schema(&self) -> &'static TableSchema {
        self.inner.schema
    }

    fn backend(&self) -> &'static str {
        "embedded"
    }

    fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }

    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        self.inner.schema.check_key(key)?;
        let key = key.clone();
        let body = self
            .read(move |inner, conn| inner.read_body(conn, &key))
            .await?;
        self.inner.live(body, now_epoch())
    }

    async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        for k in &keys {
            self.inner.schema.check_key(k)?;
        }
        let bodies = self
            .read(move |inner, conn| {
                keys.iter()
                    .map(|k| inner.read_body(conn, k))
                    .collect::<StoreResult<Vec<_>>>()
            })
            .await?;
        let now = now_epoch();
        let mut out = Vec::with_capacity(bodies.len());
        for body in bodies {
            out.extend(self.inner.live(body, now)?);
        }
        Ok(out)
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<()> {
        self.write_one(Write::Put { item, condition })
            .await
            .map(drop)
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> StoreResult<Item> {
        let key = key.clone();
        let written = self
            .write_one(Write::Update {
                key: key.clone(),
                update,
                condition,
            })
            .await?;
        written.ok_or_else(|| StoreError::Unavailable("updated item vanished".into()))
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> StoreResult<()> {
        self.write_one(Write::Delete {
            key: key.clone(),
            condition,
        })
        .await
        .map(drop)
    }

    async fn delete_batch(&self, keys: &[Key]) -> StoreResult<()> {
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            return Ok(());
        }
        let deletes = keys
            .iter()
            .map(|key| Write::Delete {
                key: key.clone(),
                condition: None,
            })
            .collect();
        // Deletes of a batch are single writes: a transaction holding one of them refuses
        // it, other single writes do not.
        self.apply_all(deletes, || self.in_flight.single_writes(keys.clone()))
            .await
    }

    async fn query(&self, query: &Query) -> StoreResult<Page> {
        let (bodies, cursor) = self.query_bodies(query).await?;
        let items = bodies
            .iter()
            .map(|b| parse_body(b))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page { items, cursor })
    }

    async fn query_stored(&self, query: &Query) -> StoreResult<StoredPage> {
        let (bodies, cursor) = self.query_bodies(query).await?;
        Ok(StoredPage {
            items: bodies.into_iter().map(Stored::Text).collect(),
            cursor,
        })
    }

    async fn scan(&self, cursor: Option<&str>, limit: u32) -> StoreResult<Page> {
        let schema = self.inner.schema;
        let after = cursor
            .map(|c| cursor::decode_scan(schema, c))
            .transpose()?
            .map(|pos| {
                let text = |name: Option<&str>| {
                    name.and_then(|n| pos.get(n))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                (text(Some(schema.partition_key)), text(schema.sort_key))
            });
        let limit = limit.max(1);
        let bodies = self
            .run(move |inner, conn| {
                let (from_pk, from_sk) = after.unwrap_or_default();
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT body FROM {} WHERE (ttl IS NULL OR ttl > CAST(?1 AS REAL))
                           AND (pk, sk) > (?2, ?3) ORDER BY pk, sk LIMIT ?4",
                        inner.table
                    ))
                    .map_err(sql_error)?;
                let rows = stmt
                    .query_map(
                        rusqlite::params![now_epoch().to_string(), from_pk, from_sk, limit + 1],
                        |row| row.get::<_, String>(0),
                    )
                    .map_err(sql_error)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_error);
                rows
            })
            .await?;
        let mut items = bodies
            .iter()
            .map(|b| parse_body(b))
            .collect::<StoreResult<Vec<_>>>()?;
        let mut cursor = None;
        if items.len() > limit as usize {
            items.truncate(limit as usize);
            if let Some(last) = items.last() {
                cursor = Some(cursor::encode(&cursor::position_of(
                    schema,
                    Index::Table,
                    last,
                )));
            }
        }
        Ok(Page { items, cursor })
    }

    async fn count(&self, query: &Query) -> StoreResult<u64> {
        let q = query.clone();
        self.run(move |inner, conn| {
            let (sql, args) = inner.query_sql(&q, true)?;
            conn.prepare_cached(&sql)
                .and_then(|mut stmt| {
                    stmt.query_row(params_from_iter(args.iter()), |row| row.get::<_, i64>(0))
                })
                .map(|n| n as u64)
                .map_err(sql_error)
        })
        .await
    }

    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        let keys = check_transaction(self.inner.schema, &writes)?;
        self.apply_all(writes, || self.in_flight.transaction(keys.clone()))
            .await
    }
}

impl SqliteStore {
    /// Applies `writes` in one SQLite transaction, all or nothing, while `hold` holds their
    /// items against conflicting writes (retried while they conflict).
    async fn apply_all(
        &self,
        writes: Vec<Write>,
        hold: impl Fn() -> StoreResult<crate::conflicts::Held>,
    ) -> StoreResult<()> {
        retrying(&self.conflicts, || async {
            let _held = hold()?;
            let writes = writes.clone();
            self.run(move |inner, conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sql_error)?;
                let now = now_epoch();
                let mut failed = Vec::new();
                for (i, w) in writes.iter().enumerate() {
                    if inner.apply(&tx, w, now)?.is_none() {
                        failed.push(i);
                    }
                }
                if !failed.is_empty() {
                    // Dropping `tx` rolls back whatever the passing writes did.
                    return Err(StoreError::TransactionCanceled { failed });
                }
                tx.commit().map_err(sql_error)
            })
            .await
        })
        .await
    }

    /// One page of a query as the items' stored text, and the cursor past its last item when
    /// more follow (only that item is parsed here).
    async fn query_bodies(&self, query: &Query) -> StoreResult<(Vec<String>, Option<String>)> {
        let q = query.clone();
        let short = q.limit.is_some_and(|l| l <= INLINE_QUERY_LIMIT);
        let work = move |inner: &Inner, conn: &Connection| {
            let (sql, args) = inner.query_sql(&q, false)?;
            let mut stmt = conn.prepare_cached(&sql).map_err(sql_error)?;
            let mut bodies = stmt
                .query_map(params_from_iter(args.iter()), |row| row.get::<_, String>(0))
                .map_err(sql_error)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql_error)?;
            let mut cursor = None;
            if let Some(limit) = q.limit {
                if bodies.len() > limit as usize {
                    bodies.truncate(limit as usize);
                    if let Some(last) = bodies.last() {
                        let last = parse_body(last)?;
                        cursor = Some(cursor::encode(&cursor::position_of(
                            inner.schema,
                            q.index,
                            &last,
                        )));
                    }
                }
            }
            Ok((bodies, cursor))
        };
        if short {
            self.read(work).await
        } else {
            self.run(move |inner, conn| work(inner, conn)).await
        }
    }

    /// One conditional write in its own transaction; returns the item as written (None after a
    /// delete).
    async fn write_one(&self, write: Write) -> StoreResult<Option<Item>> {
        let key = write.key(self.inner.schema)?;
        retrying(&self.conflicts, || async {
            let _held = self.in_flight.single_write(key.clone())?;
            let write = write.clone();
            self.run(move |inner, conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sql_error)?;
                let written = inner
                    .apply(&tx, &write, now_epoch())?
                    .ok_or(StoreError::ConditionFailed)?;
                tx.commit().map_err(sql_error)?;
                Ok(written)
            })
            .await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn the_prefix_end_bounds_exactly_the_strings_with_the_prefix() {
        assert_eq!(prefix_end("AGENT#").as_deref(), Some("AGENT$"));
        assert_eq!(prefix_end("").as_deref(), None);
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        let end = prefix_end("MSG#").unwrap();
        for inside in ["MSG#", "MSG#0", "MSG#\u{10FFFF}"] {
            assert!(inside >= "MSG#" && inside < end.as_str(), "{inside}");
        }
        assert!("MSG$" >= end.as_str() && "MSH" >= end.as_str());
    }
}
