//! Sending frames to the sockets of a conversation: one query for its live connections, one
//! batch read of who among them is still an active user (an inactive user's socket never
//! receives anything, even before it is closed), then concurrent posts (at most
//! [`MAX_IN_FLIGHT`] at a time). A 410 Gone deletes *that* connection's row; other failures
//! are logged and do not stop the fan-out.

use crate::{EventEndpoint, PostError, RealtimeState};
use futures::stream::{self, StreamExt};
use serde_json::Value;
use thanotopolis_conversations::presence::{self as connections, Connection};
use thanotopolis_store::StoreResult;
use uuid::Uuid;

pub const MAX_IN_FLIGHT: usize = 32;

/// Posts `frame` to one connection; a 410 removes its row. Returns whether it was delivered.
pub async fn send(
    state: &RealtimeState,
    endpoint: &EventEndpoint,
    connection_id: &str,
    frame: &Value,
) -> bool {
    match state
        .poster
        .post(endpoint.as_pair(), connection_id, frame)
        .await
    {
        Ok(()) => true,
        Err(PostError::Gone) => {
            if let Err(e) = connections::forget(&state.app, connection_id).await {
                tracing::warn!(%connection_id, error = %e, "cannot delete gone connection");
            }
            false
        }
        Err(PostError::Failed(e)) => {
            tracing::warn!(%connection_id, error = %e, "post to connection failed");
            false
        }
    }
}

/// The live sockets of a conversation whose users are active now: one connections query and
/// one batch read. Every frame to a conversation goes only to these.
pub async fn recipients(
    state: &RealtimeState,
    conversation_id: Uuid,
) -> StoreResult<Vec<Connection>> {
    let rows = connections::in_conversation(&state.app, conversation_id).await?;
    let Some(tenant_id) = rows.first().map(|r| r.tenant_id) else {
        return Ok(rows);
    };
    let mut users: Vec<Uuid> = rows.iter().map(|r| r.user.user_id).collect();
    users.sort();
    users.dedup();
    let active = thanotopolis_tenant_auth::active_users(&state.app, tenant_id, &users).await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.tenant_id == tenant_id && active.contains(&r.user.user_id))
        .collect())
}

/// Sends `frame_for(recipient)` to every live socket of the conversation but `skip`.
/// Returns how many sockets received it.
pub async fn broadcast(
    state: &RealtimeState,
    endpoint: &EventEndpoint,
    conversation_id: Uuid,
    skip: Option<&str>,
    frame_for: impl Fn(&Connection) -> Value,
) -> StoreResult<usize> {
    let recipients = recipients(state, conversation_id).await?;
    Ok(deliver(state, endpoint, &recipients, skip, frame_for).await)
}

/// Sends `frame_for(recipient)` to each of `recipients` (read earlier with [`recipients`])
/// but `skip`, at most [`MAX_IN_FLIGHT`] posts at a time. Returns how many received it.
pub async fn deliver(
    state: &RealtimeState,
    endpoint: &EventEndpoint,
    recipients: &[Connection],
    skip: Option<&str>,
    frame_for: impl Fn(&Connection) -> Value,
) -> usize {
    // Frames are built up front so each delivery owns its data (and the future stays Send).
    let outgoing: Vec<(String, Value)> = recipients
        .iter()
        .filter(|c| Some(c.connection_id.as_str()) != skip)
        .map(|c| (c.connection_id.clone(), frame_for(c)))
        .collect();
    let mut delivered = 0;
    let mut deliveries = stream::iter(outgoing)
        .map(|(id, frame)| async move { send(state, endpoint, &id, &frame).await })
        .buffer_unordered(MAX_IN_FLIGHT);
    while let Some(ok) = deliveries.next().await {
        delivered += usize::from(ok);
    }
    delivered
}
