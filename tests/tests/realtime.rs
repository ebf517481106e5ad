//! Live conversations over the local API Gateway's WebSocket, on both store backends: who may
//! connect, echoes and typing between members, history, idempotent sends, vanished sockets,
//! and stats that equal the open sockets.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use thanotopolis_store::Item;
use thanotopolis_tests::{on_both_backends, Backend, TestApp, TestUser};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn path(conv: &str, user: &TestUser) -> String {
    format!("/api/ws/conversations/{conv}?token={}", user.access)
}

async fn open(app: &TestApp, conv: &str, user: &TestUser) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(app.ws_url(&path(conv, user)))
        .await
        .expect("handshake");
    socket
}

/// The handshake's HTTP status when it is refused.
async fn refused(app: &TestApp, path: &str) -> u16 {
    match tokio_tungstenite::connect_async(app.ws_url(path)).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("unexpected handshake error {e}"),
    }
}

async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

/// The next frame of `kind`, skipping others (presence frames arrive at their own pace).
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} frame within 10 s"))
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

/// The next `error` frame whose content contains `needle` (the pipeline's own error frames,
/// such as "no language model configured", may come first).
async fn error_containing(socket: &mut Socket, needle: &str) -> Value {
    loop {
        let e = next_of(socket, "error").await;
        if e["content"].as_str().is_some_and(|c| c.contains(needle)) {
            return e;
        }
    }
}

async fn two_members(app: &TestApp) -> (TestUser, TestUser, String) {
    let org = app.register_org().await;
    let colleague = app.join(&org).await;
    let conv = app
        .create_conversation(
            org.admin.token(),
            json!({ "title": "live", "user_ids": [colleague.id] }),
        )
        .await;
    (org.admin, colleague, conv)
}

async fn only_members_connect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (ada, _, conv) = two_members(&app).await;
    let org_b = app.register_org().await;
    let outsider = app.join(&app.register_org().await).await;
    assert_eq!(
        refused(&app, &format!("/api/ws/conversations/{conv}?token=garbage")).await,
        401
    );
    assert_eq!(
        refused(&app, &format!("/api/ws/conversations/{conv}")).await,
        401
    );
    assert_eq!(
        refused(&app, &path(&conv, &org_b.admin)).await,
        403,
        "another tenant"
    );
    assert_eq!(refused(&app, &path(&conv, &outsider)).await, 403);
    let theirs = app
        .create_conversation(org_b.admin.token(), json!({ "title": "b" }))
        .await;
    let colleague_not_invited = app.join(&org_b).await;
    assert_eq!(
        refused(&app, &path(&theirs, &colleague_not_invited)).await,
        403,
        "a non-member of the same tenant"
    );
    assert_eq!(refused(&app, &path(&conv, &ada)).await, 101);
}

async fn members_see_each_others_messages_and_typing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (ada, bob, conv) = two_members(&app).await;
    let mut a = open(&app, &conv, &ada).await;
    let mut b = open(&app, &conv, &bob).await;
    let joined = next_of(&mut a, "user_joined").await;
    assert_eq!(joined["email"], bob.email.as_str());

    send(&mut a, json!({ "type": "message", "content": "Hello Bob" })).await;
    let mine = next_of(&mut a, "message").await;
    let theirs = next_of(&mut b, "message").await;
    assert_eq!(mine["content"], "Hello Bob");
    assert_eq!(mine["is_owner"], true);
    assert_eq!(
        theirs["is_owner"], false,
        "is_owner only on the author's sockets"
    );
    assert_eq!(theirs["id"], mine["id"]);
    assert_eq!(theirs["identifier"], ada.email.as_str());
    assert_eq!(theirs["sender_name"], "Ada Admin");
    assert!(theirs["timestamp"].as_str().unwrap().ends_with('Z'));

    send(
        &mut b,
        json!({ "type": "typing_status", "is_typing": true }),
    )
    .await;
    let typing = next_of(&mut a, "typing_status").await;
    assert_eq!(
        (typing["identifier"].as_str(), typing["is_typing"].as_bool()),
        (Some(bob.email.as_str()), Some(true))
    );
    assert_eq!(typing["is_owner"], false);
    assert_eq!(next_of(&mut b, "typing_status").await["is_owner"], true);

    let (_, stored) = app
        .get(&format!("/api/conversations/{conv}/messages"), ada.token())
        .await;
    assert_eq!(stored.as_array().unwrap().len(), 1, "persisted once");
    b.close(None).await.unwrap();
    assert_eq!(
        next_of(&mut a, "user_left").await["email"],
        bob.email.as_str()
    );
}

