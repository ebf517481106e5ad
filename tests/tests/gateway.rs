//! The local gateway as its users meet it: REST health over HTTP, and the API Gateway
//! WebSocket emulation (events to the realtime function, `@connections`, limits) over real
//! sockets, on both store backends.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use thanotopolis_local::Limits;
use thanotopolis_store::Key;
use thanotopolis_tests::{next_frame, on_both_backends, Backend, Socket, TestApp, TestOptions};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// A member of a fresh organization and the path of a socket on a new conversation of theirs.
async fn member_path(app: &TestApp) -> String {
    let org = app.register_org().await;
    let conv = app
        .create_conversation(org.admin.token(), json!({ "title": "ws" }))
        .await;
    format!("/?conversation_id={}&token={}", &conv, org.admin.access)
}

async fn connect(app: &TestApp, path: &str) -> Socket {
    let (socket, response) = tokio_tungstenite::connect_async(app.ws_url(path))
        .await
        .expect("websocket handshake");
    assert_eq!(response.status(), 101);
    socket
}

/// The next text frame as JSON (presence notices skipped: they arrive at their own pace),
/// failing after a few seconds of silence.
async fn next_json(socket: &mut Socket) -> Value {
    next_frame(socket, Duration::from_secs(10), |f| {
        f["type"] != "user_joined" && f["type"] != "user_left"
    })
    .await
}

/// The close frame's code, once the server closes.
async fn close_code(socket: &mut Socket) -> Option<CloseCode> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("close within 10 s")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// The id of the only open connection.
async fn only_connection(app: &TestApp) -> String {
    let ids = app.gateway.connection_ids();
    assert_eq!(ids.len(), 1, "exactly one socket open: {ids:?}");
    ids[0].clone()
}

/// Polls until `check` holds, for effects that follow a socket's close asynchronously.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 5 s");
}

async fn health_reports_a_reachable_store(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    let expected_backend = match backend {
        Backend::Embedded => "embedded",
        Backend::Dynamodb => "dynamodb",
    };
    assert_eq!(body["store"]["backend"], expected_backend);
    assert_eq!(body["store"]["tables"]["main"]["status"], "ok");
    assert_eq!(body["store"]["tables"]["connections"]["status"], "ok");
    assert!(body["timestamp"].as_f64().unwrap() > 1.7e9);
    for path in ["/status", "/ping", "/", "/api"] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let missing = app
        .http
        .get(app.url("/api/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({ "detail": "Not Found" })
    );
    let wrong = app.http.delete(app.url("/health")).send().await.unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(
        wrong.json::<Value>().await.unwrap(),
        json!({ "detail": "Method Not Allowed" })
    );
}

async fn websocket_ping_round_trips_through_the_management_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let api_gateway_form = member_path(&app).await;
    let (conversation, token) = api_gateway_form
        .trim_start_matches("/?conversation_id=")
        .split_once("&token=")
        .unwrap();
    let frontend_form = format!("/api/ws/conversations/{conversation}?token={token}");
    for path in [api_gateway_form.as_str(), frontend_form.as_str()] {
        let mut socket = connect(&app, path).await;
        socket
            .send(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .unwrap();
        let pong = next_json(&mut socket).await;
        assert_eq!(pong["type"], "pong", "{path}");
        assert!(pong["timestamp"].as_str().unwrap().ends_with('Z'));
        socket.close(None).await.unwrap();
    }
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// A flood of frames on one socket queues: every ping is answered, and the gateway neither
/// spawns unbounded work nor opens a connection per post (file descriptors stay bounded).
async fn a_frame_flood_is_answered_with_bounded_resources(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let socket = connect(&app, &member_path(&app).await).await;
    let before = open_descriptors();
    let pings = 2_000;
    let (mut sink, mut stream) = socket.split();
    let sender = tokio::spawn(async move {
        for _ in 0..pings {
            sink.send(Message::Text(r#"{"type":"ping"}"#.into()))
                .await
                .unwrap();
        }
        sink
    });
    let mut pongs = 0;
    let mut peak = before;
    while pongs < pings {
        let msg = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("answers keep coming")
            .expect("socket open")
            .expect("valid frame");
        if let Message::Text(text) = msg {
            if serde_json::from_str::<Value>(&text).unwrap()["type"] == "pong" {
                pongs += 1;
            }
        }
        if pongs % 100 == 0 {
            peak = peak.max(open_descriptors());
        }
    }
    drop(sender.await.unwrap());
    assert!(
        peak < before + 200,
        "descriptors grew from {before} to {peak} under the flood"
    );
}

async fn bad_frames_get_an_error_and_keep_the_socket(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut socket = connect(&app, &member_path(&app).await).await;
    socket.send(Message::Text("not json".into())).await.unwrap();
    let err = next_json(&mut socket).await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["content"], "Invalid message format");
    socket
        .send(Message::Text(r#"{"type":"teleport"}"#.into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut socket).await["content"],
        "Unknown message type"
    );
    socket
        .send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "pong");
}

async fn oversized_message_closes_with_1009(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut socket = connect(&app, &member_path(&app).await).await;
    let big = format!(
        r#"{{"type":"message","content":"{}"}}"#,
        "x".repeat(130 * 1024)
    );
    socket.send(Message::Text(big.into())).await.unwrap();
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Size));
}

async fn idle_sockets_are_closed(backend: Backend) {
    let options = TestOptions {
        limits: Some(Limits {
            idle_timeout: Duration::from_millis(300),
            ..Limits::API_GATEWAY
        }),
        ..TestOptions::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    let mut socket = connect(&app, &member_path(&app).await).await;
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Away));
}

