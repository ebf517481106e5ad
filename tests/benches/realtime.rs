//! WebSocket fan-out through the local gateway on the embedded store: time from a user's
//! message frame to its echo on every socket, for 1, 10 and 100 sockets; the time a streamed
//! token spends between the model provider and the client; and the store round trips of one
//! user message. Run: `cargo bench -p thanotopolis-tests --bench realtime`.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use thanotopolis_tests::openai::{FakeOpenAi, Script};
use thanotopolis_tests::{Backend, TestApp};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_of(socket: &mut Socket, kind: &str) -> (Value, Instant) {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("frame")
            .expect("open")
            .expect("ok");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == kind {
                return (v, Instant::now());
            }
        }
    }
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
    let store = app.gateway.app.stores.main.clone();
    let conns = app.gateway.app.stores.connections.clone();
    println!("realtime, embedded store, local gateway:");
    for n in [1usize, 10, 100] {
        let (_, conv) = app
            .post(
                "/api/conversations",
                org.admin.token(),
                json!({ "title": format!("{n}") }),
            )
            .await;
        let id = conv["id"].as_str().unwrap().to_string();
        let url = app.ws_url(&format!(
            "/?conversation_id={id}&token={}",
            org.admin.access
        ));
        let mut sockets = Vec::new();
        for _ in 0..n {
            sockets.push(tokio_tungstenite::connect_async(&url).await.unwrap().0);
        }
        // Let the join notices settle.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut all = Vec::new();
        for round in 0..20 {
            let sent = Instant::now();
            // Typing notices fan out like messages but start no agent reply.
            sockets[0]
                .send(Message::Text(
                    json!({ "type": "typing_status", "is_typing": round % 2 == 0 })
                        .to_string()
                        .into(),
                ))
                .await
                .unwrap();
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
    let (_, conv) = app
        .post(
            "/api/conversations",
            org.admin.token(),
            json!({ "title": "tokens" }),
        )
        .await;
    let id = conv["id"].as_str().unwrap().to_string();
    let url = app.ws_url(&format!(
        "/?conversation_id={id}&token={}",
        org.admin.access
    ));
    let mut socket = tokio_tungstenite::connect_async(&url).await.unwrap().0;
    let (main_before, conns_before) = (store.round_trips(), conns.round_trips());
    let sent = Instant::now();
    socket
        .send(Message::Text(
            json!({ "type": "message", "content": "@GRIEF_SUPPORT hello" })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let (_, echoed) = next_of(&mut socket, "message").await;
    let trips_to_echo = (
        store.round_trips() - main_before,
        conns.round_trips() - conns_before,
    );
    let (_, first_token) = next_of(&mut socket, "token").await;
    let mut gaps = Vec::new();
    let mut prev = first_token;
    for _ in 1..50 {
        let (_, at) = next_of(&mut socket, "token").await;
        gaps.push(at - prev);
        prev = at;
    }
    let (_, done) = next_of(&mut socket, "message").await;
    println!("  one user message: echo after {:.2} ms; store round trips before the echo: main table {}, connections {}",
        ms(echoed - sent), trips_to_echo.0, trips_to_echo.1);
    println!("  agent reply (50 streamed tokens, local provider): first token {:.2} ms after the echo, whole reply {:.2} ms",
        ms(first_token - echoed), ms(done - echoed));
    println!("  token frame spacing at the client (provider sends them back to back)   p50 {:.3} ms   p99 {:.3} ms",
        pct(&mut gaps, 0.5), pct(&mut gaps, 0.99));
}
