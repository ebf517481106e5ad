//! The attack classes of an attack run against the local gateway, as tests: joining without an
//! access code, refresh-token replay and races, revocation of access tokens, credential
//! oracles. Each runs on both store backends and is bounded in time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use thanotopolis_tests::{on_both_backends, Backend, TestApp, TestOptions, TestUser};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A new conversation of `user`'s; its id.
async fn new_conversation(app: &TestApp, user: &TestUser) -> String {
    let conv = app
        .create_conversation(user.token(), json!({ "title": "t" }))
        .await;
    conv
}

async fn refresh(app: &TestApp, token: &Value) -> (u16, Value) {
    app.post("/api/auth/refresh", None, json!({ "refresh_token": token }))
        .await
}

async fn me_status(app: &TestApp, access: &str) -> u16 {
    app.get("/api/auth/me", Some(access)).await.0
}

/// Subdomains are public: naming one (header or host) admits nobody without the access code.
async fn registration_needs_the_access_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let body = json!({ "email": "intruder@example.org", "username": "intruder",
                       "password": "longenough" });
    for (header, value) in [
        ("x-tenant-id", org.subdomain.clone()),
        ("host", format!("{}.example.com", org.subdomain)),
    ] {
        for path in ["/api/auth/register", "/api/auth/register/token"] {
            let res = app
                .http
                .post(app.url(path))
                .header(header, &value)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 400, "{path} with {header}");
            let answer: Value = res.json().await.unwrap();
            assert_eq!(
                answer["detail"],
                "An access code is required to join an organization"
            );
        }
    }
    let (status, users) = app
        .get(
            &format!("/api/organizations/{}/users", org.id),
            org.admin.token(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        users.as_array().map(Vec::len),
        Some(1),
        "nobody joined: {users}"
    );
    let (status, _) = app
        .post(
            "/api/auth/login",
            None,
            json!({ "email": "intruder@example.org", "password": "longenough" }),
        )
        .await;
    assert_eq!(status, 401);
}

/// Twenty parallel refreshes of one token leave exactly one chain: every winner holds the same
/// successor, and after it is used nothing else refreshes.
async fn parallel_refreshes_leave_one_chain(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let token = json!(org.admin.refresh);
    let answers = futures::future::join_all((0..20).map(|_| refresh(&app, &token))).await;
    let successors: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| &body["refresh_token"])
        .collect();
    assert!(!successors.is_empty(), "someone wins: {answers:?}");
    assert!(
        successors.iter().all(|s| *s == successors[0]),
        "one successor for one token: {successors:?}"
    );
    let (status, next) = refresh(&app, successors[0]).await;
    assert_eq!(status, 200, "{next}");
    let (status, _) = refresh(&app, &token).await;
    assert_eq!(status, 401, "the spent chain cannot be forked afterwards");
    let (status, _) = refresh(&app, &next["refresh_token"]).await;
    assert_eq!(status, 200, "the one chain lives on");
}

/// Replaying a rotated token every second does not keep it alive: the grace window counts
/// from the first rotation, and a presentation after it revokes the whole session.
async fn the_grace_window_does_not_slide(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        TestOptions::with_refresh_grace(Duration::from_secs(2)),
    )
    .await;
    let org = app.register_org().await;
    let token = json!(org.admin.refresh);
    let (status, first) = refresh(&app, &token).await;
    assert_eq!(status, 200);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        statuses.push(refresh(&app, &token).await.0);
    }
    assert_eq!(statuses.last(), Some(&401), "replays end: {statuses:?}");
    let (status, _) = refresh(&app, &first["refresh_token"]).await;
    assert_eq!(status, 401, "reuse after the window revoked the session");
    assert_eq!(
        me_status(&app, first["access_token"].as_str().unwrap()).await,
        401,
        "and its access tokens"
    );
}

