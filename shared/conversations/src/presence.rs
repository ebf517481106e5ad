//! Presence: rows of the connections table, one per live WebSocket, with who is connected to
//! which conversation. Rows expire with API Gateway's 2-hour connection limit, so a missed
//! `$disconnect` cannot leave one behind for long, and reads ignore expired rows: every count
//! here is of sockets that are really open (or vanished less than one fan-out ago).

use serde::{Deserialize, Serialize};
use thanotopolis_service::AppState;
use thanotopolis_store::schema::CONNECTIONS_TABLE;
use thanotopolis_store::{query_all, Index, Item, Key, Query, StoreResult};
use uuid::Uuid;

/// API Gateway closes every WebSocket connection after two hours.
pub const CONNECTION_LIFETIME_SECS: i64 = 2 * 60 * 60;

/// Who a user is in frames: e-mail, username and names, kept in the connection row.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Person {
    pub user_id: Uuid,
    pub email: String,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: String,
}

impl Person {
    pub fn of(user: &thanotopolis_tenant_auth::UserRecord) -> Person {
        Person {
            user_id: user.id,
            email: user.email.clone(),
            username: user.username.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            display_name: crate::sender_name(user),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Connection {
    pub connection_id: String,
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub user: Person,
    /// The login session the socket was opened with (logging out ends the socket too).
    pub session_id: Uuid,
    pub connected_at: String,
    /// Connect time, then the time of the latest `ping` (the clients' heartbeat).
    pub last_seen_at: String,
    /// When the server last sent the socket a keep-alive `ping` (none yet: `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_alive_at: Option<String>,
    pub expires_at: i64,
}

impl Connection {
    /// Who opened the socket, as its access token said.
    pub fn subject(&self) -> thanotopolis_tenant_auth::tokens::AccessSubject {
        thanotopolis_tenant_auth::tokens::AccessSubject {
            user_id: self.user.user_id,
            tenant_id: self.tenant_id,
            session_id: self.session_id,
        }
    }

    fn item(&self) -> Item {
        let mut item = CONNECTIONS_TABLE.key_item(&Key::partition(&self.connection_id));
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(self) {
            item.extend(map);
        }
        // Index keys are strings (the by_conversation and by_tenant_user indexes).
        item.insert(
            "conversation_id".into(),
            self.conversation_id.to_string().into(),
        );
        item.insert("tenant_id".into(), self.tenant_id.to_string().into());
        item.insert(
            "user_connected_at".into(),
            format!("{}{}", user_prefix(self.user.user_id), self.connected_at).into(),
        );
        item
    }
}

/// The rows of a list, skipping (and logging) any that cannot be read: one bad row never
/// stops a fan-out or a count.
fn readable(items: Vec<Item>) -> Vec<Connection> {
    items
        .into_iter()
        .filter_map(|item| {
            let id = item.get("connection_id").cloned();
            thanotopolis_store::from_item::<Connection>(item)
                .map_err(|e| tracing::error!(?id, error = %e, "unreadable connection row skipped"))
                .ok()
        })
        .collect()
}

/// Live sockets of a tenant: totals and distinct users and conversations. One query per page
/// of the tenant's live rows.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct TenantPresence {
    pub total_connections: usize,
    pub total_conversations: usize,
    pub total_users: usize,
    pub by_conversation: std::collections::BTreeMap<Uuid, usize>,
}

pub async fn in_tenant(app: &AppState, tenant_id: Uuid) -> StoreResult<TenantPresence> {
    let query = by_tenant(tenant_id);
    let mut users = Vec::new();
    let mut by_conversation = std::collections::BTreeMap::new();
    let mut total = 0;
    for c in readable(query_all(app.stores.connections.as_ref(), &query).await?) {
        total += 1;
        users.push(c.user.user_id);
        *by_conversation.entry(c.conversation_id).or_insert(0) += 1;
    }
    users.sort();
    users.dedup();
    Ok(TenantPresence {
        total_connections: total,
        total_conversations: by_conversation.len(),
        total_users: users.len(),
        by_conversation,
    })
}

/// Every live socket of a tenant. One query per page of its rows.
pub async fn of_tenant(app: &AppState, tenant_id: Uuid) -> StoreResult<Vec<Connection>> {
    Ok(readable(
        query_all(app.stores.connections.as_ref(), &by_tenant(tenant_id)).await?,
    ))
}

/// Records that the server just sent the socket a keep-alive (only while its row exists).
pub async fn kept_alive(app: &AppState, connection_id: &str, at: &str) -> StoreResult<()> {
    stamp(app, connection_id, "kept_alive_at", at).await
}

/// Live sockets of a conversation (a count query).
pub async fn count_in_conversation(app: &AppState, conversation_id: Uuid) -> StoreResult<u64> {
    app.stores
        .connections
        .count(&by_conversation(conversation_id))
        .await
}

pub async fn register(app: &AppState, connection: &Connection) -> StoreResult<()> {
    app.stores.connections.put(connection.item(), None).await
}

pub async fn load(app: &AppState, connection_id: &str) -> StoreResult<Option<Connection>> {
    thanotopolis_store::get_record(
        app.stores.connections.as_ref(),
        &Key::partition(connection_id),
    )
    .await
}

/// Records a heartbeat: the socket is still there (only while its row exists).
pub async fn seen(app: &AppState, connection_id: &str, at: &str) -> StoreResult<()> {
    stamp(app, connection_id, "last_seen_at", at).await
}

/// Sets a time on a socket's row, if the row still exists.
async fn stamp(app: &AppState, connection_id: &str, attribute: &str, at: &str) -> StoreResult<()> {
    let result = app
        .stores
        .connections
        .update(
            &Key::partition(connection_id),
            thanotopolis_store::Update::new().set(attribute, at),
            Some(thanotopolis_store::Condition::Exists),
        )
        .await;
    match result {
        Ok(_) | Err(thanotopolis_store::StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A conversation's live rows (the connections table's `by_conversation` index).
fn by_conversation(conversation_id: Uuid) -> Query {
    Query::new(conversation_id.to_string()).on(Index::Gsi1)
}

/// A tenant's live rows, by user and connect time (the `by_tenant_user` index).
fn by_tenant(tenant_id: Uuid) -> Query {
    Query::new(tenant_id.to_string()).on(Index::Gsi2)
}

/// Sort-key prefix of one user's rows in the `by_tenant_user` index.
fn user_prefix(user_id: Uuid) -> String {
    format!("{user_id}#")
}

/// Closes every socket of a user and deletes their rows at once: for a user who was
/// deactivated, removed, or logged out everywhere. One index query, then one close and one
/// delete per socket. Returns how many sockets were ended.
pub async fn end_user_sockets(
    app: &AppState,
    tenant_id: Uuid,
    user_id: Uuid,
) -> StoreResult<usize> {
    let query = by_tenant(tenant_id).begins_with(user_prefix(user_id));
    let rows = query_all(app.stores.connections.as_ref(), &query).await?;
    let ids: Vec<&str> = rows
        .iter()
        .filter_map(|row| row.get("connection_id").and_then(|v| v.as_str()))
        .collect();
    end(app, &ids).await
}

/// Closes every socket of an organization and deletes their rows (its erasure). Returns how
/// many sockets were ended.
pub async fn end_tenant_sockets(app: &AppState, tenant_id: Uuid) -> StoreResult<usize> {
    let rows = query_all(app.stores.connections.as_ref(), &by_tenant(tenant_id)).await?;
    let ids: Vec<&str> = rows
        .iter()
        .filter_map(|row| row.get("connection_id").and_then(|v| v.as_str()))
        .collect();
    end(app, &ids).await
}

/// Closes a user's sockets to one conversation (they left it, or were removed from it).
pub async fn end_member_sockets(
    app: &AppState,
    conversation_id: Uuid,
    user_id: Uuid,
) -> StoreResult<usize> {
    let sockets = in_conversation(app, conversation_id).await?;
    let ids: Vec<&str> = sockets
        .iter()
        .filter(|c| c.user.user_id == user_id)
        .map(|c| c.connection_id.as_str())
        .collect();
    end(app, &ids).await
}

/// Closes these sockets and deletes their rows.
async fn end(app: &AppState, ids: &[&str]) -> StoreResult<usize> {
    for id in ids {
        match &app.sockets {
            Some(closer) => {
                if let Err(e) = closer.close(id).await {
                    tracing::warn!(connection_id = %id, error = %e, "cannot close socket");
                }
            }
            None => {
                tracing::warn!(connection_id = %id, "no socket closer configured; row deleted only")
            }
        }
        forget(app, id).await?;
    }
    Ok(ids.len())
}

pub async fn forget(app: &AppState, connection_id: &str) -> StoreResult<()> {
    app.stores
        .connections
        .delete(&Key::partition(connection_id), None)
        .await
}

/// The live sockets of a conversation: one query.
pub async fn in_conversation(
    app: &AppState,
    conversation_id: Uuid,
) -> StoreResult<Vec<Connection>> {
    let query = by_conversation(conversation_id);
    Ok(readable(
        query_all(app.stores.connections.as_ref(), &query).await?,
    ))
}
