//! Cold start of every function: builds the release binaries, then starts each one `RUNS` times
//! against a local Lambda Runtime API (the HTTP interface the Lambda service offers a custom
//! runtime) and prints process start → first `next` poll (init) and → first response (first
//! request served), median and worst, with the binary's size and peak resident memory. The
//! functions get Lambda's configuration (DynamoDB store, which nothing at init or in the 404
//! request contacts). Run: `cargo bench -p thanotopolis-tests --bench cold_start`; with
//! `THANOTOPOLIS_BENCH_BINARIES=DIR` it measures the binaries in DIR instead of building
//! (how docs/performance.md compares release profiles).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FUNCTIONS: &[&str] = &[
    "thanotopolis-fn-health",
    "thanotopolis-fn-auth",
    "thanotopolis-fn-organizations",
    "thanotopolis-fn-agents",
    "thanotopolis-fn-conversations",
    "thanotopolis-fn-admin",
    "thanotopolis-fn-voice",
    "thanotopolis-fn-realtime",
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

/// Cold starts per function; the median is reported, and the worst.
const RUNS: usize = 15;

struct Sample {
    init: Duration,
    first_response: Duration,
    /// Peak resident memory after the first request (`VmHWM`), in KiB.
    peak_rss_kib: Option<u64>,
}

/// The process's peak resident set so far, from `/proc` (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One cold start of `binary` against a fresh Runtime API serving `event`.
async fn cold_start(name: &str, binary: &std::path::Path, event: Value) -> Result<Sample, String> {
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
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "cold")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "cold")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "cold")
        .env("AWS_SECRET_ACCESS_KEY", "cold")
        .env("AWS_SESSION_TOKEN", "cold")
        .env("JWT_SECRET_KEY", "a-cold-start-secret-of-at-least-32-bytes")
        .env("THANOTOPOLIS_STORE", "dynamodb")
        .env("THANOTOPOLIS_TABLE", "cold")
        .env("THANOTOPOLIS_CONNECTIONS_TABLE", "cold-connections")
        .env(
            "WEBSOCKET_MANAGEMENT_ENDPOINT",
            "https://example.execute-api.us-east-1.amazonaws.com/prod",
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start {}: {e}", binary.display()))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = {
            let s = seen.lock().unwrap();
            s.first_response.is_some() || s.error.is_some()
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
    let peak_rss_kib = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    let s = seen.lock().unwrap();
    if let Some(e) = &s.error {
        return Err(format!(
            "error: {}",
            e.chars().take(200).collect::<String>()
        ));
    }
    match (s.first_next, s.first_response, s.status) {
        (Some(init), Some(first), Some(status)) if status < 500 => Ok(Sample {
            init: init - started,
            first_response: first - started,
            peak_rss_kib,
        }),
        _ => Err(format!("no answer (status {:?})", s.status)),
    }
}

fn ms(d: Duration) -> String {
    format!("{:>6.2} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let binaries = match std::env::var("THANOTOPOLIS_BENCH_BINARIES") {
        Ok(dir) => std::path::PathBuf::from(dir),
        Err(_) => {
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
            std::env::var("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|_| root.join("target"))
                .join("release")
        }
    };

    println!(
        "cold start against a local Lambda Runtime API ({}, {RUNS} runs each, median / worst):",
        binaries.display()
    );
    for f in FUNCTIONS {
        let binary = binaries.join(f);
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        let mut samples = Vec::new();
        let mut failure = None;
        for _ in 0..RUNS {
            let event = if *f == "thanotopolis-fn-realtime" {
                websocket_event()
            } else {
                rest_event()
            };
            match cold_start(f, &binary, event).await {
                Ok(sample) => samples.push(sample),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            println!("  {f:<32} {e}");
            continue;
        }
        let mut init: Vec<Duration> = samples.iter().map(|s| s.init).collect();
        let mut first: Vec<Duration> = samples.iter().map(|s| s.first_response).collect();
        init.sort();
        first.sort();
        let rss = samples.iter().filter_map(|s| s.peak_rss_kib).max();
        println!(
            "  {f:<32} init {} / {}   first response {} / {}   binary {:.1} MiB   peak RSS {}",
            ms(init[RUNS / 2]),
            ms(init[RUNS - 1]),
            ms(first[RUNS / 2]),
            ms(first[RUNS - 1]),
            size as f64 / 1_048_576.0,
            rss.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                .unwrap_or_else(|| "—".into()),
        );
    }
}
