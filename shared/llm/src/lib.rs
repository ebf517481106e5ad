//! A client for OpenAI-compatible Chat Completions APIs, configured the way OpenAI's own SDKs
//! are (`OPENAI_BASE_URL`, `OPENAI_API_KEY`, and `OPENAI_MODEL` for the model name).
//!
//! It asks for JSON answers (the moderator's structured choice) and streams replies over
//! server-sent events, handing each text delta to the caller as it arrives, with function
//! tools (the streamed `tool_calls` deltas assembled into calls). Token counts are the
//! provider's own (`usage`, requested with `stream_options.include_usage`), unknown when it
//! reports none. Nothing here
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
    /// A JSON answer was asked for and the content is not a JSON object; the call's usage
    /// still counts.
    #[error("the language model's answer is not a JSON object")]
    NotJson(Usage),
}

/// One chat message: `system`, `user`, `assistant` (possibly asking for tool calls) or `tool`
/// (a tool's result, answering the call with `tool_call_id`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ChatMessage {
    pub role: &'static str,
    pub content: String,
    /// Who said it, among several users or agents (`^[A-Za-z0-9_-]{1,64}$`, see [`Self::named`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    fn new(role: &'static str, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
    /// This message, labelled with who said it (reduced to the characters the API accepts).
    pub fn named(mut self, who: &str) -> Self {
        let name: String = who
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        self.name = Some(name).filter(|n| !n.is_empty());
        self
    }

    /// The model's turn that asked for `calls` (sent back so the results can answer it).
    pub fn tool_request(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        ChatMessage {
            tool_calls: calls,
            ..Self::new("assistant", content)
        }
    }
    /// A tool's result for the call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            tool_call_id: Some(call_id.into()),
            ..Self::new("tool", content)
        }
    }
}

/// A function the model asked to call, with its arguments as the JSON text the model wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl Serialize for ToolCall {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        json!({
            "id": self.id,
            "type": "function",
            "function": { "name": self.name, "arguments": self.arguments },
        })
        .serialize(s)
    }
}

/// A tool the model may call: OpenAI's function-tool shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

impl ToolSpec {
    fn wire(&self) -> Value {
        json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        })
    }
}

/// What a call cost, as the provider reported. A provider that does not report `usage`
/// leaves the counts unknown (`None`), never 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Usage {
    pub model: String,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

impl Usage {
    fn from_wire(usage: &Value, model: String) -> Usage {
        Usage {
            model,
            prompt_tokens: usage["prompt_tokens"].as_u64(),
            completion_tokens: usage["completion_tokens"].as_u64(),
        }
    }

    /// Prompt plus completion tokens, if both are known.
    pub fn total(&self) -> Option<u64> {
        Some(self.prompt_tokens? + self.completion_tokens?)
    }
}