/// No grace at all is a valid setting: the second presentation is reuse.
async fn no_grace_means_any_reuse_revokes(backend: Backend) {
    let app = TestApp::spawn_with(backend, TestOptions::with_refresh_grace(Duration::ZERO)).await;
    let org = app.register_org().await;
    let token = json!(org.admin.refresh);
    let (status, first) = refresh(&app, &token).await;
    assert_eq!(status, 200);
    assert_eq!(refresh(&app, &token).await.0, 401);
    assert_eq!(refresh(&app, &first["refresh_token"]).await.0, 401);
}

/// An access token dies with its session: logout, logout/all, and a token naming no session.
async fn logout_ends_access_tokens_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let member = app.join(&org).await;
    assert_eq!(me_status(&app, &member.access).await, 200);
    let (status, _) = app
        .post(
            "/api/auth/logout",
            Some(&member.access),
            json!({ "refresh_token": member.refresh }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app.get("/api/auth/me", Some(&member.access)).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Could not validate credentials"))
    );
    let (status, _) = app.get("/api/conversations", Some(&member.access)).await;
    assert_eq!(status, 401, "on every route");

    let (status, session) = app
        .post(
            "/api/auth/login",
            None,
            json!({ "email": member.email, "password": member.password }),
        )
        .await;
    assert_eq!(status, 200);
    let access = session["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, access).await, 200);
    let (status, _) = app
        .post("/api/auth/logout/all", Some(access), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(me_status(&app, access).await, 401);

    // A validly signed token without a session claim is not an access token.
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(org.admin.access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let mut without_session = claims.clone();
    without_session.as_object_mut().unwrap().remove("sid");
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let sign = |claims: &Value| {
        use hmac::{Hmac, Mac};
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(&app.gateway.app.auth.jwt_secret).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    assert_eq!(
        me_status(&app, &sign(&claims)).await,
        200,
        "the signing is right"
    );
    assert_eq!(me_status(&app, &sign(&without_session)).await, 401);
    let mut other_session = claims;
    other_session["sid"] = json!(uuid::Uuid::new_v4());
    assert_eq!(me_status(&app, &sign(&other_session)).await, 401);
}

/// A deactivated account answers the same to a right and a wrong password.
async fn a_deactivated_account_is_no_password_oracle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let member = app.join(&org).await;
    let (status, _) = app
        .patch(
            &format!("/api/organizations/{}/users/{}", org.id, member.id),
            org.admin.token(),
            json!({ "is_active": false }),
        )
        .await;
    assert_eq!(status, 200);
    let mut answers = Vec::new();
    for password in [member.password.as_str(), "not-the-password"] {
        answers.push(
            app.post(
                "/api/auth/login",
                None,
                json!({ "email": member.email, "password": password }),
            )
            .await,
        );
    }
    assert_eq!(
        answers[0], answers[1],
        "right and wrong password look alike"
    );
    assert_eq!(answers[0].1["detail"], "User account is disabled");
}

/// `{"a":{"a":…"leaf"…}}`, `levels` objects deep, as text (a `Value` that deep would overflow
/// the test's own stack when serialized).
fn nested(levels: usize) -> String {
    format!(
        "{}\"leaf\"{}",
        r#"{"a":"#.repeat(levels),
        "}".repeat(levels)
    )
}

async fn post_raw(app: &TestApp, path: &str, token: &str, body: String) -> (u16, Value) {
    app.post_body(path, token, "application/json", body).await
}

/// One request cannot make a conversation (or a dashboard) unreadable: input nested beyond the
/// limit is a 422 before storage, wherever it comes in, and the data stays readable.
async fn deeply_nested_input_is_refused_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let root = app
        .member_with_role(&org, thanotopolis_tenant_auth::Role::SuperAdmin)
        .await;
    let id = &new_conversation(&app, &org.admin).await;
    let messages = format!("/api/conversations/{id}/messages");
    for levels in [16, 126, 5000] {
        let (status, body) = post_raw(
            &app,
            &messages,
            &org.admin.access,
            format!(r#"{{"content": "hi", "metadata": {}}}"#, nested(levels)),
        )
        .await;
        assert_eq!(status, 422, "{levels} levels: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }
    let (status, body) = post_raw(
        &app,
        &messages,
        &org.admin.access,
        format!(r#"{{"content": "hi", "metadata": {}}}"#, nested(15)),
    )
    .await;
    assert_eq!(status, 200, "the limit itself is fine: {body}");
    let (status, body) = post_raw(
        &app,
        &format!("/api/conversations/{id}/agents"),
        &org.admin.access,
        format!(
            r#"{{"agent_type": "MODERATOR", "configuration": {}}}"#,
            nested(126)
        ),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = post_raw(
        &app,
        "/api/admin/system/metrics?metric_type=queue_depth&value=1",
        &root.access,
        nested(126),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    for (path, user) in [
        (format!("/api/conversations/{id}"), &org.admin),
        (messages.clone(), &org.admin),
        ("/api/conversations".to_string(), &org.admin),
        ("/api/admin/dashboard".to_string(), &root),
    ] {
        let (status, body) = app.get(&path, user.token()).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, _) = app
        .delete(&format!("/api/conversations/{id}"), org.admin.token())
        .await;
    assert_eq!(status, 200);
}

/// A stored conversation that cannot be read any more (an older version's, or damaged) fails
/// no list of the others, and can still be deleted.
async fn an_unreadable_item_blocks_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let broken = new_conversation(&app, &org.admin).await;
    let fine = new_conversation(&app, &org.admin).await;
    let store = app.gateway.app.stores.main.clone();
    let key = thanotopolis_store::Key::new(format!("TENANT#{}#CONV#{broken}", org.id), "META");
    let mut item = store.get(&key).await.unwrap().expect("the META item");
    item.insert("members".into(), json!("not a list"));
    store.put(item, None).await.unwrap();

    let (status, list) = app.get("/api/conversations", org.admin.token()).await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, [fine.as_str()], "the readable one is listed");
    let (status, body) = app
        .delete(&format!("/api/conversations/{broken}"), org.admin.token())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(store.get(&key).await.unwrap(), None);
}

/// A cursor that this query did not issue is a 422 with a JSON detail, never a 500.
async fn crafted_cursors_are_a_422(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let id = &new_conversation(&app, &org.admin).await;
    let encode = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    for cursor in [
        encode(json!({})),
        encode(json!({ "pk": "TENANT#x", "sk": "USER#y" })),
        encode(json!({ "pk": 1 })),
        "%%%".to_string(),
        "not-base64!".to_string(),
    ] {
        for path in [
            format!("/api/conversations/{id}/messages?cursor={cursor}"),
            format!("/api/conversations?cursor={cursor}"),
        ] {
            let (status, body) = app.get(&path, org.admin.token()).await;
            assert_eq!(status, 422, "{path}: {body}");
            assert!(body["detail"].is_string(), "{path}: {body}");
        }
    }
}

/// Live counts of a conversation are for its members, like every other conversation route.
async fn active_users_needs_membership(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let colleague = app.join(&org).await;
    let conv = new_conversation(&app, &org.admin).await;
    let path = format!("/api/conversations/{conv}/active-users");
    let (status, body) = app.get(&path, colleague.token()).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Access denied"))
    );
    assert_eq!(app.get(&path, org.admin.token()).await.0, 200);
}

/// Nobody changes their own status, whatever the route, and the contract's words hold.
async fn role_and_status_rules_hold_on_every_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let member = app.join(&org).await;
    let own = format!("/api/organizations/{}/users/{}", org.id, org.admin.id);
    for change in [
        json!({ "is_verified": false }),
        json!({ "is_active": true }),
    ] {
        let (status, body) = app.patch(&own, org.admin.token(), change.clone()).await;
        assert_eq!(status, 400, "{change}: {body}");
    }
    let (_, me) = app.get("/api/auth/me", org.admin.token()).await;
    assert_eq!(me["is_verified"], true, "unchanged");

    let theirs = format!("/api/organizations/{}/users/{}", org.id, member.id);
    for role in ["admin", "super_admin"] {
        let (status, body) = app
            .patch(&theirs, org.admin.token(), json!({ "role": role }))
            .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (
                403,
                Some("You cannot promote users to admin or super_admin")
            ),
            "{role}"
        );
    }

    let admin = app
        .member_with_role(&org, thanotopolis_tenant_auth::Role::Admin)
        .await;
    let (status, body) = app
        .patch(
            &format!("/api/admin/users/{}", admin.id),
            admin.token(),
            json!({ "role": "user" }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/users/{}/role", member.id),
            admin.token(),
            None,
        )
        .await;
    assert_eq!(status, 422, "a missing required parameter: {body}");
    assert!(body["detail"].is_string());
}

/// Every rejection is JSON `{"detail": ...}`, including axum's own extractor rejections.
async fn every_rejection_is_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let root = app
        .member_with_role(&org, thanotopolis_tenant_auth::Role::SuperAdmin)
        .await;
    let conv = new_conversation(&app, &org.admin).await;
    for (method, path) in [
        ("GET", "/api/admin/users?page_size=-1".to_string()),
        ("GET", "/api/admin/users?page=x".to_string()),
        ("GET", "/api/admin/system/metrics?hours=1e9".to_string()),
        (
            "GET",
            "/api/conversations?page_size=1&page_size=2".to_string(),
        ),
        ("GET", "/api/conversations?status=bogus".to_string()),
        (
            "GET",
            format!("/api/conversations/{conv}/messages?limit=-5"),
        ),
        ("GET", "/api/conversations/%FF%FE".to_string()),
        ("POST", "/api/stt/file".to_string()),
    ] {
        let res = app
            .http
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth(&root.access)
            .body("not multipart")
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!(
            (400..500).contains(&status) || status == 503,
            "{path}: {status}"
        );
        assert_eq!(content_type, "application/json", "{path}");
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
    let (status, _) = app
        .get("/api/conversations?status=bogus", org.admin.token())
        .await;
    assert_eq!(status, 422);
}

/// Exports say who sent each message in its metadata, as the contract's consumers read it.
async fn exports_carry_the_sender_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let id = &new_conversation(&app, &org.admin).await;
    let (status, _) = app
        .post(
            &format!("/api/conversations/{id}/messages"),
            org.admin.token(),
            json!({ "content": "hello" }),
        )
        .await;
    assert!(status == 200 || status == 503, "{status}");
    let (status, export) = app
        .get(
            &format!("/api/conversations/{id}/export"),
            org.admin.token(),
        )
        .await;
    assert_eq!(status, 200);
    let messages = export["messages"].as_array().unwrap();
    assert!(!messages.is_empty());
    for m in messages {
        assert_eq!(m["metadata"]["sender_type"], m["sender_type"], "{m}");
    }
}

async fn login_attempt(app: &TestApp, email: &str, password: &str) -> (u16, Option<u64>, Value) {
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (status, retry_after, res.json().await.unwrap_or(Value::Null))
}

/// Failed logins are limited per e-mail (known or not) and per client address; over a limit
/// not even the right password is checked until the window passes.
async fn failed_logins_are_rate_limited(backend: Backend) {
    let window = 4;
    let app = TestApp::spawn_with(
        backend,
        TestOptions {
            login_limits: Some(thanotopolis_service::config::LoginLimits {
                per_email: 3,
                per_address: 6,
                window: Duration::from_secs(window),
            }),
            ..TestOptions::default()
        },
    )
    .await;
    let org = app.register_org().await;
    let member = app.join(&org).await;
    // Start at the beginning of a fixed window, so the whole check runs inside one.
    let now = time::OffsetDateTime::now_utc();
    let into_window =
        (now.unix_timestamp() as u64 % window) as f64 + f64::from(now.nanosecond()) / 1e9;
    tokio::time::sleep(Duration::from_secs_f64(window as f64 - into_window + 0.05)).await;

    for _ in 0..3 {
        assert_eq!(
            login_attempt(&app, &member.email, "wrong-password").await.0,
            401
        );
    }
    let (status, retry_after, body) = login_attempt(&app, &member.email, &member.password).await;
    assert_eq!(
        status, 429,
        "the right password is not even checked: {body}"
    );
    assert!(body["detail"].is_string());
    let retry_after = retry_after.expect("Retry-After");
    assert!((1..=window).contains(&retry_after), "{retry_after}");
    for _ in 0..3 {
        assert_eq!(login_attempt(&app, "nobody@example.org", "x").await.0, 401);
    }
    assert_eq!(
        login_attempt(&app, "nobody@example.org", "x").await.0,
        429,
        "unknown addresses are limited alike, so the limit reveals nothing"
    );
    let (status, _, _) = login_attempt(&app, &org.admin.email, &org.admin.password).await;
    assert_eq!(
        status, 429,
        "six failures from this address: it is limited too"
    );

    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
    let (status, _, body) = login_attempt(&app, &member.email, &member.password).await;
    assert_eq!(status, 200, "the window passed: {body}");
}

async fn open_socket(app: &TestApp, conv: &str, user: &TestUser) -> Socket {
    let url = app.ws_url(&format!(
        "/api/ws/conversations/{conv}?token={}",
        user.access
    ));
    tokio_tungstenite::connect_async(url)
        .await
        .expect("handshake")
        .0
}

/// The frames a socket receives until it closes or stays silent for `quiet`; `true` as the
/// second value when it was closed.
async fn frames_until_quiet(socket: &mut Socket, quiet: Duration) -> (Vec<Value>, bool) {
    let mut frames = Vec::new();
    loop {
        match tokio::time::timeout(quiet, socket.next()).await {
            Err(_) => return (frames, false),
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return (frames, true),
            Ok(Some(Ok(Message::Text(t)))) => frames.push(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(_))) => {}
        }
    }
}

async fn say(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

/// A conversation of `org`'s admin with `member`, and both their sockets on it.
async fn live_pair(app: &TestApp, admin: &TestUser, member: &TestUser) -> (String, Socket, Socket) {
    let conv = app
        .create_conversation(
            admin.token(),
            json!({ "title": "live", "user_ids": [member.id] }),
        )
        .await;
    let a = open_socket(app, &conv, admin).await;
    let b = open_socket(app, &conv, member).await;
    (conv, a, b)
}

/// Deactivation (any route), removal and logout/all close the user's sockets at once.
async fn locking_a_user_out_closes_their_sockets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let root = app
        .member_with_role(&org, thanotopolis_tenant_auth::Role::SuperAdmin)
        .await;
    for name in [
        "members PATCH",
        "members DELETE",
        "admin PATCH",
        "users DELETE",
        "logout/all",
    ] {
        let member = app.join(&org).await;
        let (_, _a, mut b) = live_pair(&app, &root, &member).await;
        let (method, path, body) = match name {
            "members PATCH" => (
                reqwest::Method::PATCH,
                format!("/api/organizations/{}/users/{}", org.id, member.id),
                Some(json!({ "is_active": false })),
            ),
            "members DELETE" => (
                reqwest::Method::DELETE,
                format!("/api/organizations/{}/users/{}", org.id, member.id),
                None,
            ),
            "admin PATCH" => (
                reqwest::Method::PATCH,
                format!("/api/admin/users/{}", member.id),
                Some(json!({ "is_active": false })),
            ),
            "users DELETE" => (
                reqwest::Method::DELETE,
                format!("/api/users/{}", member.id),
                None,
            ),
            _ => (
                reqwest::Method::POST,
                "/api/auth/logout/all".to_string(),
                Some(json!({})),
            ),
        };
        let actor = if name == "logout/all" { &member } else { &root };
        let (status, answer) = app.call(method, &path, actor.token(), body).await;
        assert_eq!(status, 200, "{name}: {answer}");
        let (_, closed) = frames_until_quiet(&mut b, Duration::from_secs(3)).await;
        assert!(closed, "{name}: the socket was closed at once");
        let rows = app
            .gateway
            .app
            .stores
            .connections
            .query(
                &thanotopolis_store::Query::new(org.id.clone())
                    .on(thanotopolis_store::Index::Gsi2)
                    .begins_with(format!("{}#", member.id)),
            )
            .await
            .unwrap();
        assert!(
            rows.items.is_empty(),
            "{name}: the rows went with the sockets"
        );
    }
}

/// Fan-out never delivers to a user who is no longer active, even if their socket is open,
/// and such a user's typing is not broadcast.
async fn fan_out_skips_inactive_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let member = app.join(&org).await;
    let (_, mut a, mut b) = live_pair(&app, &org.admin, &member).await;
    // Deactivated behind the API's back: the socket stays open, only the data changed.
    let scope = thanotopolis_tenant_auth::operator::find_user(
        app.gateway.app.stores.main.as_ref(),
        &thanotopolis_tenant_auth::operator::UserRef::Id(member.id.parse().unwrap()),
    )
    .await
    .unwrap()
    .0;
    app.gateway
        .app
        .stores
        .main
        .update(
            &thanotopolis_tenant_auth::keys::user(&scope, member.id.parse().unwrap()),
            thanotopolis_store::Update::new().set("is_active", false),
            Some(thanotopolis_store::Condition::Exists),
        )
        .await
        .unwrap();
    say(
        &mut b,
        json!({ "type": "typing_status", "is_typing": true }),
    )
    .await;
    say(
        &mut a,
        json!({ "type": "message", "content": "are you there?" }),
    )
    .await;
    let (to_member, _) = frames_until_quiet(&mut b, Duration::from_secs(2)).await;
    assert!(
        to_member
            .iter()
            .all(|f| f["type"] != "message" && f["type"] != "typing_status"),
        "nothing is delivered to an inactive user: {to_member:?}"
    );
    let (to_admin, _) = frames_until_quiet(&mut a, Duration::from_secs(1)).await;
    assert!(
        to_admin.iter().all(|f| f["type"] != "typing_status"),
        "an inactive user's typing is not broadcast: {to_admin:?}"
    );
    assert!(
        to_admin.iter().any(|f| f["type"] == "message"),
        "{to_admin:?}"
    );
}

on_both_backends!(
    locking_a_user_out_closes_their_sockets,
    fan_out_skips_inactive_users,
    failed_logins_are_rate_limited,
    active_users_needs_membership,
    role_and_status_rules_hold_on_every_route,
    every_rejection_is_json,
    exports_carry_the_sender_type,
    an_unreadable_item_blocks_nothing,
    deeply_nested_input_is_refused_everywhere,
    crafted_cursors_are_a_422,
    registration_needs_the_access_code,
    parallel_refreshes_leave_one_chain,
    the_grace_window_does_not_slide,
    no_grace_means_any_reuse_revokes,
    logout_ends_access_tokens_at_once,
    a_deactivated_account_is_no_password_oracle,
);

/// The embedded store's file holds password hashes: only its owner may read it. A signing key
/// file that others can read is refused.
#[test]
fn private_files_stay_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("thanotopolis.db");
    thanotopolis_store::SqliteStore::open(&db, "t", &thanotopolis_store::schema::MAIN_TABLE)
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    thanotopolis_store::SqliteStore::open(&db, "t", &thanotopolis_store::schema::MAIN_TABLE)
        .unwrap();
    assert_eq!(mode(&db), 0o600, "an existing file is made private");

    let secret = dir.path().join("jwt-secret");
    thanotopolis_local::local_auth_settings(&secret).unwrap();
    assert_eq!(mode(&secret), 0o600);
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = thanotopolis_local::local_auth_settings(&secret);
    assert!(refused.is_err(), "a readable secret is refused");
}
