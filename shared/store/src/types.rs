use serde_json::{Number, Value};

/// An item: a JSON object. Key attributes are strings; the TTL attribute, when present, is a
/// number of seconds since the Unix epoch.
pub type Item = serde_json::Map<String, Value>;

/// The primary key of an item: partition key, plus sort key on tables that have one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: Option<String>,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: Some(sk.into()),
        }
    }

    /// A key for a table without a sort key.
    pub fn partition(pk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: None,
        }
    }
}

/// A condition on the current item, checked atomically with a write. An expired item counts as
/// absent.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Exists,
    NotExists,
    /// The item exists and the attribute equals the value.
    Equals(String, Value),
    /// The item exists and its `version` attribute equals this number.
    VersionEquals(u64),
}

/// Changes to one item. Updating an absent item creates it from its key (DynamoDB's upsert).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Update {
    pub set: Vec<(String, Value)>,
    pub set_if_absent: Vec<(String, Value)>,
    pub add: Vec<(String, Number)>,
    pub remove: Vec<String>,
}

impl Update {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set.push((name.into(), value.into()));
        self
    }

    /// Sets the attribute only when the item does not have it yet.
    pub fn set_if_absent(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set_if_absent.push((name.into(), value.into()));
        self
    }

    /// Adds to a number attribute atomically (a missing attribute counts as 0).
    pub fn add(mut self, name: impl Into<String>, amount: impl Into<Number>) -> Self {
        self.add.push((name.into(), amount.into()));
        self
    }

    pub fn remove(mut self, name: impl Into<String>) -> Self {
        self.remove.push(name.into());
        self
    }

    pub(crate) fn attribute_names(&self) -> impl Iterator<Item = &str> {
        self.set
            .iter()
            .chain(&self.set_if_absent)
            .map(|(n, _)| n.as_str())
            .chain(self.add.iter().map(|(n, _)| n.as_str()))
            .chain(self.remove.iter().map(String::as_str))
    }
}

/// One write of a transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    Update {
        key: Key,
        update: Update,
        condition: Option<Condition>,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// Writes nothing; cancels the transaction unless the condition holds.
    Check { key: Key, condition: Condition },
}

impl Write {
    /// The key of the item this write touches.
    pub fn key(&self, schema: &crate::TableSchema) -> crate::StoreResult<Key> {
        match self {
            Write::Put { item, .. } => schema.key_of(item),
            Write::Update { key, .. } | Write::Delete { key, .. } | Write::Check { key, .. } => {
                Ok(key.clone())
            }
        }
    }
}

/// Which ordering a query reads: the table's own key or one of the two secondary indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    Table,
    Gsi1,
    Gsi2,
}

/// Which sort keys a query matches.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum SortCondition {
    #[default]
    Any,
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
}

/// A query: one partition of the table or of an index.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub index: Index,
    pub partition: String,
    pub sort: SortCondition,
    pub forward: bool,
    pub limit: Option<u32>,
    /// An opaque cursor from a previous [`Page`].
    pub cursor: Option<String>,
}

impl Query {
    pub fn new(partition: impl Into<String>) -> Self {
        Query {
            index: Index::Table,
            partition: partition.into(),
            sort: SortCondition::Any,
            forward: true,
            limit: None,
            cursor: None,
        }
    }

    pub fn on(mut self, index: Index) -> Self {
        self.index = index;
        self
    }

    pub fn begins_with(mut self, prefix: impl Into<String>) -> Self {
        self.sort = SortCondition::BeginsWith(prefix.into());
        self
    }

    pub fn between(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.sort = SortCondition::Between(from.into(), to.into());
        self
    }

    /// Newest (highest sort key) first.
    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// One page of query results. `cursor` is set when more items may follow (a backend may then
/// return a last page that is empty).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    pub cursor: Option<String>,
}

/// An item as [`crate::Store::query_stored`] answers it: the JSON text the backend keeps (the
/// embedded store), which a typed read deserializes straight into its record, or the item.
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    Text(String),
    Item(Item),
}

/// One page of [`crate::Store::query_stored`] results, as [`Page`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredPage {
    pub items: Vec<Stored>,
    pub cursor: Option<String>,
}
