//! Tenant controls (issue #14): an organization's monthly AI budget, set by a super_admin,
//! seen by its admins, and enforced before every model call; each user's message rate; the
//! audit trail of security-relevant changes.
//! The model is a local server speaking OpenAI's wire format.

use serde_json::{json, Value};
use std::time::Duration;
use thanotopolis_tenant_auth::Role;
use thanotopolis_tests::openai::{FakeOpenAi, Script};
use thanotopolis_tests::{
    next_frame, on_both_backends, send_json, Backend, Socket, TestApp, TestOptions, TestUser,
};

async fn open(app: &TestApp, conv: &str, user: &TestUser) -> Socket {
    let url = app.ws_url(&format!("/?conversation_id={conv}&token={}", user.access));
    tokio_tungstenite::connect_async(url)
        .await
        .expect("handshake")
        .0
}

async fn error_frame(socket: &mut Socket) -> Value {
    next_frame(socket, Duration::from_secs(15), |f| f["type"] == "error").await
}

/// Messages of a conversation as its members read them.
async fn stored(app: &TestApp, conv: &str, token: Option<&str>) -> Vec<Value> {
    let (status, messages) = app
        .get(&format!("/api/conversations/{conv}/messages"), token)
        .await;
    assert_eq!(status, 200);
    messages.as_array().cloned().unwrap_or_default()
}

/// Waits until the current minute has at least `needed` seconds left, so a fixed window per
/// minute cannot reset in the middle of a test.
async fn with_seconds_left_in_minute(needed: i64) {
    let into = thanotopolis_tenant_auth::now_epoch() % 60;
    if 60 - into < needed {
        tokio::time::sleep(Duration::from_secs((60 - into + 1) as u64)).await;
    }
}

