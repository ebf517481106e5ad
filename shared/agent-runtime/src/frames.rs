//! WebSocket frames: JSON text with a `type` field, both ways (contract §9.3, §9.4).

use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_conversations::presence::Person;
use thanotopolis_conversations::MessageRecord;

/// A frame from a client.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Ping,
    TypingStatus {
        #[serde(default)]
        is_typing: bool,
    },
    Message {
        #[serde(default)]
        content: String,
        /// A client-chosen message id (UUIDv7) makes a retried frame idempotent.
        id: Option<String>,
        /// An agent type to answer, skipping the moderator.
        mention: Option<String>,
    },
    /// The conversation's recent messages, to this socket (API Gateway cannot send anything
    /// to a socket from `$connect`).
    History,
    #[serde(other)]
    Unknown,
}

/// Parses a client frame; the error is the `content` of the `error` frame to send back.
pub fn parse(body: Option<&str>) -> Result<ClientFrame, &'static str> {
    let body = body.unwrap_or("");
    if body.len() > crate::MAX_FRAME_BYTES {
        return Err("Message too large");
    }
    if thanotopolis_service::json_depth(body.as_bytes()) > thanotopolis_service::MAX_JSON_DEPTH {
        return Err("Message nested too deeply");
    }
    let value: Value = serde_json::from_str(body).map_err(|_| "Invalid message format")?;
    if !value.get("type").is_some_and(|t| t.is_string()) {
        return Err("Invalid message format");
    }
    serde_json::from_value(value).map_err(|_| "Invalid message format")
}

/// UTC now, RFC 3339 with `Z` (the original sent naive local-looking times: decision D13).
pub fn now() -> String {
    thanotopolis_tenant_auth::now_rfc3339()
}

pub fn pong() -> Value {
    json!({ "type": "pong", "timestamp": now() })
}

pub fn error(content: &str) -> Value {
    json!({ "type": "error", "content": content, "timestamp": now() })
}

pub fn presence(kind: &str, who: &Person) -> Value {
    json!({ "type": kind, "email": who.email, "username": who.username, "timestamp": now() })
}

pub fn typing(who: &Person, is_typing: bool, is_owner: bool) -> Value {
    json!({
        "type": "typing_status",
        "identifier": who.email,
        "is_owner": is_owner,
        "is_typing": is_typing,
        "timestamp": now(),
    })
}

/// A `message` frame (table 9.4.1) for a user's or an agent's message. `author` is the human
/// author when known; `is_owner` is per recipient (decision D3).
pub fn message(
    m: &MessageRecord,
    author: Option<&Person>,
    is_owner: bool,
    is_history: bool,
) -> Value {
    let mut frame = match &m.agent_type {
        Some(agent) => json!({
            "type": "message",
            "id": m.id,
            "content": m.content,
            "identifier": agent,
            "email": format!("{}@thanotopolis.local", agent.to_lowercase()),
            "is_owner": false,
            "sender_name": agent,
            "sender_type": "agent",
            "message_type": "agent",
            "agent_type": agent,
            "timestamp": m.created_at,
            "agent_metadata": agent_metadata(agent, m.metadata.as_ref()),
        }),
        None => {
            let email = author.map(|a| a.email.clone()).unwrap_or_default();
            json!({
                "type": "message",
                "id": m.id,
                "content": m.content,
                "identifier": email,
                "email": email,
                "is_owner": is_owner,
                "sender_name": m.sender_name,
                "sender_type": m.sender_type,
                "timestamp": m.created_at,
                "user_metadata": author.map(|a| json!({
                    "username": a.username, "first_name": a.first_name, "last_name": a.last_name,
                })),
            })
        }
    };
    if is_history {
        frame["is_history"] = true.into();
    }
    frame
}

/// An agent message's metadata as frames show it: the contract's three fields, plus the
/// collaborators and tools of the reply when it had any.
fn agent_metadata(agent: &str, stored: Option<&Value>) -> Value {
    let mut meta = json!({ "agent_type": agent, "message_type": "agent", "sender_type": "agent" });
    for field in ["collaborators", "tools_used", "routed_by"] {
        if let Some(v) = stored.and_then(|s| s.get(field)) {
            meta[field] = v.clone();
        }
    }
    meta
}

pub fn token(token: &str, agent_type: &str, message_id: uuid::Uuid) -> Value {
    json!({ "type": "token", "token": token, "agent_type": agent_type, "message_id": message_id })
}

/// What an agent is doing before its reply arrives: `using_tool` (with the tool's name).
/// Clients that do not know the frame ignore it.
pub fn agent_status(agent_type: &str, status: &str, tool: Option<&str>) -> Value {
    json!({
        "type": "agent_status",
        "agent_type": agent_type,
        "status": status,
        "tool": tool,
        "timestamp": now(),
    })
}
