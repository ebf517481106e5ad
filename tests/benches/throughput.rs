//! Throughput and latency through the local gateway on the embedded store, at a fixed
//! concurrency of 16 clients, for login, me, list agents, list conversations, list messages and
//! post message: requests/s, p50, p99. Run: `cargo bench -p thanotopolis-tests --bench throughput`.

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thanotopolis_tests::{Backend, TestApp};

const CONCURRENCY: usize = 16;

/// Runs `requests` requests from [`CONCURRENCY`] clients and prints their rate, unless the
/// bench was given words (`cargo bench --bench throughput -- messages`) and `label` has none.
async fn run(
    app: &Arc<TestApp>,
    label: &str,
    requests: usize,
    make: impl Fn() -> (reqwest::Method, String, Option<serde_json::Value>) + Send + Sync + 'static,
    token: Option<String>,
) {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !only.is_empty() && !only.iter().any(|w| label.contains(w.as_str())) {
        return;
    }
    let make = Arc::new(make);
    let started = Instant::now();
    let per_client = requests / CONCURRENCY;
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let app = app.clone();
        let make = make.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let (method, path, body) = make();
                let t = Instant::now();
                let mut req = app.http.request(method, app.url(&path));
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                if let Some(b) = &body {
                    req = req.json(b);
                }
                // The clients share the gateway's two cores: they read the answer's bytes
                // but do not parse them, as a load generator like wrk would not.
                let res = req.send().await.expect("HTTP request");
                assert_eq!(res.status(), 200, "{path}");
                let bytes = res.bytes().await.expect("response body");
                assert!(!bytes.is_empty(), "{path}");
                samples.push(t.elapsed());
            }
            samples
        }));
    }
    let mut samples: Vec<Duration> = Vec::new();
    for t in tasks {
        samples.extend(t.await.expect("client"));
    }
    let elapsed = started.elapsed();
    samples.sort();
    let p = |q: f64| {
        samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e3
    };
    println!(
        "  {label:<34} {:>8.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
        samples.len() as f64 / elapsed.as_secs_f64(),
        p(0.5),
        p(0.99)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let app = Arc::new(TestApp::spawn(Backend::Embedded).await);
    let org = app.register_org().await;
    let token = org.admin.access.clone();
    let conv = app
        .create_conversation(Some(&token), json!({ "title": "load" }))
        .await;
    for i in 0..100 {
        app.post(
            &format!("/api/conversations/{conv}/messages"),
            Some(&token),
            json!({ "content": format!("m{i}") }),
        )
        .await;
    }
    // 200 messages of ~360 bytes each as JSON: the 72 KB answer.
    let long = app
        .create_conversation(Some(&token), json!({ "title": "history" }))
        .await;
    for i in 0..200 {
        app.post(
            &format!("/api/conversations/{long}/messages"),
            Some(&token),
            json!({ "content": format!("{i:03} {}", "lorem ipsum ".repeat(10)) }),
        )
        .await;
    }
    for i in 0..20 {
        app.post(
            "/api/conversations",
            Some(&token),
            json!({ "title": format!("c{i}") }),
        )
        .await;
    }
    println!("local gateway, embedded store, {CONCURRENCY} concurrent clients:");
    let (email, password) = (org.admin.email.clone(), org.admin.password.clone());
    run(
        &app,
        "POST /api/auth/login",
        160,
        move || {
            (
                reqwest::Method::POST,
                "/api/auth/login".into(),
                Some(json!({ "email": email, "password": password })),
            )
        },
        None,
    )
    .await;
    run(
        &app,
        "GET /api/auth/me",
        4000,
        || (reqwest::Method::GET, "/api/auth/me".into(), None),
        Some(token.clone()),
    )
    .await;
    run(
        &app,
        "GET /api/agents",
        4000,
        || (reqwest::Method::GET, "/api/agents".into(), None),
        Some(token.clone()),
    )
    .await;
    run(
        &app,
        "GET /api/conversations",
        4000,
        || (reqwest::Method::GET, "/api/conversations".into(), None),
        Some(token.clone()),
    )
    .await;
    let path = format!("/api/conversations/{conv}/messages?limit=50");
    run(
        &app,
        "GET …/messages?limit=50",
        4000,
        move || (reqwest::Method::GET, path.clone(), None),
        Some(token.clone()),
    )
    .await;
    let path = format!("/api/conversations/{long}/messages?limit=200");
    let (_, answer) = app.get(&path, Some(&token)).await;
    let label = format!(
        "GET …/messages (200, {} KB)",
        answer.to_string().len() / 1000
    );
    run(
        &app,
        &label,
        2000,
        move || (reqwest::Method::GET, path.clone(), None),
        Some(token.clone()),
    )
    .await;
    let path = format!("/api/conversations/{conv}/messages");
    run(
        &app,
        "POST …/messages",
        2000,
        move || {
            (
                reqwest::Method::POST,
                path.clone(),
                Some(json!({ "content": "load test message" })),
            )
        },
        Some(token.clone()),
    )
    .await;
}
