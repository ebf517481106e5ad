//! Conversation endpoints through the local gateway on the embedded store: p50/p99 and store
//! round trips (counted in the store layer) for create conversation, list conversations, get
//! conversation, and list messages of conversations holding 100 and 10,000 messages.
//! Run: `cargo bench -p thanotopolis-tests --bench conversations`.

use serde_json::json;
use std::time::{Duration, Instant};
use thanotopolis_tests::{Backend, TestApp};

async fn measure<F, Fut>(app: &TestApp, name: &str, rounds: usize, mut op: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let store = app.gateway.app.stores.main.clone();
    let mut samples = Vec::with_capacity(rounds);
    let before = store.round_trips();
    for _ in 0..rounds {
        let t = Instant::now();
        assert_eq!(op().await, 200, "{name}");
        samples.push(t.elapsed());
    }
    let trips = (store.round_trips() - before) as f64 / rounds as f64;
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "{name:<44} p50 {:>8.2} ms   p99 {:>8.2} ms   store round trips {trips:.1}",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let org = app.register_org().await;
    let user = &org.admin;
    println!("conversation endpoints, embedded store (each round trip includes the auth read):");
    measure(&app, "POST /api/conversations", 200, || async {
        app.post(
            "/api/conversations",
            user.token(),
            json!({ "title": "bench" }),
        )
        .await
        .0
    })
    .await;
    measure(
        &app,
        "GET /api/conversations (200 exist, page of 20)",
        200,
        || async { app.get("/api/conversations", user.token()).await.0 },
    )
    .await;
    for size in [100usize, 10_000] {
        let id = app
            .create_conversation(user.token(), json!({ "title": format!("{size}") }))
            .await;
        let fill = Instant::now();
        for i in 0..size {
            let (status, _) = app
                .post(
                    &format!("/api/conversations/{id}/messages"),
                    user.token(),
                    json!({ "content": format!("message {i}") }),
                )
                .await;
            assert_eq!(status, 200);
        }
        println!("  (posted {size} messages in {:.0} ms)", ms(fill.elapsed()));
        measure(
            &app,
            &format!("GET /api/conversations/{{id}} ({size} msgs)"),
            100,
            || async {
                app.get(&format!("/api/conversations/{id}"), user.token())
                    .await
                    .0
            },
        )
        .await;
        measure(
            &app,
            &format!("GET …/messages?limit=100 ({size} msgs)"),
            100,
            || async {
                app.get(
                    &format!("/api/conversations/{id}/messages?limit=100"),
                    user.token(),
                )
                .await
                .0
            },
        )
        .await;
        let rounds = if size > 1000 { 5 } else { 50 };
        measure(
            &app,
            &format!("GET …/messages, all ({size} msgs)"),
            rounds,
            || async {
                app.get(&format!("/api/conversations/{id}/messages"), user.token())
                    .await
                    .0
            },
        )
        .await;
    }
}
