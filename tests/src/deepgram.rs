//! A local server speaking Deepgram's HTTP API for tests: pre-recorded `POST /v1/listen`
//! (answers a fixed transcript with the duration of the script), `POST /v1/auth/grant`, and
//! the management API's `GET /v1/projects/{id}/requests` (the requests a test lists, paged).
//! It records each request's query parameters so tests can check what the backend sent.

use axum::extract::Path;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use thanotopolis_fn_voice::DeepgramSettings;

/// A request of project `proj-1` as Deepgram's management API lists it: a live stream of
/// `seconds` with `tags`, made now.
pub fn listed_request(id: &str, tags: &[&str], seconds: f64) -> Value {
    json!({
        "request_id": id,
        "project_uuid": "proj-1",
        "created": thanotopolis_tenant_auth::now_rfc3339(),
        "path": "/v1/listen?model=nova-2",
        "api_key_id": "key-1",
        "response": {
            "code": 200,
            "details": {
                "usd": seconds / 60.0 * 0.0043, "duration": seconds, "total_audio": seconds,
                "channels": 1, "streams": 1, "method": "streaming", "models": ["nova-2"],
                "tags": tags,
            }
        }
    })
}

/// One request seen: path, query parameters, body length.
pub type Seen = (String, HashMap<String, String>, usize);

#[derive(Clone)]
pub struct FakeDeepgram {
    pub settings: DeepgramSettings,
    requests: Arc<Mutex<Vec<Seen>>>,
    listed: Arc<Mutex<Vec<Value>>>,
}

type Shared = (Arc<Mutex<Vec<Seen>>>, Option<u16>);
/// The management API's state: what it saw, and the requests it lists.
type Listed = (Arc<Mutex<Vec<Seen>>>, Arc<Mutex<Vec<Value>>>);

impl FakeDeepgram {
    /// The project whose requests this server lists (`proj-1`), for the live STT import.
    pub fn project(&self) -> thanotopolis_usage::live_stt::DeepgramProject {
        thanotopolis_usage::live_stt::DeepgramProject::new(
            &self.settings.base_url,
            &self.settings.api_key,
            "proj-1",
        )
    }

    /// `fail_with`: answer every request with this status.
    pub async fn start(fail_with: Option<u16>) -> FakeDeepgram {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let listed = Arc::new(Mutex::new(Vec::new()));
        let management = Router::new()
            .route("/v1/projects/{project}/requests", get(list_requests))
            .with_state((requests.clone(), listed.clone()));
        let app = Router::new()
            .route("/v1/listen", post(listen))
            .route("/v1/auth/grant", post(grant))
            .with_state((requests.clone(), fail_with))
            .merge(management);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        FakeDeepgram {
            settings: DeepgramSettings {
                api_key: "dg-test-key".into(),
                base_url: format!("http://{addr}"),
                model: "nova-2".into(),
                language: "en-US".into(),
            },
            requests,
            listed,
        }
    }

    /// What the management API lists as the project's requests from now on (Deepgram's
    /// request shape: `request_id`, `created`, `response.details` with `duration`, `usd`,
    /// `tags`...).
    pub fn list(&self, requests: Vec<Value>) {
        *self.listed.lock().expect("lock") = requests;
    }

    /// (path, query parameters, body length) of each request.
    pub fn requests(&self) -> Vec<Seen> {
        self.requests.lock().expect("lock").clone()
    }
}

fn refuse(headers: &HeaderMap, fail_with: Option<u16>) -> Option<Response> {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Token dg-test-key") {
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "err_code": "INVALID_AUTH", "err_msg": "Invalid credentials." })),
            )
                .into_response(),
        );
    }
    fail_with.map(|s| {
        (
            StatusCode::from_u16(s).expect("status"),
            Json(json!({ "err_code": "SERVER_ERROR", "err_msg": "Deepgram is down." })),
        )
            .into_response()
    })
}

async fn listen(
    State((requests, fail_with)): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    requests
        .lock()
        .expect("lock")
        .push(("/v1/listen".into(), q.clone(), body.len()));
    if let Some(r) = refuse(&headers, fail_with) {
        return r;
    }
    let mut channel = json!({
        "alternatives": [{
            "transcript": "we would like a small service on friday",
            "confidence": 0.97,
            "words": [
                { "word": "we", "punctuated_word": "We", "start": 0.1, "end": 0.3, "confidence": 0.99, "speaker": 0 },
                { "word": "would", "punctuated_word": "would", "start": 0.3, "end": 0.5, "confidence": 0.98, "speaker": 0 }
            ],
            "paragraphs": { "paragraphs": [{ "sentences": [{ "text": "We would like a small service on Friday.", "start": 0.1, "end": 2.4 }], "start": 0.1, "end": 2.4, "speaker": 0 }] }
        }]
    });
    if q.get("detect_language").map(String::as_str) == Some("true") {
        channel["detected_language"] = "en".into();
    }
    Json(json!({ "metadata": { "duration": 12.5, "channels": 1 }, "results": { "channels": [channel] } })).into_response()
}

async fn grant(
    State((requests, fail_with)): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    requests
        .lock()
        .expect("lock")
        .push(("/v1/auth/grant".into(), HashMap::new(), body.len()));
    if let Some(r) = refuse(&headers, fail_with) {
        return r;
    }
    let ttl: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Json(json!({ "access_token": "temporary-token", "expires_in": ttl["ttl_seconds"] }))
        .into_response()
}

async fn list_requests(
    State((requests, listed)): State<Listed>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    requests
        .lock()
        .expect("lock")
        .push((format!("/v1/projects/{project}/requests"), q.clone(), 0));
    if let Some(r) = refuse(&headers, None) {
        return r;
    }
    let number =
        |name: &str, default: usize| q.get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (limit, page) = (number("limit", 10).clamp(1, 1000), number("page", 0));
    let all = listed.lock().expect("lock").clone();
    let shown: Vec<Value> = all.into_iter().skip(page * limit).take(limit).collect();
    Json(json!({ "page": page, "limit": limit, "requests": shown })).into_response()
}
