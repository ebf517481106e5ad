//! What each client frame does (`message`, `typing`, `history`, `ping`, …): the `$default`
//! route's work, once the event is known to come from a live connection.

use crate::HISTORY_MESSAGES;
use serde_json::Value;
use thanotopolis_agent_runtime::frames::{self, ClientFrame};
use thanotopolis_agent_runtime::{fanout, pipeline, EventEndpoint, RealtimeState};
use thanotopolis_conversations::presence::{self as connections, Connection, Person};
use thanotopolis_conversations::{self as conversations, MessageInput};
use thanotopolis_service::ApiError;
use thanotopolis_tenant_auth::{accounts, Caller};
use uuid::Uuid;

pub(crate) async fn on_frame(
    state: &RealtimeState,
    endpoint: &EventEndpoint,
    connection_id: &str,
    body: Option<&str>,
) -> Result<(), ApiError> {
    let frame = match frames::parse(body) {
        Ok(f) => f,
        Err(detail) => {
            fanout::send(state, endpoint, connection_id, &frames::error(detail)).await;
            return Ok(());
        }
    };
    if frame == ClientFrame::Ping {
        // Recorded before the answer, so a pong means the heartbeat is stored.
        connections::seen(&state.app, connection_id, &frames::now()).await?;
        fanout::send(state, endpoint, connection_id, &frames::pong()).await;
        return Ok(());
    }
    let row = connections::load(&state.app, connection_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("Connection expired; please reconnect"))?;
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(row.tenant_id));
    span.record("user_id", tracing::field::display(row.user.user_id));
    match frame {
        ClientFrame::Ping => unreachable!("answered above"),
        ClientFrame::Unknown => {
            fanout::send(
                state,
                endpoint,
                connection_id,
                &frames::error("Unknown message type"),
            )
            .await;
        }
        ClientFrame::TypingStatus { is_typing } => {
            // Like messages: only an active member's typing is broadcast.
            Caller::from_connection(&state.app, row.subject()).await?;
            let who = row.user.clone();
            fanout::broadcast(state, endpoint, row.conversation_id, None, |r| {
                frames::typing(&who, is_typing, r.user.user_id == who.user_id)
            })
            .await?;
        }
        ClientFrame::History => history(state, endpoint, &row).await?,
        ClientFrame::Message {
            content,
            id,
            mention,
        } => {
            if content.trim().is_empty() {
                return Ok(());
            }
            let id = match id {
                None => None,
                Some(raw) => Some(client_message_id(&raw)?),
            };
            let caller = Caller::from_connection(&state.app, row.subject()).await?;
            let store = state.app.stores.main.as_ref();
            let conversation = conversations::open(store, &caller, row.conversation_id).await?;
            thanotopolis_agent_runtime::admit_message(&state.app, &caller).await?;
            let message = conversations::post_message(
                store,
                &caller.scope(),
                &conversation,
                MessageInput {
                    id,
                    content,
                    message_type: None,
                    metadata: None,
                    author: Some(caller.user()),
                    agent_type: None,
                },
            )
            .await?;
            let author = row.user.clone();
            fanout::broadcast(state, endpoint, row.conversation_id, None, |r| {
                frames::message(
                    &message,
                    Some(&author),
                    r.user.user_id == author.user_id,
                    false,
                )
            })
            .await?;
            pipeline::respond(state, endpoint, &caller, &conversation, &message, mention).await;
        }
    }
    Ok(())
}

/// A client-chosen message id: a UUIDv7 (ids order history by time) minted within the last
/// few minutes, so nobody can slip a message into the past.
fn client_message_id(raw: &str) -> Result<Uuid, ApiError> {
    let bad = || ApiError::bad_request("Message id must be a current UUIDv7");
    let id: Uuid = raw.parse().map_err(|_| bad())?;
    let (secs, _) = id.get_timestamp().ok_or_else(bad)?.to_unix();
    let skew = (secs as i64 - thanotopolis_tenant_auth::now_epoch()).abs();
    if id.get_version_num() != 7 || skew > 300 {
        return Err(bad());
    }
    Ok(id)
}

/// Sends the conversation's recent messages to this socket, oldest first, as history frames.
async fn history(
    state: &RealtimeState,
    endpoint: &EventEndpoint,
    row: &Connection,
) -> Result<(), ApiError> {
    let caller = Caller::from_connection(&state.app, row.subject()).await?;
    let store = state.app.stores.main.as_ref();
    let scope = caller.scope();
    let messages =
        conversations::recent_messages(store, &scope, row.conversation_id, HISTORY_MESSAGES)
            .await?;
    let mut author_ids: Vec<Uuid> = messages.iter().filter_map(|m| m.user_id).collect();
    author_ids.sort();
    author_ids.dedup();
    let authors: Vec<Person> = accounts::load_many(store, &scope, &author_ids)
        .await?
        .iter()
        .map(Person::of)
        .collect();
    for m in &messages {
        let author = m
            .user_id
            .and_then(|id| authors.iter().find(|a| a.user_id == id));
        let frame: Value = frames::message(m, author, m.user_id == Some(row.user.user_id), true);
        if !fanout::send(state, endpoint, &row.connection_id, &frame).await {
            break;
        }
    }
    Ok(())
}
