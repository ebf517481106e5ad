//! A local server speaking the OpenAI Chat Completions wire format, started by tests: JSON
//! answers for `response_format: json_object` requests, server-sent events for `stream: true`
//! (deltas, then a usage chunk, then `[DONE]`), or an error status. It records every request
//! so tests can check what the backend sent.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use thanotopolis_llm::LlmSettings;

/// What the fake provider answers.
#[derive(Clone)]
pub struct Script {
    /// The reply, streamed as these deltas.
    pub tokens: Vec<String>,
    /// The moderator's JSON answer.
    pub choice: Value,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Answer every request with this status instead.
    pub fail_with: Option<u16>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            tokens: vec!["I am ".into(), "so sorry ".into(), "for your loss.".into()],
            choice: json!({ "agent_type": "GRIEF_SUPPORT", "reason": "bereavement" }),
            prompt_tokens: 42,
            completion_tokens: 7,
            fail_with: None,
        }
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
    if let Some(status) = script.fail_with {
        let status = StatusCode::from_u16(status).expect("status");
        return (
            status,
            Json(json!({ "error": { "message": "the model is overloaded" } })),
        )
            .into_response();
    }
    let usage = json!({
        "prompt_tokens": script.prompt_tokens,
        "completion_tokens": script.completion_tokens,
        "total_tokens": script.prompt_tokens + script.completion_tokens,
    });
    if body["stream"] != true {
        return Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": script.choice.to_string() }, "finish_reason": "stop" }],
            "usage": usage,
        }))
        .into_response();
    }
    let mut sse = String::new();
    for t in &script.tokens {
        let chunk = json!({
            "id": "chatcmpl-2", "object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18",
            "choices": [{ "index": 0, "delta": { "content": t }, "finish_reason": null }],
            "usage": null,
        });
        sse.push_str(&format!("data: {chunk}\n\n"));
    }
    let last = json!({ "id": "chatcmpl-2", "object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18", "choices": [], "usage": usage });
    sse.push_str(&format!("data: {last}\n\ndata: [DONE]\n\n"));
    ([("content-type", "text/event-stream")], sse).into_response()
}
