//! Rows of the connections table: one per live socket, with who is connected to which
//! conversation, expiring with API Gateway's 2-hour connection limit so a missed
//! `$disconnect` cannot leave a row behind for long (and reads ignore expired rows).

use crate::frames::Person;
use serde::{Deserialize, Serialize};
use thanotopolis_service::{ApiError, ApiResult, AppState};
use thanotopolis_store::schema::CONNECTIONS_TABLE;
use thanotopolis_store::{Index, Item, Key, Query, StoreResult};
use uuid::Uuid;

/// API Gateway closes every WebSocket connection after two hours.
pub const CONNECTION_LIFETIME_SECS: i64 = 2 * 60 * 60;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Connection {
    pub connection_id: String,
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub user: Person,
    pub connected_at: String,
    pub expires_at: i64,
}

impl Connection {
    fn item(&self) -> Item {
        let mut item = CONNECTIONS_TABLE.key_item(&Key::partition(&self.connection_id));
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(self) {
            item.extend(map);
        }
        // Index keys are strings (the by_conversation and by_tenant indexes).
        item.insert(
            "conversation_id".into(),
            self.conversation_id.to_string().into(),
        );
        item.insert("tenant_id".into(), self.tenant_id.to_string().into());
        item
    }
}

fn parse(item: Item) -> ApiResult<Connection> {
    serde_json::from_value(serde_json::Value::Object(item))
        .map_err(|e| ApiError::Internal(format!("unreadable connection row: {e}")))
}

pub(crate) async fn register(app: &AppState, connection: &Connection) -> StoreResult<()> {
    app.stores.connections.put(connection.item(), None).await
}

pub(crate) async fn load(app: &AppState, connection_id: &str) -> ApiResult<Option<Connection>> {
    app.stores
        .connections
        .get(&Key::partition(connection_id))
        .await?
        .map(parse)
        .transpose()
}

pub(crate) async fn forget(app: &AppState, connection_id: &str) -> StoreResult<()> {
    app.stores
        .connections
        .delete(&Key::partition(connection_id), None)
        .await
}

/// The live sockets of a conversation: one query.
pub(crate) async fn in_conversation(
    app: &AppState,
    conversation_id: Uuid,
) -> ApiResult<Vec<Connection>> {
    let query = Query::new(conversation_id.to_string()).on(Index::Gsi1);
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .stores
            .connections
            .query(&query.clone().after(cursor))
            .await?;
        for item in page.items {
            out.push(parse(item)?);
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}
