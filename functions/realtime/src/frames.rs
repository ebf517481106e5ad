//! WebSocket frames: JSON text with a `type` field, both ways (CONTRACT §9.3, §9.4).

use serde::{Deserialize, Serialize};

/// A frame from a client.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Ping,
    #[serde(other)]
    Unknown,
}

/// A frame to clients.
#[derive(Debug, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Pong { timestamp: String },
    Error { content: String, timestamp: String },
}

impl ServerFrame {
    pub fn pong() -> Self {
        ServerFrame::Pong { timestamp: now() }
    }

    pub fn error(content: impl Into<String>) -> Self {
        ServerFrame::Error {
            content: content.into(),
            timestamp: now(),
        }
    }
}

/// Parses a client frame; the error is the `content` of the `error` frame to send back.
pub(crate) fn parse(body: Option<&str>) -> Result<ClientFrame, &'static str> {
    let body = body.unwrap_or("");
    if body.len() > crate::MAX_FRAME_BYTES {
        return Err("Message too large");
    }
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|_| "Invalid message format")?;
    if !value.get("type").is_some_and(|t| t.is_string()) {
        return Err("Invalid message format");
    }
    serde_json::from_value(value).map_err(|_| "Invalid message format")
}

/// UTC now, RFC 3339 with `Z` (the original sent naive local-looking times: CONTRACT §1.6).
pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
