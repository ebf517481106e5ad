//! A local server speaking the OpenAI Chat Completions wire format, started by tests: JSON
//! answers for `response_format: json_object` requests, server-sent events for `stream: true`
//! (text deltas or streamed `tool_calls`, then a usage chunk, then `[DONE]`), plain answers,
//! slow answers or an error status, scripted per request. It records every request so tests
//! can check what the backend sent.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use thanotopolis_llm::LlmSettings;

/// One answer of the fake provider.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Text: streamed as these deltas, or (not streamed) their concatenation as the content.
    Text(Vec<String>),
    /// Streamed tool calls `(name, arguments)`, each call's arguments split over two deltas.
    ToolCalls(Vec<(String, String)>),
    /// Answer with this status and an OpenAI-style error body.
    Fail(u16),
    /// Wait, then answer.
    Slow(std::time::Duration, Box<Answer>),
    /// Streamed text deltas with this pause before each, as a real model paces them.
    Paced(Vec<String>, std::time::Duration),
}

/// Picks the answer to a request body (`None`: the script's default answer).
pub type Responder = Arc<dyn Fn(&Value) -> Option<Answer> + Send + Sync>;

/// What the fake provider answers.
#[derive(Clone)]
pub struct Script {
    /// The reply, streamed as these deltas (and the content of plain answers).
    pub tokens: Vec<String>,
    /// The moderator's JSON answer (for `response_format: json_object`).
    pub choice: Value,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Answer every request with this status instead.
    pub fail_with: Option<u16>,
    /// Leave `usage` out of every answer.
    pub omit_usage: bool,
    /// Per-request answers, before the defaults above.
    pub respond: Option<Responder>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            tokens: vec!["I am ".into(), "so sorry ".into(), "for your loss.".into()],
            choice: json!({ "primary_agent": "GRIEF_SUPPORT", "supporting_agents": [], "reason": "bereavement" }),
            prompt_tokens: 42,
            completion_tokens: 7,
            fail_with: None,
            omit_usage: false,
            respond: None,
        }
    }
}

/// What kind of call a request body is, as the backend makes them.
pub fn kind(body: &Value) -> &'static str {
    let system = body["messages"][0]["content"].as_str().unwrap_or_default();
    if body["response_format"]["type"] == "json_object" {
        "routing"
    } else if system.starts_with("You keep the memory") {
        "summary"
    } else if system.contains("You are consulted by") {
        "consultation"
    } else if body["messages"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"))
    {
        "tool_round"
    } else {
        "reply"
    }
}

