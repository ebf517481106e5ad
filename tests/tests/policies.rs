//! The deployed policies allow what the code does: each scheduled task's store calls, recorded
//! while it runs on both backends, are held against its function's policy in
//! `infra/template.yaml` (actions, tables, indexes and `dynamodb:LeadingKeys` conditions).

use serde_json::json;
use std::time::Duration;
use thanotopolis_local::Limits;
use thanotopolis_tests::deepgram::{listed_request, FakeDeepgram};
use thanotopolis_tests::iam::{self, Requests};
use thanotopolis_tests::openai::{FakeOpenAi, Script};
use thanotopolis_tests::{on_both_backends, Backend, TestApp, TestOptions};

/// Speech-to-text calls (status, a live grant, a file transcription) and each scheduled task,
/// within their functions' policies.
async fn scheduled_tasks_stay_within_their_policies(backend: Backend) {
    let requests = Requests::default();
    let deepgram = FakeDeepgram::start(None).await;
    let app = TestApp::spawn_with(
        backend,
        TestOptions {
            // Sockets idle for 1 s are due a keep-alive.
            limits: Some(Limits {
                idle_timeout: Duration::from_secs(2),
                ..Limits::API_GATEWAY
            }),
            deepgram: Some(deepgram.settings.clone()),
            // One page of 2 a run: the first import leaves its window unfinished.
            live_stt: Some(deepgram.project().with_paging(2, 1)),
            wrap_stores: Some(std::sync::Arc::new(iam::recording(requests.clone()))),
            ..TestOptions::default()
        },
    )
    .await;
    let org = app.register_org().await;
    let conv = app
        .create_conversation(org.admin.token(), json!({ "title": "Idle" }))
        .await;
    let (_socket, _) = tokio_tungstenite::connect_async(app.ws_url(&format!(
        "/?conversation_id={conv}&token={}",
        org.admin.access
    )))
    .await
    .expect("the admin connects");
    let tag = app.live_stt_tag(org.admin.token()).await;
    deepgram.list(
        (1..=3)
            .map(|i| listed_request(&format!("req-{i}"), &[&tag], 10.0))
            .collect(),
    );
    // Speech-to-text: its status, a live grant and a file transcription.
    let (status, _) = checked(
        &app,
        &requests,
        (reqwest::Method::GET, "/api/stt/status"),
        org.admin.token(),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = checked(
        &app,
        &requests,
        (reqwest::Method::POST, "/api/stt/token"),
        org.admin.token(),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let boundary = "policy-test";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"audio_file\"; \
         filename=\"note.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
    form.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    requests.take();
    let (status, body) = app
        .post_body(
            "/api/stt/file",
            &org.admin.access,
            &format!("multipart/form-data; boundary={boundary}"),
            form,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let template = iam::template();
    let denied = iam::denied(
        &iam::statements(
            &template,
            &iam::rest_function(&template, "POST", "/api/stt/file"),
        ),
        &requests.take(),
    );
    assert!(denied.is_empty(), "a transcription: {denied:#?}");
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // Each task twice where its second run takes another path (the import finishes its window).
    for task in [
        "stt-usage-import",
        "stt-usage-import",
        "usage-rollup",
        "keep-alive",
    ] {
        requests.take();
        let report = app.run_scheduled(task).await;
        let made = requests.take();
        assert!(!made.is_empty(), "{task} uses the store: {report}");
        let function = iam::scheduled_function(&template, task);
        let denied = iam::denied(&iam::statements(&template, &function), &made);
        assert!(
            denied.is_empty(),
            "{task} ({function}) makes requests its policy does not allow: {denied:#?}"
        );
    }
}

/// A gateway whose store calls are recorded, with a model that answers.
async fn recorded_with_llm(backend: Backend) -> (TestApp, Requests, FakeOpenAi) {
    let requests = Requests::default();
    let provider = FakeOpenAi::start(Script::default()).await;
    let app = TestApp::spawn_with(
        backend,
        TestOptions {
            llm: Some(provider.settings.clone()),
            wrap_stores: Some(std::sync::Arc::new(iam::recording(requests.clone()))),
            ..TestOptions::default()
        },
    )
    .await;
    (app, requests, provider)
}

/// One REST call, its store requests held against the policy of the function that serves it.
async fn checked(
    app: &TestApp,
    requests: &Requests,
    call: (reqwest::Method, &str),
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let (method, path) = call;
    requests.take();
    let answer = app.call(method.clone(), path, token, body).await;
    let made = requests.take();
    let template = iam::template();
    let function = iam::rest_function(&template, method.as_str(), path);
    let denied = iam::denied(&iam::statements(&template, &function), &made);
    assert!(
        denied.is_empty(),
        "{method} {path} ({function}) makes requests its policy does not allow: {denied:#?}"
    );
    answer
}

/// A journey through the REST API, each call's store requests within its function's policy:
/// sessions, conversations with an agent's reply, history cleared, a conversation deleted,
/// the organization's usage and audit trail, a member removed.
async fn rest_calls_stay_within_their_functions_policies(backend: Backend) {
    use reqwest::Method;
    let (app, requests, _provider) = recorded_with_llm(backend).await;
    let org = app.register_org().await;
    let member = app.join(&org).await;
    let admin = org.admin.token();
    let (status, _) = checked(
        &app,
        &requests,
        (Method::POST, "/api/auth/login"),
        None,
        Some(json!({ "email": member.email, "password": "wrong password" })),
    )
    .await;
    assert_eq!(status, 401);
    let (status, session) = checked(
        &app,
        &requests,
        (Method::POST, "/api/auth/login"),
        None,
        Some(json!({ "email": member.email, "password": member.password })),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let (status, _) = checked(
        &app,
        &requests,
        (Method::POST, "/api/auth/refresh"),
        None,
        Some(json!({ "refresh_token": session["refresh_token"] })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, conv) = checked(
        &app,
        &requests,
        (Method::POST, "/api/conversations"),
        admin,
        Some(json!({ "title": "Arrangements", "participant_emails": [member.email] })),
    )
    .await;
    assert_eq!(status, 200, "{conv}");
    let id = conv["id"].as_str().unwrap().to_string();
    let messages = format!("/api/conversations/{id}/messages");
    let (status, reply) = checked(
        &app,
        &requests,
        (Method::POST, &messages),
        admin,
        Some(json!({ "content": "We lost our father yesterday" })),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    for path in [
        messages.as_str(),
        "/api/conversations",
        "/api/organizations/current/usage",
        "/api/organizations/current/audit",
        "/api/auth/me",
    ] {
        let (status, body) = checked(&app, &requests, (Method::GET, path), admin, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    for path in [messages.clone(), format!("/api/conversations/{id}")] {
        let (status, body) = checked(&app, &requests, (Method::DELETE, &path), admin, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let remove = format!("/api/organizations/{}/users/{}", org.id, member.id);
    let (status, body) = checked(&app, &requests, (Method::DELETE, &remove), admin, None).await;
    assert_eq!(status, 200, "{body}");
}

/// Organization, agent, member, admin and session calls, each within its function's policy.
async fn admin_and_organization_calls_stay_within_their_functions_policies(backend: Backend) {
    use reqwest::Method;
    let (app, requests, _provider) = recorded_with_llm(backend).await;
    let org = app.register_org().await;
    let member = app.join(&org).await;
    let admin = app
        .member_with_role(&org, thanotopolis_tenant_auth::Role::Admin)
        .await;
    let conv = app
        .create_conversation(org.admin.token(), json!({ "title": "Family" }))
        .await;
    let (status, agent) = checked(
        &app,
        &requests,
        (Method::POST, "/api/agents"),
        org.admin.token(),
        Some(
            json!({ "agent_type": "FLORIST", "name": "Florist Agent", "description": "Flowers",
                     "capabilities": ["flowers"], "configuration_template": {} }),
        ),
    )
    .await;
    assert_eq!(status, 200, "{agent}");
    let agent = format!("/api/agents/{}", agent["id"].as_str().unwrap());
    let participants = format!("/api/conversations/{conv}/participants");
    let calls: Vec<(Method, String, Option<&str>, Option<serde_json::Value>)> = vec![
        (
            Method::PATCH,
            agent.clone(),
            org.admin.token(),
            Some(json!({ "name": "Flowers" })),
        ),
        (Method::DELETE, agent, org.admin.token(), None),
        (
            Method::PATCH,
            "/api/organizations/current".into(),
            org.admin.token(),
            Some(json!({ "name": "Renamed" })),
        ),
        (
            Method::POST,
            "/api/organizations/current/regenerate-access-code".into(),
            org.admin.token(),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/api/organizations/{}/users", org.id),
            org.admin.token(),
            None,
        ),
        (
            Method::POST,
            participants.clone(),
            org.admin.token(),
            Some(json!({ "email": member.email })),
        ),
        (
            Method::POST,
            participants.clone(),
            org.admin.token(),
            Some(json!({ "email": "cousin@example.org" })),
        ),
        (
            Method::DELETE,
            format!("{participants}/{}", member.id),
            org.admin.token(),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/admin/users/{}", member.id),
            admin.token(),
            Some(json!({ "is_active": false })),
        ),
        (
            Method::PATCH,
            format!("/api/admin/users/{}", member.id),
            admin.token(),
            Some(json!({ "is_active": true })),
        ),
        (
            Method::GET,
            "/api/admin/dashboard".into(),
            admin.token(),
            None,
        ),
        (Method::GET, "/api/admin/users".into(), admin.token(), None),
        (
            Method::GET,
            "/api/admin/usage/stats".into(),
            admin.token(),
            None,
        ),
        (
            Method::GET,
            "/api/admin/usage/records".into(),
            admin.token(),
            None,
        ),
        (
            Method::GET,
            "/api/admin/websocket/stats".into(),
            admin.token(),
            None,
        ),
        (
            Method::POST,
            "/api/admin/system/metrics?metric_type=queue_depth&value=7".into(),
            admin.token(),
            Some(json!({ "queue": "stt" })),
        ),
        (
            Method::GET,
            "/api/admin/system/metrics".into(),
            admin.token(),
            None,
        ),
        (
            Method::POST,
            "/api/auth/logout".into(),
            member.token(),
            Some(json!({ "refresh_token": member.refresh })),
        ),
        (
            Method::POST,
            "/api/auth/logout/all".into(),
            admin.token(),
            Some(json!({})),
        ),
    ];
    for (method, path, token, body) in calls {
        let (status, answer) = checked(&app, &requests, (method.clone(), &path), token, body).await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
    }
}

/// A WebSocket session (connect, a message and the agent's streamed reply, disconnect) asks
/// only what the realtime function's policy grants.
async fn a_websocket_session_stays_within_the_realtime_policy(backend: Backend) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (app, requests, _provider) = recorded_with_llm(backend).await;
    let org = app.register_org().await;
    let conv = app
        .create_conversation(org.admin.token(), json!({ "title": "Live" }))
        .await;
    requests.take();
    let (mut socket, _) = tokio_tungstenite::connect_async(app.ws_url(&format!(
        "/?conversation_id={conv}&token={}",
        org.admin.access
    )))
    .await
    .expect("the admin connects");
    let frame = json!({ "type": "message", "content": "@GRIEF_SUPPORT my father died" });
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
    let mut messages = 0;
    while messages < 2 {
        let next = tokio::time::timeout(Duration::from_secs(15), socket.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("a frame");
        if let Message::Text(text) = next {
            let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
            if frame["type"] == "message" {
                messages += 1;
            }
        }
    }
    socket.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let made = requests.take();
    assert!(
        made.iter().any(|r| r.table == "ConnectionsTable"),
        "the session's connection row: {made:#?}"
    );
    let template = iam::template();
    let denied = iam::denied(&iam::statements(&template, "RealtimeFunction"), &made);
    assert!(
        denied.is_empty(),
        "not in RealtimeFunction's policy: {denied:#?}"
    );
}

/// The recording and the check see what they must: a request outside a policy is found.
#[test]
fn a_request_outside_the_policy_is_denied() {
    let template = iam::template();
    let importer = iam::statements(&template, "SttUsageImportFunction");
    let request = |action, pk: &str| iam::Request {
        action,
        table: "MainTable",
        index: None,
        pk: pk.to_string(),
    };
    let allowed = request("dynamodb:PutItem", "TENANT#1#USAGE#2026-12-04");
    let wrong_partition = request("dynamodb:PutItem", "DASHBOARD");
    let wrong_action = request("dynamodb:UpdateItem", "USAGE#ALL");
    assert_eq!(
        iam::denied(
            &importer,
            &[allowed, wrong_partition.clone(), wrong_action.clone()]
        ),
        [wrong_partition, wrong_action]
    );
}

on_both_backends!(
    scheduled_tasks_stay_within_their_policies,
    rest_calls_stay_within_their_functions_policies,
    admin_and_organization_calls_stay_within_their_functions_policies,
    a_websocket_session_stays_within_the_realtime_policy,
);
