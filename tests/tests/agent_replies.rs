//! The agent pipeline end to end: a user's message over the WebSocket, the moderator's choice,
//! the reply streamed as tokens and stored once, and the provider's token counts recorded.
//! The model is a local server speaking OpenAI's wire format.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use thanotopolis_tests::openai::{FakeOpenAi, Script};
use thanotopolis_tests::{on_both_backends, Backend, TestApp, TestUser};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(app: &TestApp, conv: &str, user: &TestUser) -> Socket {
    let url = app.ws_url(&format!("/?conversation_id={conv}&token={}", user.access));
    tokio_tungstenite::connect_async(url)
        .await
        .expect("handshake")
        .0
}

/// Frames until (and including) the first of `kind`.
async fn until(socket: &mut Socket, kind: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), socket.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} frame; saw {seen:?}"))
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            let done = v["type"] == kind;
            seen.push(v);
            if done {
                return seen;
            }
        }
    }
}

async fn conversation(app: &TestApp, user: &TestUser, agents: Value) -> String {
    let conv = app
        .create_conversation(
            user.token(),
            json!({ "title": "help", "agent_types": agents }),
        )
        .await;
    conv
}

async fn a_mentioned_agent_streams_its_reply(backend: Backend) {
    let provider = FakeOpenAi::start(Script::default()).await;
    let app = TestApp::spawn_with_llm(backend, provider.settings.clone()).await;
    let org = app.register_org().await;
    let conv = conversation(&app, &org.admin, json!([])).await;
    let mut socket = open(&app, &conv, &org.admin).await;
    socket
        .send(Message::Text(
            json!({ "type": "message", "content": "@GRIEF_SUPPORT my father died" })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let frames = until(&mut socket, "message").await;
    assert_eq!(
        frames.last().unwrap()["sender_type"],
        "user",
        "the echo comes first"
    );
    let frames = until(&mut socket, "message").await;
    let tokens: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "token")
        .map(|f| f["token"].as_str().unwrap())
        .collect();
    let reply = frames.last().unwrap();
    assert_eq!(tokens[0], "I am ", "the first token goes at once");
    assert_eq!(
        tokens.concat(),
        reply["content"].as_str().unwrap(),
        "the token frames add up to the reply"
    );
    assert!(tokens.len() <= 3, "later tokens are coalesced: {tokens:?}");
    assert_eq!(reply["agent_type"], "GRIEF_SUPPORT");
    assert_eq!(reply["content"], "I am so sorry for your loss.");
    assert_eq!(reply["is_owner"], false);
    assert!(frames
        .iter()
        .filter(|f| f["type"] == "token")
        .all(|f| f["message_id"] == reply["id"]));

    let requests = provider.requests();
    assert_eq!(requests.len(), 1, "a mention skips the moderator");
    let sent = &requests[0]["messages"];
    assert_eq!(sent[0]["role"], "system");
    assert!(
        !sent[0]["content"]
            .as_str()
            .unwrap()
            .contains("my father died"),
        "user text stays out of the system prompt"
    );
    assert!(sent
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["role"] == "user" && m["content"].as_str().unwrap().contains("my father died")));

    let (_, stored) = app
        .get(
            &format!("/api/conversations/{conv}/messages"),
            org.admin.token(),
        )
        .await;
    let stored = stored.as_array().unwrap();
    assert_eq!(stored.len(), 2, "the message and the reply, once each");
    assert_eq!(stored[1]["id"], reply["id"]);
    assert_eq!(stored[1]["sender_type"], "agent");

    let usage = app.usage_today(&org).await;
    assert_eq!(usage.total_tokens, 49.0, "the provider's counts: 42 + 7");
    assert_eq!(usage.record_count, 1);
    assert!(usage.total_cost_cents > 0.0);
}

