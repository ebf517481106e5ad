//! WebSocket fan-out through the local gateway on the embedded store: time from a user's
//! message frame to its echo on every socket, for 1, 10 and 100 sockets; the store round trips
//! of one user message; and one streamed agent reply's first-token latency and management-API
//! posts, one frame per token against coalesced frames. Run: `cargo bench -p thanotopolis-tests --bench realtime`.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use thanotopolis_agent_runtime::AgentSettings;
use thanotopolis_tests::openai::{Answer, FakeOpenAi, Script};
use thanotopolis_tests::{next_frame, send_json, Backend, Socket, TestApp, TestOptions, TestUser};

async fn next_of(socket: &mut Socket, kind: &str) -> (Value, Instant) {
    let frame = next_frame(socket, Duration::from_secs(30), |f| f["type"] == kind).await;
    (frame, Instant::now())
}

/// A new conversation of `user`'s and `n` sockets of theirs on it.
async fn sockets_on_new_conversation(app: &TestApp, user: &TestUser, n: usize) -> Vec<Socket> {
    let id = app
        .create_conversation(user.token(), json!({ "title": format!("{n} sockets") }))
        .await;
    let url = app.ws_url(&format!("/?conversation_id={id}&token={}", user.access));
    let mut sockets = Vec::new();
    for _ in 0..n {
        sockets.push(tokio_tungstenite::connect_async(&url).await.unwrap().0);
    }
    sockets
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn pct(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    ms(samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)])
}

#[tokio::main]
async fn main() {
    let tokens: Vec<String> = (0..50).map(|i| format!("t{i} ")).collect();
    let provider = FakeOpenAi::start(Script {
        tokens,
        ..Script::default()
    })
    .await;
    let app = TestApp::spawn_with_llm(Backend::Embedded, provider.settings.clone()).await;
    let org = app.register_org().await;
    println!("realtime, embedded store, local gateway:");
    for n in [1usize, 10, 100] {
        let mut sockets = sockets_on_new_conversation(&app, &org.admin, n).await;
        // Let the join notices settle.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut all = Vec::new();
        for round in 0..20 {
            let sent = Instant::now();
            // Typing notices fan out like messages but start no agent reply.
            send_json(
                &mut sockets[0],
                json!({ "type": "typing_status", "is_typing": round % 2 == 0 }),
            )
            .await;
            let mut last = sent;
            for s in sockets.iter_mut() {
                let (_, at) = next_of(s, "typing_status").await;
                last = last.max(at);
            }
            all.push(last - sent);
        }
        println!(
            "  fan-out to {n:>3} sockets (frame in → last socket has it)   p50 {:>7.2} ms   p99 {:>7.2} ms",
            pct(&mut all, 0.5),
            pct(&mut all, 0.99)
        );
        for s in sockets.iter_mut() {
            let _ = s.close(None).await;
        }
    }

    // Let the disconnect notices of the closed sockets (each one tells the others) settle.
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(app);

    // One agent reply of 300 tokens, paced as a model streams them (one every 10 ms), to 5
    // sockets: posts to the management API and first-token latency, with the token frames
    // as they were (one post per token per socket: interval 0) and coalesced (50 ms).
    for (label, interval) in [
        ("one frame per token (as before)", Duration::ZERO),
        ("coalesced, 50 ms", Duration::from_millis(50)),
    ] {
        reply_posts(label, interval).await;
    }
}

async fn reply_posts(label: &str, interval: Duration) {
    const TOKENS: usize = 300;
    const SOCKETS: usize = 5;
    let tokens: Vec<String> = (0..TOKENS).map(|i| format!("t{i} ")).collect();
    let provider = FakeOpenAi::start(Script {
        respond: Some(std::sync::Arc::new(move |_| {
            Some(Answer::Paced(tokens.clone(), Duration::from_millis(10)))
        })),
        ..Script::default()
    })
    .await;
    let app = TestApp::spawn_with(
        Backend::Embedded,
        TestOptions {
            llm: Some(provider.settings.clone()),
            agents: AgentSettings {
                token_interval: interval,
                ..AgentSettings::default()
            },
            ..TestOptions::default()
        },
    )
    .await;
    let org = app.register_org().await;
    let store = app.gateway.app.stores.main.clone();
    let conns = app.gateway.app.stores.connections.clone();
    let mut sockets = sockets_on_new_conversation(&app, &org.admin, SOCKETS).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (main_before, conns_before) = (store.round_trips(), conns.round_trips());
    let sent = Instant::now();
    send_json(
        &mut sockets[0],
        json!({ "type": "message", "content": "@GRIEF_SUPPORT hello" }),
    )
    .await;
    let (_, echoed) = next_of(&mut sockets[0], "message").await;
    let trips_to_echo = (
        store.round_trips() - main_before,
        conns.round_trips() - conns_before,
    );
    let posts_before = app.gateway.management_posts();
    let (_, first_token) = next_of(&mut sockets[0], "token").await;
    let (reply, done) = next_of(&mut sockets[0], "message").await;
    for s in sockets.iter_mut().skip(1) {
        next_of(s, "message").await;
        next_of(s, "message").await;
    }
    let posts = app.gateway.management_posts() - posts_before;
    assert_eq!(
        reply["content"].as_str().unwrap().len(),
        (0..TOKENS).map(|i| format!("t{i} ").len()).sum::<usize>()
    );
    println!("  agent reply, {TOKENS} tokens at 10 ms each to {SOCKETS} sockets, {label}:");
    println!("    echo after {:.2} ms (store round trips before it: main {}, connections {}); first token {:.2} ms after the echo; whole reply {:.0} ms",
        ms(echoed - sent), trips_to_echo.0, trips_to_echo.1, ms(first_token - echoed), ms(done - echoed));
    println!(
        "    management API posts for the reply: {posts} ({:.1} per socket)",
        posts as f64 / SOCKETS as f64
    );
}
