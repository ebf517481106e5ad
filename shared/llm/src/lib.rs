//! A client for OpenAI-compatible Chat Completions APIs, configured the way OpenAI's own SDKs
//! are (`OPENAI_BASE_URL`, `OPENAI_API_KEY`, and `OPENAI_MODEL` for the model name).
//!
//! It asks for JSON answers (the moderator's structured choice) and streams replies over
//! server-sent events, handing each text delta to the caller as it arrives. Token counts are
//! the provider's own (`usage`, requested with `stream_options.include_usage`). Nothing here
//! ever makes up a reply: without a configured provider there is no client, and a failing
//! provider is an error.

use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Where the model lives.
#[derive(Clone)]
pub struct LlmSettings {
    pub base_url: String,
    pub api_key: String,
    pub model: String,
}

impl std::fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSettings")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("model", &self.model)
            .finish()
    }
}

/// OpenAI's public API, the default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

impl LlmSettings {
    /// `None` when `OPENAI_API_KEY` is not set: no provider is configured.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Some(LlmSettings {
            api_key: var("OPENAI_API_KEY")?,
            base_url: var("OPENAI_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.into()),
            model: var("OPENAI_MODEL").unwrap_or_else(|| DEFAULT_MODEL.into()),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The provider answered with an error status.
    #[error("the language model provider answered {status}: {message}")]
    Provider { status: u16, message: String },
    /// The provider could not be reached, or the connection broke.
    #[error("the language model provider could not be reached: {0}")]
    Transport(String),
    /// The provider's answer was not what the protocol promises.
    #[error("the language model provider sent an unreadable answer: {0}")]
    Protocol(String),
}

/// One chat message.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ChatMessage {
    pub role: &'static str,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "system",
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "user",
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "assistant",
            content: content.into(),
        }
    }
}

/// A finished answer and what it cost, as the provider reported.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub content: String,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    settings: LlmSettings,
}

impl LlmClient {
    pub fn new(settings: LlmSettings) -> Result<Self, LlmError> {
        thanotopolis_service::aws::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| LlmError::Transport(e.to_string()))?;
        Ok(LlmClient { http, settings })
    }

    pub fn model(&self) -> &str {
        &self.settings.model
    }

    async fn post(&self, body: Value) -> Result<reqwest::Response, LlmError> {
        let url = format!(
            "{}/chat/completions",
            self.settings.base_url.trim_end_matches('/')
        );
        let res = self
            .http
            .post(url)
            .bearer_auth(&self.settings.api_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| LlmError::Transport(e.to_string()))?;
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let text = res.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.chars().take(300).collect());
        Err(LlmError::Provider {
            status: status.as_u16(),
            message,
        })
    }

    /// A JSON object answer (`response_format: json_object`).
    pub async fn complete_json(
        &self,
        messages: &[ChatMessage],
    ) -> Result<(Value, Completion), LlmError> {
        let body = json!({
            "model": self.settings.model,
            "messages": messages,
            "response_format": { "type": "json_object" },
            "temperature": 0,
        });
        let answer: Value = self
            .post(body)
            .await?
            .json()
            .await
            .map_err(|e| LlmError::Protocol(e.to_string()))?;
        let content = answer["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| LlmError::Protocol("no choices[0].message.content".into()))?
            .to_string();
        let parsed = serde_json::from_str(&content)
            .map_err(|e| LlmError::Protocol(format!("content is not JSON: {e}")))?;
        Ok((parsed, completion(&answer, content, &self.settings.model)))
    }

    /// Streams an answer: each text delta goes to `tokens` as it arrives; the whole answer and
    /// the provider's token counts come back at the end.
    pub async fn stream(
        &self,
        messages: &[ChatMessage],
        tokens: &UnboundedSender<String>,
    ) -> Result<Completion, LlmError> {
        let body = json!({
            "model": self.settings.model,
            "messages": messages,
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        let mut events = self.post(body).await?.bytes_stream();
        let mut buffer = Vec::new();
        let mut content = String::new();
        let mut usage = Value::Null;
        let mut model = self.settings.model.clone();
        while let Some(chunk) = events.next().await {
            buffer.extend_from_slice(&chunk.map_err(|e| LlmError::Transport(e.to_string()))?);
            while let Some((event, rest)) = split_event(&buffer) {
                let data = event_data(event);
                buffer = rest.to_vec();
                let Some(data) = data else { continue };
                if data == "[DONE]" {
                    return Ok(finish(content, model, &usage));
                }
                let chunk: Value = serde_json::from_str(&data)
                    .map_err(|e| LlmError::Protocol(format!("bad event: {e}")))?;
                if let Some(m) = chunk["model"].as_str() {
                    model = m.to_string();
                }
                if !chunk["usage"].is_null() {
                    usage = chunk["usage"].clone();
                }
                if let Some(delta) = chunk["choices"][0]["delta"]["content"].as_str() {
                    if !delta.is_empty() {
                        content.push_str(delta);
                        // The receiver may be gone (nobody listening); the answer still counts.
                        let _ = tokens.send(delta.to_string());
                    }
                }
            }
        }
        Err(LlmError::Protocol("the stream ended without [DONE]".into()))
    }
}

fn completion(answer: &Value, content: String, default_model: &str) -> Completion {
    Completion {
        model: answer["model"]
            .as_str()
            .unwrap_or(default_model)
            .to_string(),
        prompt_tokens: answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        completion_tokens: answer["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        content,
    }
}

fn finish(content: String, model: String, usage: &Value) -> Completion {
    Completion {
        content,
        model,
        prompt_tokens: usage["prompt_tokens"].as_u64().unwrap_or(0),
        completion_tokens: usage["completion_tokens"].as_u64().unwrap_or(0),
    }
}

/// The first complete server-sent event in `buf` (events end with a blank line) and the rest.
fn split_event(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    let (at, len) = match (lf, crlf) {
        (Some(a), Some(b)) => {
            if a.0 <= b.0 {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return None,
    };
    Some((&buf[..at], &buf[at + len..]))
}

/// The `data:` lines of an event, joined; `None` for events without data (comments, pings).
fn event_data(event: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(event);
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_blank_lines_in_either_newline_style() {
        let buf = b"data: {\"a\":1}\n\ndata: [DONE]\r\n\r\npartial";
        let (first, rest) = split_event(buf).unwrap();
        assert_eq!(event_data(first).as_deref(), Some("{\"a\":1}"));
        let (second, rest) = split_event(rest).unwrap();
        assert_eq!(event_data(second).as_deref(), Some("[DONE]"));
        assert_eq!(rest, b"partial");
        assert!(split_event(rest).is_none());
        assert_eq!(event_data(b": keep-alive"), None);
    }
}
