//! The key layout of Thanotopolis's two tables. `infra/template.yaml` declares the same tables;
//! a test (`tests/tests/template.rs`) fails when the two disagree.

use crate::{Index, Item, Key, StoreError, StoreResult};

/// A global secondary index: its name and key attributes (strings), projecting all attributes.
#[derive(Debug, PartialEq, Eq)]
pub struct IndexSchema {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// A table's key attributes, two secondary indexes and TTL attribute.
#[derive(Debug, PartialEq, Eq)]
pub struct TableSchema {
    /// The table's logical id in `infra/template.yaml`.
    pub logical_id: &'static str,
    pub partition_key: &'static str,
    pub sort_key: Option<&'static str>,
    pub indexes: [IndexSchema; 2],
    pub ttl_attribute: &'static str,
}

/// The single table holding every tenant's data. Key formats: `thanotopolis_tenant_auth::keys`.
pub static MAIN_TABLE: TableSchema = TableSchema {
    logical_id: "MainTable",
    partition_key: "pk",
    sort_key: Some("sk"),
    indexes: [
        IndexSchema {
            name: "gsi1",
            partition_key: "gsi1pk",
            sort_key: "gsi1sk",
        },
        IndexSchema {
            name: "gsi2",
            partition_key: "gsi2pk",
            sort_key: "gsi2sk",
        },
    ],
    ttl_attribute: "expires_at",
};

/// Live API Gateway WebSocket connections, one item per connection id.
pub static CONNECTIONS_TABLE: TableSchema = TableSchema {
    logical_id: "ConnectionsTable",
    partition_key: "connection_id",
    sort_key: None,
    indexes: [
        IndexSchema {
            name: "by_conversation",
            partition_key: "conversation_id",
            sort_key: "connected_at",
        },
        IndexSchema {
            name: "by_tenant_user",
            partition_key: "tenant_id",
            sort_key: "user_connected_at",
        },
    ],
    ttl_attribute: "expires_at",
};

impl TableSchema {
    /// The index a query names; `None` for the table itself.
    pub fn index(&self, index: Index) -> Option<&IndexSchema> {
        match index {
            Index::Table => None,
            Index::Gsi1 => Some(&self.indexes[0]),
            Index::Gsi2 => Some(&self.indexes[1]),
        }
    }

    /// The (partition, sort) attribute names a query on `index` orders by.
    pub(crate) fn query_keys(&self, index: Index) -> (&'static str, Option<&'static str>) {
        match self.index(index) {
            None => (self.partition_key, self.sort_key),
            Some(ix) => (ix.partition_key, Some(ix.sort_key)),
        }
    }

    /// Checks that a key matches this table's layout.
    pub(crate) fn check_key(&self, key: &Key) -> StoreResult<()> {
        if key.sk.is_some() != self.sort_key.is_some() {
            return Err(StoreError::Invalid(format!(
                "key for {} must {}have a sort key",
                self.logical_id,
                if self.sort_key.is_some() { "" } else { "not " }
            )));
        }
        Ok(())
    }

    /// The primary key of an item, checking that its key attributes are strings and its TTL a
    /// number (DynamoDB would reject the first and silently ignore the second).
    pub fn key_of(&self, item: &Item) -> StoreResult<Key> {
        let string_attr = |name: &str| -> StoreResult<String> {
            match item.get(name) {
                Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                _ => Err(StoreError::Invalid(format!(
                    "key attribute {name} must be a non-empty string"
                ))),
            }
        };
        for ix in &self.indexes {
            for attr in [ix.partition_key, ix.sort_key] {
                if let Some(v) = item.get(attr) {
                    if !v.is_string() || v.as_str() == Some("") {
                        return Err(StoreError::Invalid(format!(
                            "index key attribute {attr} must be a non-empty string"
                        )));
                    }
                }
            }
        }
        if let Some(ttl) = item.get(self.ttl_attribute) {
            if !ttl.is_number() {
                return Err(StoreError::Invalid(format!(
                    "TTL attribute {} must be a number",
                    self.ttl_attribute
                )));
            }
        }
        Ok(Key {
            pk: string_attr(self.partition_key)?,
            sk: self.sort_key.map(string_attr).transpose()?,
        })
    }

    /// The item holding only this key's attributes.
    pub fn key_item(&self, key: &Key) -> Item {
        let mut item = Item::new();
        item.insert(self.partition_key.into(), key.pk.clone().into());
        if let (Some(name), Some(sk)) = (self.sort_key, &key.sk) {
            item.insert(name.into(), sk.clone().into());
        }
        item
    }

    pub(crate) fn is_key_attribute(&self, name: &str) -> bool {
        name == self.partition_key || Some(name) == self.sort_key
    }
}
