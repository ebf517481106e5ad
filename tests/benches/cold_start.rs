//! Cold start of every function: builds the release binaries, then runs each against a local
//! Lambda Runtime API (the HTTP interface the Lambda service offers a custom runtime) and
//! prints process start → first `next` poll (init), → first response (first request served),
//! and the binary's size. Run: `cargo bench -p thanotopolis-tests --bench cold_start`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FUNCTIONS: &[&str] = &[
    "thanotopolis-health",
    "thanotopolis-auth",
    "thanotopolis-organizations",
    "thanotopolis-agents-api",
    "thanotopolis-conversations-api",
    "thanotopolis-admin-api",
    "thanotopolis-voice",
    "thanotopolis-realtime",
];

#[derive(Default)]
struct Seen {
    first_next: Option<Instant>,
    first_response: Option<Instant>,
    status: Option<i64>,
    error: Option<String>,
}

type Shared = (Arc<Mutex<Seen>>, Value);

fn rest_event() -> Value {
    json!({
        "resource": "/{proxy+}", "path": "/cold-start", "httpMethod": "GET",
        "headers": { "Host": "example.execute-api.us-east-1.amazonaws.com" },
        "multiValueHeaders": { "Host": ["example.execute-api.us-east-1.amazonaws.com"] },
        "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "pathParameters": { "proxy": "cold-start" }, "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "abc", "stage": "prod", "requestId": "cold-1",
            "identity": { "sourceIp": "127.0.0.1" }, "resourcePath": "/{proxy+}", "httpMethod": "GET",
            "apiId": "example", "path": "/prod/cold-start", "protocol": "HTTP/1.1",
            "requestTimeEpoch": 0
        },
        "body": null, "isBase64Encoded": false
    })
}

fn websocket_event() -> Value {
    json!({
        "headers": {}, "multiValueHeaders": {},
        "requestContext": {
            "routeKey": "$connect", "eventType": "CONNECT", "connectionId": "cold-1",
            "domainName": "example.execute-api.us-east-1.amazonaws.com", "stage": "prod",
            "requestId": "cold-1", "apiId": "example", "connectedAt": 0, "requestTimeEpoch": 0,
            "identity": { "sourceIp": "127.0.0.1" }
        },
        "isBase64Encoded": false
    })
}

async fn next(State((seen, event)): State<Shared>) -> (HeaderMap, Json<Value>) {
    let first = {
        let mut s = seen.lock().unwrap();
        let first = s.first_next.is_none();
        if first {
            s.first_next = Some(Instant::now());
        }
        first
    };
    if !first {
        // The function is warm and waiting; hold its poll until the process is stopped.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", "cold-1".parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        "99999999999999".parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:cold"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".parse().unwrap(),
    );
    (headers, Json(event))
}

async fn respond(
    State((seen, _)): State<Shared>,
    Path(_id): Path<String>,
    body: axum::body::Bytes,
) -> &'static str {
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = seen.lock().unwrap();
    s.first_response.get_or_insert_with(Instant::now);
    s.status = answer["statusCode"].as_i64();
    "{}"
}

async fn failed(State((seen, _)): State<Shared>, body: String) -> &'static str {
    seen.lock().unwrap().error = Some(body);
    "{}"
}

#[tokio::main]
async fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(&root)
        .args(["build", "--release", "--quiet"]);
    for f in FUNCTIONS {
        build.args(["--bin", f]);
    }
    assert!(
        build.status().expect("cargo build").success(),
        "release build failed"
    );
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let data = tempfile::tempdir().unwrap();

    println!("cold start against a local Lambda Runtime API (release build, this machine):");
    for f in FUNCTIONS {
        let event = if *f == "thanotopolis-realtime" {
            websocket_event()
        } else {
            rest_event()
        };
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(failed))
            .route("/2018-06-01/runtime/init/error", post(failed))
            .with_state((seen.clone(), event));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let binary = target.join("release").join(f);
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        let started = Instant::now();
        let mut child = Command::new(&binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", f)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "cold")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "cold")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "cold")
            .env("AWS_SECRET_ACCESS_KEY", "cold")
            .env("JWT_SECRET_KEY", "a-cold-start-secret-of-at-least-32-bytes")
            .env("THANOTOPOLIS_STORE", "embedded")
            .env("THANOTOPOLIS_DATA_DIR", data.path().join(f))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start function");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let done = {
                let s = seen.lock().unwrap();
                s.first_response.is_some() || s.error.is_some()
            };
            if done || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        server.abort();
        let s = seen.lock().unwrap();
        let ms = |t: Option<Instant>| {
            t.map(|t| format!("{:>7.2} ms", (t - started).as_secs_f64() * 1e3))
                .unwrap_or_else(|| "      —   ".into())
        };
        println!(
            "  {f:<32} init {}   first response {} (status {})   binary {:.1} MB{}",
            ms(s.first_next),
            ms(s.first_response),
            s.status
                .map(|c| c.to_string())
                .unwrap_or_else(|| "—".into()),
            size as f64 / 1_048_576.0,
            s.error
                .as_ref()
                .map(|e| format!("   error: {}", e.chars().take(120).collect::<String>()))
                .unwrap_or_default(),
        );
    }
}