async fn the_moderator_picks_among_attached_agents(backend: Backend) {
    let provider = FakeOpenAi::start(Script {
        choice: json!({ "agent_type": "COMPLIANCE", "reason": "paperwork" }),
        tokens: vec!["You need form A.".into()],
        ..Script::default()
    })
    .await;
    let app = TestApp::spawn_with_llm(backend, provider.settings.clone()).await;
    let org = app.register_org().await;
    let conv = conversation(&app, &org.admin, json!(["GRIEF_SUPPORT", "COMPLIANCE"])).await;
    let mut socket = open(&app, &conv, &org.admin).await;
    socket
        .send(Message::Text(
            json!({ "type": "message", "content": "Which permit do we need?" })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    until(&mut socket, "message").await;
    let reply = until(&mut socket, "message").await.pop().unwrap();
    assert_eq!(reply["agent_type"], "COMPLIANCE");
    let requests = provider.requests();
    assert_eq!(requests.len(), 2, "moderator, then the chosen agent");
    assert_eq!(requests[0]["response_format"]["type"], "json_object");
    let roster = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(roster.contains("- COMPLIANCE:") && roster.contains("- GRIEF_SUPPORT:"));
    assert!(
        !roster.contains("- WEB_SEARCH:"),
        "only attached agents are candidates"
    );
    assert_eq!(
        requests[0]["messages"][1]["content"],
        "Which permit do we need?"
    );
}

async fn without_a_working_model_the_user_is_told_and_nothing_is_invented(backend: Backend) {
    for provider in [
        None,
        Some(
            FakeOpenAi::start(Script {
                fail_with: Some(500),
                ..Script::default()
            })
            .await,
        ),
    ] {
        let app = match &provider {
            None => TestApp::spawn(backend).await,
            Some(p) => TestApp::spawn_with_llm(backend, p.settings.clone()).await,
        };
        let org = app.register_org().await;
        let conv = conversation(&app, &org.admin, json!([])).await;
        let mut socket = open(&app, &conv, &org.admin).await;
        socket
            .send(Message::Text(
                json!({ "type": "message", "content": "@WEB_SEARCH hello" })
                    .to_string()
                    .into(),
            ))
            .await
            .unwrap();
        let error = until(&mut socket, "error").await.pop().unwrap();
        let content = error["content"].as_str().unwrap();
        match provider {
            None => assert!(
                content.contains("No language model is configured"),
                "{content}"
            ),
            Some(_) => assert!(
                content.contains("500") && content.contains("overloaded"),
                "{content}"
            ),
        }
        let (_, stored) = app
            .get(
                &format!("/api/conversations/{conv}/messages"),
                org.admin.token(),
            )
            .await;
        assert_eq!(
            stored.as_array().unwrap().len(),
            1,
            "only the user's message"
        );
    }
}

async fn a_message_posted_over_rest_gets_the_same_reply(backend: Backend) {
    let provider = FakeOpenAi::start(Script::default()).await;
    let app = TestApp::spawn_with_llm(backend, provider.settings.clone()).await;
    let org = app.register_org().await;
    let conv = conversation(&app, &org.admin, json!(["GRIEF_SUPPORT"])).await;
    let mut watcher = open(&app, &conv, &org.admin).await;
    let (status, posted) = app
        .post(
            &format!("/api/conversations/{conv}/messages"),
            org.admin.token(),
            json!({ "content": "We lost grandma" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        posted["sender_type"], "user",
        "the response is the caller's message as stored"
    );
    let frames = until(&mut watcher, "message").await;
    assert!(
        frames.iter().any(|f| f["type"] == "token"),
        "tokens reached the open socket"
    );
    assert_eq!(frames.last().unwrap()["agent_type"], "GRIEF_SUPPORT");
    let (_, stored) = app
        .get(
            &format!("/api/conversations/{conv}/messages"),
            org.admin.token(),
        )
        .await;
    assert_eq!(stored.as_array().unwrap().len(), 2);
}

on_both_backends!(
    a_message_posted_over_rest_gets_the_same_reply,
    a_mentioned_agent_streams_its_reply,
    the_moderator_picks_among_attached_agents,
    without_a_working_model_the_user_is_told_and_nothing_is_invented,
);