/// A socket the client never writes to survives past the idle limit while the keep-alive task
/// runs (its `ping` restarts the idle timer, as a post does on API Gateway), and is closed
/// once it stops.
async fn keep_alive_keeps_idle_sockets_open(backend: Backend) {
    // With the task run on demand, the local keep-alive is due at half the idle limit: 4 s of
    // margin for one run of the task (on a loaded machine, against moto, 2 s were once too
    // few) after the socket's timer started.
    let idle = Duration::from_secs(8);
    let options = TestOptions {
        limits: Some(Limits {
            idle_timeout: idle,
            ..Limits::API_GATEWAY
        }),
        ..TestOptions::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    let mut socket = connect(&app, &member_path(&app).await).await;
    let started = std::time::Instant::now();
    let mut pings = 0;
    while started.elapsed() < idle * 2 + Duration::from_secs(1) {
        app.run_scheduled("keep-alive").await;
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(50), socket.next()).await {
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(frame["type"], "ping", "{frame}");
                    pings += 1;
                }
                other => panic!("the idle socket was closed: {other:?}"),
            }
        }
    }
    assert!(
        pings >= 2,
        "a keep-alive every half idle limit, got {pings}"
    );
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Away));
}

async fn connection_rows_follow_sockets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let connections = app.gateway.app.stores.connections.clone();
    let mut socket = connect(&app, &member_path(&app).await).await;
    let id = only_connection(&app).await;
    let row = connections.get(&Key::partition(&id)).await.unwrap();
    let row = row.expect("$connect wrote a connection row");
    let expires = row["expires_at"].as_i64().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now + 7100..=now + 7300).contains(&expires),
        "row lives 2 h"
    );
    let connected = row["last_seen_at"].as_str().unwrap().to_string();
    assert_eq!(row["connected_at"].as_str(), Some(connected.as_str()));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    socket
        .send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    next_json(&mut socket).await;
    let row = connections
        .get(&Key::partition(&id))
        .await
        .unwrap()
        .unwrap();
    assert!(
        row["last_seen_at"].as_str().unwrap() > connected.as_str(),
        "a ping refreshes last_seen_at"
    );

    socket.close(None).await.unwrap();
    eventually("$disconnect deleting the row", async || {
        connections
            .get(&Key::partition(&id))
            .await
            .unwrap()
            .is_none()
    })
    .await;
    assert!(app.gateway.connection_ids().is_empty());
}

async fn management_api_posts_reads_and_closes_sockets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut socket = connect(&app, &member_path(&app).await).await;
    let id = only_connection(&app).await;
    let url = app.management_url(&format!("/@connections/{id}"));
    let public = app
        .http
        .post(app.url(&format!("/@connections/{id}")))
        .body(r#"{"type":"forged"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        public.status(),
        404,
        "clients cannot reach the management API on the client port"
    );

    let posted = app
        .http
        .post(&url)
        .body(r#"{"type":"hello"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert_eq!(next_json(&mut socket).await, json!({ "type": "hello" }));

    let info: Value = app
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(info["connectedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(info["identity"]["sourceIp"], "127.0.0.1");

    let deleted = app.http.delete(&url).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Normal));
    eventually("the socket leaving the registry", async || {
        app.gateway.connection_ids().is_empty()
    })
    .await;
    assert_eq!(
        app.http
            .post(&url)
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        410
    );
}

async fn management_api_speaks_api_gateway(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let gone = app
        .http
        .post(app.management_url("/@connections/nobody"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    assert_eq!(gone.headers()["x-amzn-errortype"], "GoneException");
    assert_eq!(
        app.http
            .get(app.management_url("/@connections/nobody"))
            .send()
            .await
            .unwrap()
            .status(),
        410
    );
}

async fn cors_admits_the_frontend_origin_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
    };
    let ok = preflight("http://localhost:3000").await.unwrap();
    assert!(ok.status().is_success());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let evil = preflight("https://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}

on_both_backends!(
    a_frame_flood_is_answered_with_bounded_resources,
    cors_admits_the_frontend_origin_only,
    health_reports_a_reachable_store,
    websocket_ping_round_trips_through_the_management_api,
    bad_frames_get_an_error_and_keep_the_socket,
    oversized_message_closes_with_1009,
    idle_sockets_are_closed,
    keep_alive_keeps_idle_sockets_open,
    connection_rows_follow_sockets,
    management_api_posts_reads_and_closes_sockets,
    management_api_speaks_api_gateway,
);