/// A finished answer and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub content: String,
    /// Tools the model asked to call instead of (or before) answering.
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
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

    /// A JSON object answer (`response_format: json_object`). An answer whose content is not
    /// a JSON object is [`LlmError::Protocol`], with its usage (the call still cost tokens).
    pub async fn complete_json(
        &self,
        messages: &[ChatMessage],
    ) -> Result<(Value, Completion), LlmError> {
        let completion = self.complete(messages, true).await?;
        match serde_json::from_str::<Value>(&completion.content) {
            Ok(v @ Value::Object(_)) => Ok((v, completion)),
            _ => Err(LlmError::NotJson(completion.usage)),
        }
    }

    /// A plain (not streamed) answer: for summaries and other internal calls.
    pub async fn complete(
        &self,
        messages: &[ChatMessage],
        json_object: bool,
    ) -> Result<Completion, LlmError> {
        let mut body = json!({
            "model": self.settings.model,
            "messages": messages,
            "temperature": 0,
        });
        if json_object {
            body["response_format"] = json!({ "type": "json_object" });
        }
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
        let model = answer["model"]
            .as_str()
            .unwrap_or(&self.settings.model)
            .to_string();
        Ok(Completion {
            content,
            tool_calls: Vec::new(),
            usage: Usage::from_wire(&answer["usage"], model),
        })
    }

    /// Streams an answer: each text delta goes to `tokens` as it arrives; the whole answer,
    /// any tool calls the model asked for (assembled from their streamed deltas) and the
    /// provider's token counts come back at the end. `tools` may be empty.
    pub async fn stream(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        tokens: &UnboundedSender<String>,
    ) -> Result<Completion, LlmError> {
        let mut body = json!({
            "model": self.settings.model,
            "messages": messages,
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        if !tools.is_empty() {
            body["tools"] = tools.iter().map(ToolSpec::wire).collect();
        }
        let mut events = self.post(body).await?.bytes_stream();
        let mut buffer = Vec::new();
        let mut content = String::new();
        let mut calls: Vec<ToolCall> = Vec::new();
        let mut usage = Value::Null;
        let mut model = self.settings.model.clone();
        while let Some(chunk) = events.next().await {
            buffer.extend_from_slice(&chunk.map_err(|e| LlmError::Transport(e.to_string()))?);
            while let Some((event, rest)) = split_event(&buffer) {
                let data = event_data(event);
                buffer = rest.to_vec();
                let Some(data) = data else { continue };
                if data == "[DONE]" {
                    calls.retain(|c| !c.name.is_empty());
                    return Ok(Completion {
                        content,
                        tool_calls: calls,
                        usage: Usage::from_wire(&usage, model),
                    });
                }
                let chunk: Value = serde_json::from_str(&data)
                    .map_err(|e| LlmError::Protocol(format!("bad event: {e}")))?;
                if let Some(m) = chunk["model"].as_str() {
                    model = m.to_string();
                }
                if !chunk["usage"].is_null() {
                    usage = chunk["usage"].clone();
                }
                let delta = &chunk["choices"][0]["delta"];
                if let Some(text) = delta["content"].as_str() {
                    if !text.is_empty() {
                        content.push_str(text);
                        // The receiver may be gone (nobody listening); the answer still counts.
                        let _ = tokens.send(text.to_string());
                    }
                }
                for part in delta["tool_calls"].as_array().into_iter().flatten() {
                    merge_tool_call(&mut calls, part)?;
                }
            }
        }
        Err(LlmError::Protocol("the stream ended without [DONE]".into()))
    }
}

/// Most tool calls one streamed answer may ask for (a model asking for more is refused).
pub const MAX_TOOL_CALLS: usize = 8;

/// Folds one streamed `tool_calls` delta into the calls so far: the first delta of a call
/// carries its `index`, `id` and name; later ones append to its arguments.
fn merge_tool_call(calls: &mut Vec<ToolCall>, part: &Value) -> Result<(), LlmError> {
    let index = part["index"].as_u64().unwrap_or(calls.len() as u64) as usize;
    if index >= MAX_TOOL_CALLS {
        return Err(LlmError::Protocol(format!(
            "more than {MAX_TOOL_CALLS} tool calls in one answer"
        )));
    }
    while calls.len() <= index {
        calls.push(ToolCall {
            id: String::new(),
            name: String::new(),
            arguments: String::new(),
        });
    }
    let call = &mut calls[index];
    if let Some(id) = part["id"].as_str() {
        call.id = id.to_string();
    }
    if let Some(name) = part["function"]["name"].as_str() {
        call.name.push_str(name);
    }
    if let Some(args) = part["function"]["arguments"].as_str() {
        call.arguments.push_str(args);
    }
    Ok(())
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

#[cfg(test)]
mod tool_call_tests {
    use super::*;

    #[test]
    fn streamed_tool_call_deltas_assemble_into_calls() {
        let mut calls = Vec::new();
        for part in [
            json!({"index": 0, "id": "call_1", "type": "function", "function": {"name": "calculate", "arguments": ""}}),
            json!({"index": 0, "function": {"arguments": "{\"expression\":"}}),
            json!({"index": 1, "id": "call_2", "function": {"name": "web_search", "arguments": "{}"}}),
            json!({"index": 0, "function": {"arguments": " \"1+1\"}"}}),
        ] {
            merge_tool_call(&mut calls, &part).unwrap();
        }
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].id, "call_1");
        assert_eq!(calls[0].name, "calculate");
        assert_eq!(calls[0].arguments, "{\"expression\": \"1+1\"}");
        assert_eq!(calls[1].name, "web_search");
        assert!(merge_tool_call(&mut calls, &json!({"index": 99})).is_err());
    }

    #[test]
    fn missing_usage_is_unknown_not_zero() {
        let usage = Usage::from_wire(&Value::Null, "m".into());
        assert_eq!(usage.prompt_tokens, None);
        assert_eq!(usage.total(), None);
        let usage = Usage::from_wire(
            &json!({"prompt_tokens": 3, "completion_tokens": 4}),
            "m".into(),
        );
        assert_eq!(usage.total(), Some(7));
    }
}