async fn a_spent_budget_stops_the_agents_and_says_so(backend: Backend) {
    // Every call of this model reports 42 + 7 = 49 tokens.
    let provider = FakeOpenAi::start(Script::default()).await;
    let app = TestApp::spawn_with_llm(backend, provider.settings.clone()).await;
    let org = app.register_org().await;
    let root = app.member_with_role(&org, Role::SuperAdmin).await;
    let member = app.join(&org).await;

    let (status, usage) = app
        .get("/api/organizations/current/usage", org.admin.token())
        .await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["budget"], Value::Null, "no budget: unlimited");
    assert_eq!(usage["used"]["tokens"], 0);
    assert_eq!(usage["exhausted"], false);
    let (status, _) = app
        .get("/api/organizations/current/usage", member.token())
        .await;
    assert_eq!(
        status, 403,
        "a member does not see the organization's spending"
    );

    let path = format!("/api/admin/tenants/{}", org.id);
    let budget = json!({ "ai_budget": { "monthly_tokens": 60, "monthly_cost_cents": null } });
    let (status, _) = app.patch(&path, org.admin.token(), budget.clone()).await;
    assert_eq!(status, 403, "only a super_admin sets a budget");
    for bad in [
        json!({}),
        json!({ "ai_budget": { "monthly_tokens": -1 } }),
        json!({ "ai_budget": { "tokens": 60 } }),
        json!({ "ai_budget": { "monthly_tokens": 60 }, "name": "x" }),
        json!({ "ai_budget": "lots" }),
    ] {
        let (status, body) = app.patch(&path, root.token(), bad.clone()).await;
        assert_eq!(status, 422, "{bad} → {body}");
        assert!(body["detail"].is_string(), "{body}");
    }
    let (status, _) = app
        .patch(
            &format!("/api/admin/tenants/{}", uuid::Uuid::new_v4()),
            root.token(),
            budget.clone(),
        )
        .await;
    assert_eq!(status, 404);
    let (status, tenant) = app.patch(&path, root.token(), budget).await;
    assert_eq!(status, 200, "{tenant}");
    assert_eq!(tenant["ai_budget"]["monthly_tokens"], 60);

    let conv = app
        .create_conversation(
            org.admin.token(),
            json!({ "title": "help", "agent_types": ["GRIEF_SUPPORT"] }),
        )
        .await;
    let messages = format!("/api/conversations/{conv}/messages");
    let post = |content: &str| {
        app.post(
            &messages,
            org.admin.token(),
            json!({ "content": content, "mention": "GRIEF_SUPPORT" }),
        )
    };
    assert_eq!(post("first").await.0, 200);
    let (_, usage) = app
        .get("/api/organizations/current/usage", org.admin.token())
        .await;
    assert_eq!(usage["used"]["tokens"], 49, "{usage}");
    assert_eq!(usage["tokens_left"], 11);
    assert_eq!(usage["exhausted"], false);
    assert_eq!(
        post("second").await.0,
        200,
        "11 tokens left: the call may start"
    );
    let (_, usage) = app
        .get("/api/organizations/current/usage", org.admin.token())
        .await;
    assert_eq!(
        usage["used"]["tokens"], 98,
        "the call in flight finished: overshoot of one call"
    );
    assert_eq!(usage["tokens_left"], 0);
    assert_eq!(usage["exhausted"], true);
    assert_eq!(stored(&app, &conv, org.admin.token()).await.len(), 4);
    let calls = provider.requests().len();

    let (status, refused) = post("third").await;
    assert_eq!(status, 429, "{refused}");
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("AI budget for this month is used up"),
        "{detail}"
    );
    let mut socket = open(&app, &conv, &org.admin).await;
    send_json(
        &mut socket,
        json!({ "type": "message", "content": "fourth" }),
    )
    .await;
    let frame = error_frame(&mut socket).await;
    assert_eq!(frame["content"], detail, "the socket is told the same");
    assert_eq!(provider.requests().len(), calls, "no model call once spent");
    assert_eq!(
        stored(&app, &conv, org.admin.token()).await.len(),
        4,
        "refused messages are not stored"
    );
    let (_, usage) = app
        .get("/api/organizations/current/usage", org.admin.token())
        .await;
    assert_eq!(usage["used"]["tokens"], 98, "nothing more is metered");

    let (status, _) = app
        .patch(&path, root.token(), json!({ "ai_budget": null }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(post("fifth").await.0, 200, "no budget: agents answer again");
    assert_eq!(provider.requests().len(), calls + 1);
}

async fn a_user_over_the_message_rate_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        TestOptions {
            messages_per_minute: Some(3),
            ..TestOptions::default()
        },
    )
    .await;
    let org = app.register_org().await;
    let colleague = app.join(&org).await;
    let conv = app
        .create_conversation(
            org.admin.token(),
            json!({ "title": "loop", "participant_emails": [colleague.email] }),
        )
        .await;
    with_seconds_left_in_minute(20).await;
    let path = format!("/api/conversations/{conv}/messages");
    for i in 0..3 {
        let (status, body) = app
            .post(
                &path,
                org.admin.token(),
                json!({ "content": format!("m{i}") }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let res = app
        .http
        .post(app.url(&path))
        .bearer_auth(&org.admin.access)
        .json(&json!({ "content": "one too many" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Too many messages: at most 3 a minute"),
        "{body}"
    );
    let mut socket = open(&app, &conv, &org.admin).await;
    send_json(
        &mut socket,
        json!({ "type": "message", "content": "over the socket" }),
    )
    .await;
    let frame = error_frame(&mut socket).await;
    assert!(
        frame["content"]
            .as_str()
            .unwrap()
            .starts_with("Too many messages"),
        "{frame}"
    );

    let (status, _) = app
        .post(
            &path,
            colleague.token(),
            json!({ "content": "my own allowance" }),
        )
        .await;
    assert_eq!(status, 200, "the limit is per user");
    let contents: Vec<String> = stored(&app, &conv, org.admin.token())
        .await
        .iter()
        .filter(|m| m["sender_type"] == "user")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(contents, ["m0", "m1", "m2", "my own allowance"]);
}

/// The organization's audit trail, newest first, all pages.
async fn audit(app: &TestApp, path: &str, token: Option<&str>) -> Vec<Value> {
    let (status, entries) = app.get(path, token).await;
    assert_eq!(status, 200, "{entries}");
    entries.as_array().cloned().unwrap_or_default()
}

async fn security_changes_are_in_the_audit_trail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let root = app.member_with_role(&org, Role::SuperAdmin).await;
    let member = app.join(&org).await;
    let plain = app.join(&org).await;
    let other = app.register_org().await;

    let (status, _) = app
        .post(
            "/api/auth/login",
            None,
            json!({ "email": member.email, "password": "not-the-password", "tenant_subdomain": org.subdomain }),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .patch(
            &format!("/api/organizations/{}/users/{}", org.id, member.id),
            org.admin.token(),
            json!({ "role": "org_admin" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .patch(
            "/api/organizations/current",
            org.admin.token(),
            json!({ "name": "Renamed Memorial", "phone": "555-0100" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, regenerated) = app
        .post(
            "/api/organizations/current/regenerate-access-code",
            org.admin.token(),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .patch(
            &format!("/api/admin/tenants/{}", org.id),
            root.token(),
            json!({ "ai_budget": { "monthly_tokens": 1000, "monthly_cost_cents": null } }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, agent) = app
        .post(
            "/api/agents",
            org.admin.token(),
            json!({ "agent_type": "INTAKE_HELPER", "name": "Intake", "system_prompt": "Be brief." }),
        )
        .await;
    assert_eq!(status, 200, "{agent}");
    let agent_path = format!("/api/agents/{}", agent["id"].as_str().unwrap());
    let (status, _) = app
        .patch(
            &agent_path,
            org.admin.token(),
            json!({ "name": "Intake desk", "system_prompt": "Be very brief." }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.delete(&agent_path, org.admin.token()).await;
    assert_eq!(status, 200);
    let conv = app
        .create_conversation(org.admin.token(), json!({ "title": "arrangements" }))
        .await;
    let participants = format!("/api/conversations/{conv}/participants");
    for email in [plain.email.as_str(), "not-yet@example.org"] {
        let (status, body) = app
            .post(&participants, org.admin.token(), json!({ "email": email }))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = app
        .delete(&format!("{participants}/{}", plain.id), org.admin.token())
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post("/api/auth/logout/all", member.token(), json!({}))
        .await;
    assert_eq!(status, 200);

    let entries = audit(&app, "/api/organizations/current/audit", org.admin.token()).await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "auth.logout_all",
            "conversation.member_removed",
            "conversation.participant_invited",
            "conversation.member_invited",
            "agent.deleted",
            "agent.updated",
            "agent.created",
            "organization.budget_changed",
            "organization.access_code_regenerated",
            "organization.updated",
            "user.role_changed",
            "auth.login_failed",
            // The test helper's operator command that made `root` a super_admin.
            "user.role_changed",
        ],
        "newest first"
    );
    let failed = &entries[11];
    assert_eq!(failed["actor"], Value::Null, "nobody was signed in");
    assert_eq!(failed["target"]["id"], member.id.as_str());
    assert_eq!(failed["changes"]["reason"], "wrong password");
    assert_eq!(failed["client_address"], "127.0.0.1");
    let role = &entries[10];
    assert_eq!(role["actor"]["id"], org.admin.id.as_str());
    assert_eq!(role["actor"]["email"], org.admin.email.as_str());
    assert_eq!(role["actor"]["role"], "org_admin");
    assert_eq!(
        role["changes"]["role"],
        json!({ "before": "user", "after": "org_admin" })
    );
    assert!(role["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(
        entries[9]["changes"]["name"]["after"], "Renamed Memorial",
        "{}",
        entries[9]
    );
    assert_eq!(
        entries[9]["changes"]["phone"],
        json!({ "before": "+33 1 23 45 67 89", "after": "555-0100" })
    );
    assert_eq!(
        entries[7]["changes"]["ai_budget"],
        json!({ "before": null, "after": { "monthly_tokens": 1000, "monthly_cost_cents": null } })
    );
    assert_eq!(entries[7]["actor"]["role"], "super_admin");
    assert_eq!(
        entries[5]["changes"],
        json!({ "name": { "before": "Intake", "after": "Intake desk" }, "system_prompt": "changed" })
    );
    assert_eq!(
        entries[4]["changes"]["is_active"],
        json!({ "before": true, "after": false })
    );
    assert_eq!(entries[6]["target"]["label"], "INTAKE_HELPER");
    assert_eq!(
        entries[3]["target"],
        json!({ "type": "conversation", "id": conv, "label": null })
    );
    assert_eq!(
        entries[3]["changes"]["member"]["after"]["email"],
        plain.email.as_str()
    );
    assert_eq!(
        entries[2]["changes"]["participant"]["after"],
        "not-yet@example.org"
    );
    assert_eq!(
        entries[1]["changes"]["member"]["before"]["id"],
        plain.id.as_str()
    );
    let text = serde_json::to_string(&entries).unwrap();
    assert!(
        !text.contains("Be very brief"),
        "prompts stay out of the trail"
    );
    for secret in [
        org.access_code.as_str(),
        regenerated["access_code"].as_str().unwrap(),
        member.password.as_str(),
        "not-the-password",
        member.access.as_str(),
    ] {
        assert!(!text.contains(secret), "the trail holds no secrets");
    }

    let only = |query: &str| format!("/api/organizations/current/audit?{query}");
    let failures = audit(&app, &only("action=auth.login_failed"), org.admin.token()).await;
    assert_eq!(failures.len(), 1);
    let by_member = audit(
        &app,
        &only(&format!("actor_id={}", member.id)),
        org.admin.token(),
    )
    .await;
    assert_eq!(by_member.len(), 1);
    assert_eq!(by_member[0]["action"], "auth.logout_all");

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = app.url(&only("limit=3"));
        if let Some(c) = &cursor {
            url = format!("{url}&cursor={c}");
        }
        let res = app
            .http
            .get(url)
            .bearer_auth(&org.admin.access)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        cursor = res
            .headers()
            .get("x-next-cursor")
            .map(|c| c.to_str().unwrap().to_string());
        let page: Vec<Value> = res.json().await.unwrap();
        assert!(page.len() <= 3);
        paged.extend(page);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(paged, entries, "pages add up to the whole trail, in order");

    let (status, _) = app
        .get("/api/organizations/current/audit", member.token())
        .await;
    assert_eq!(status, 401, "member's sessions were all logged out");
    let (status, _) = app
        .get("/api/organizations/current/audit", plain.token())
        .await;
    assert_eq!(status, 403, "members do not read the trail");
    let (status, _) = app
        .get(
            &format!("/api/organizations/{}/audit", org.id),
            other.admin.token(),
        )
        .await;
    assert_eq!(
        status, 404,
        "another organization's trail does not exist for them"
    );
    let from_root = audit(
        &app,
        &format!("/api/organizations/{}/audit", org.id),
        root.token(),
    )
    .await;
    assert_eq!(
        from_root.len(),
        entries.len(),
        "a super_admin reads any organization's"
    );
    let (status, _) = app
        .get(
            "/api/organizations/current/audit?limit=0",
            org.admin.token(),
        )
        .await;
    assert_eq!(status, 422);
}

on_both_backends!(
    a_spent_budget_stops_the_agents_and_says_so,
    a_user_over_the_message_rate_is_refused,
    security_changes_are_in_the_audit_trail,
);
