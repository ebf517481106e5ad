//! Rows of the connections table: one per live socket, expiring with API Gateway's 2-hour
//! connection limit so a missed `$disconnect` cannot leave a row behind for long.

use serde_json::json;
use thanotopolis_service::AppState;
use thanotopolis_store::{Item, Key, StoreResult};

/// API Gateway closes every WebSocket connection after two hours.
pub const CONNECTION_LIFETIME_SECS: i64 = 2 * 60 * 60;

pub(crate) async fn register(app: &AppState, connection_id: &str) -> StoreResult<()> {
    let now = time::OffsetDateTime::now_utc();
    let at = crate::frames::now();
    let item = Item::from_iter([
        ("connection_id".to_string(), json!(connection_id)),
        ("connected_at".to_string(), json!(at)),
        ("last_seen_at".to_string(), json!(at)),
        (
            "expires_at".to_string(),
            json!(now.unix_timestamp() + CONNECTION_LIFETIME_SECS),
        ),
    ]);
    app.stores.connections.put(item, None).await
}

pub(crate) async fn forget(app: &AppState, connection_id: &str) -> StoreResult<()> {
    app.stores
        .connections
        .delete(&Key::partition(connection_id), None)
        .await
}