#[derive(Clone)]
pub struct FakeOpenAi {
    pub settings: LlmSettings,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl FakeOpenAi {
    pub async fn start(script: Script) -> FakeOpenAi {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state((script, requests.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        FakeOpenAi {
            settings: LlmSettings {
                base_url: format!("http://{addr}/v1"),
                api_key: "test-key".into(),
                model: "gpt-4o-mini".into(),
            },
            requests,
        }
    }

    /// Every request body received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn completions(
    State((script, requests)): State<(Script, Arc<Mutex<Vec<Value>>>)>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    requests.lock().expect("lock").push(body.clone());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer test-key") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "message": "bad key" } })),
        )
            .into_response();
    }
    let answer = match (&script.respond, script.fail_with) {
        (_, Some(status)) => Answer::Fail(status),
        (Some(respond), None) => respond(&body).unwrap_or_else(|| default_answer(&script, &body)),
        (None, None) => default_answer(&script, &body),
    };
    serve(&script, &body, answer).await
}

fn default_answer(script: &Script, body: &Value) -> Answer {
    if body["response_format"]["type"] == "json_object" {
        Answer::Text(vec![script.choice.to_string()])
    } else {
        Answer::Text(script.tokens.clone())
    }
}

fn serve<'a>(
    script: &'a Script,
    body: &'a Value,
    answer: Answer,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send + 'a>> {
    Box::pin(async move {
        let usage = (!script.omit_usage).then(|| {
            json!({
                "prompt_tokens": script.prompt_tokens,
                "completion_tokens": script.completion_tokens,
                "total_tokens": script.prompt_tokens + script.completion_tokens,
            })
        });
        let model = "gpt-4o-mini-2024-07-18";
        match answer {
            Answer::Slow(delay, then) => {
                tokio::time::sleep(delay).await;
                serve(script, body, *then).await
            }
            Answer::Paced(tokens, _) if body["stream"] != true => {
                serve(script, body, Answer::Text(tokens)).await
            }
            Answer::Paced(tokens, pause) => {
                let mut events: Vec<String> = tokens
                    .iter()
                    .map(|t| {
                        let chunk = json!({ "id": "chatcmpl-3", "object": "chat.completion.chunk", "model": model,
                            "choices": [{ "index": 0, "delta": { "content": t }, "finish_reason": null }], "usage": null });
                        format!("data: {chunk}\n\n")
                    })
                    .collect();
                if let Some(usage) = usage {
                    let last = json!({ "id": "chatcmpl-3", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage });
                    events.push(format!("data: {last}\n\n"));
                }
                events.push("data: [DONE]\n\n".into());
                let stream = futures::stream::iter(events).then(move |event| async move {
                    tokio::time::sleep(pause).await;
                    Ok::<_, std::convert::Infallible>(event)
                });
                (
                    [("content-type", "text/event-stream")],
                    axum::body::Body::from_stream(stream),
                )
                    .into_response()
            }
            Answer::Fail(status) => (
                StatusCode::from_u16(status).expect("status"),
                Json(json!({ "error": { "message": "the model is overloaded" } })),
            )
                .into_response(),
            Answer::Text(tokens) if body["stream"] != true => Json(json!({
                "id": "chatcmpl-1", "object": "chat.completion", "model": model,
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": tokens.concat() }, "finish_reason": "stop" }],
                "usage": usage,
            }))
            .into_response(),
            Answer::ToolCalls(_) if body["stream"] != true => {
                (StatusCode::BAD_REQUEST, "tool calls are only scripted for streams").into_response()
            }
            Answer::Text(tokens) => {
                let chunks = tokens
                    .iter()
                    .map(|t| json!({ "index": 0, "delta": { "content": t }, "finish_reason": null }))
                    .collect();
                sse(model, chunks, usage)
            }
            Answer::ToolCalls(calls) => {
                let mut chunks = Vec::new();
                for (i, (name, args)) in calls.iter().enumerate() {
                    let (head, tail) = args.split_at(args.len() / 2);
                    chunks.push(json!({ "index": 0, "delta": { "role": "assistant", "content": null, "tool_calls": [
                        { "index": i, "id": format!("call_{i}"), "type": "function", "function": { "name": name, "arguments": "" } }
                    ] }, "finish_reason": null }));
                    for part in [head, tail] {
                        chunks.push(json!({ "index": 0, "delta": { "tool_calls": [
                            { "index": i, "function": { "arguments": part } }
                        ] }, "finish_reason": null }));
                    }
                }
                chunks.push(json!({ "index": 0, "delta": {}, "finish_reason": "tool_calls" }));
                sse(model, chunks, usage)
            }
        }
    })
}

/// A server-sent event stream of `choices`, then the usage chunk (if any), then `[DONE]`.
fn sse(model: &str, choices: Vec<Value>, usage: Option<Value>) -> Response {
    let mut body = String::new();
    for choice in choices {
        let chunk = json!({
            "id": "chatcmpl-2", "object": "chat.completion.chunk", "model": model,
            "choices": [choice], "usage": null,
        });
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    if let Some(usage) = usage {
        let last = json!({ "id": "chatcmpl-2", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage });
        body.push_str(&format!("data: {last}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    ([("content-type", "text/event-stream")], body).into_response()
}