async fn history_and_idempotent_sends(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (ada, _, conv) = two_members(&app).await;
    let mut a = open(&app, &conv, &ada).await;
    let id = uuid::Uuid::now_v7().to_string();
    for _ in 0..2 {
        send(
            &mut a,
            json!({ "type": "message", "content": "once", "id": id }),
        )
        .await;
        assert_eq!(next_of(&mut a, "message").await["id"], id.as_str());
    }
    let (_, stored) = app
        .get(&format!("/api/conversations/{conv}/messages"), ada.token())
        .await;
    assert_eq!(
        stored.as_array().unwrap().len(),
        1,
        "a retried frame is stored once"
    );
    send(
        &mut a,
        json!({ "type": "message", "content": "bad id", "id": uuid::Uuid::new_v4() }),
    )
    .await;
    error_containing(&mut a, "UUIDv7").await;

    send(&mut a, json!({ "type": "history" })).await;
    let h = next_of(&mut a, "message").await;
    assert_eq!(
        (
            h["content"].as_str(),
            h["is_history"].as_bool(),
            h["is_owner"].as_bool()
        ),
        (Some("once"), Some(true), Some(true))
    );
    send(&mut a, json!({ "type": "ping" })).await;
    next_of(&mut a, "pong").await;
    let big = "x".repeat(40 * 1024);
    send(&mut a, json!({ "type": "message", "content": big })).await;
    error_containing(&mut a, "Message content is limited to 32768 bytes").await;
}

async fn vanished_sockets_are_dropped_and_stats_are_honest(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (ada, bob, conv) = two_members(&app).await;
    let mut a = open(&app, &conv, &ada).await;
    let mut b = open(&app, &conv, &bob).await;
    next_of(&mut a, "user_joined").await;
    assert_eq!(stats(&app, &conv, &ada).await, (2, 2));

    // A socket that vanished without $disconnect: its row is still there.
    let ghost: Item = thanotopolis_store::item(json!({
        "connection_id": "ghost", "tenant_id": ada_tenant(&app, &ada).await, "conversation_id": conv,
        "user": { "user_id": bob.id, "email": bob.email, "username": "bob", "first_name": null,
                  "last_name": null, "display_name": "bob" },
        "session_id": uuid::Uuid::new_v4(),
        "user_connected_at": format!("{}#2026-01-01T00:00:00Z", bob.id),
        "connected_at": "2026-01-01T00:00:00Z", "last_seen_at": "2026-01-01T00:00:00Z",
        "expires_at": time::OffsetDateTime::now_utc().unix_timestamp() + 3600,
    }));
    app.gateway
        .app
        .stores
        .connections
        .put(ghost, None)
        .await
        .unwrap();
    assert_eq!(
        stats(&app, &conv, &ada).await,
        (3, 3),
        "counted until a post finds it gone"
    );
    send(&mut a, json!({ "type": "message", "content": "anyone?" })).await;
    next_of(&mut b, "message").await;
    next_of(&mut a, "message").await;
    // The three posts run concurrently: the live sockets may have their frame before the
    // ghost's 410 has removed its row.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut seen = stats(&app, &conv, &ada).await;
    while seen != (2, 2) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        seen = stats(&app, &conv, &ada).await;
    }
    assert_eq!(seen, (2, 2), "the 410 removed the ghost");

    b.close(None).await.unwrap();
    next_of(&mut a, "user_left").await;
    assert_eq!(stats(&app, &conv, &ada).await, (1, 1));
    let (_, ws) = app.get("/api/ws/stats", ada.token()).await;
    assert_eq!(ws["active_connections"]["by_conversation"][&conv], 1);
    assert_eq!(
        app.get("/api/ws/stats", None).await.0,
        401,
        "not open to anonymous callers"
    );
}

/// (open sockets of the conversation, open sockets of the tenant), from the stats routes.
async fn stats(app: &TestApp, conv: &str, user: &TestUser) -> (u64, u64) {
    let (_, active) = app
        .get(
            &format!("/api/conversations/{conv}/active-users"),
            user.token(),
        )
        .await;
    let (_, ws) = app.get("/api/websocket/stats", user.token()).await;
    (
        active["active_connections"].as_u64().unwrap(),
        ws["total_connections"].as_u64().unwrap(),
    )
}

async fn ada_tenant(app: &TestApp, user: &TestUser) -> String {
    app.get("/api/auth/me", user.token()).await.1["tenant_id"]
        .as_str()
        .unwrap()
        .to_string()
}

on_both_backends!(
    only_members_connect,
    members_see_each_others_messages_and_typing,
    history_and_idempotent_sends,
    vanished_sockets_are_dropped_and_stats_are_honest,
);
