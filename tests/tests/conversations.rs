//! Conversations and messages through HTTP, on both store backends: create semantics, lists,
//! history paging, access across and within tenants, deletion leaving nothing behind, and
//! concurrent edits.

use serde_json::{json, Value};
use thanotopolis_store::Query;
use thanotopolis_tests::{on_both_backends, Backend, TestApp, TestUser};

async fn create(app: &TestApp, user: &TestUser, body: Value) -> Value {
    let (status, conv) = app.post("/api/conversations", user.token(), body).await;
    assert_eq!(status, 200, "{conv}");
    conv
}

async fn say(app: &TestApp, user: &TestUser, conv: &str, text: &str) -> Value {
    let (status, msg) = app
        .post(
            &format!("/api/conversations/{conv}/messages"),
            user.token(),
            json!({ "content": text }),
        )
        .await;
    assert_eq!(status, 200, "{msg}");
    msg
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

async fn create_follows_the_contract_semantics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let colleague = app.join(&org).await;
    let stranger = app.register_org().await;
    let conv = create(
        &app,
        &org.admin,
        json!({
            "description": "",
            "user_ids": [colleague.id, stranger.admin.id],
            "agent_types": ["GRIEF_SUPPORT", "STOCK_INVESTMENT_ADVISOR", "NOPE"],
            "participant_emails": ["Family@Example.org", " family@example.org ", ""],
        }),
    )
    .await;
    let users: Vec<&str> = conv["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        users.len(),
        2,
        "the caller and the same-tenant colleague only"
    );
    assert!(users.contains(&colleague.id.as_str()));
    let agents: Vec<&str> = conv["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent_type"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["GRIEF_SUPPORT"], "unavailable agents are skipped");
    assert_eq!(conv["participants"].as_array().unwrap().len(), 1);
    assert_eq!(conv["participants"][0]["display_name"], "family");
    assert_eq!(conv["owner_id"], org.admin.id.as_str());
    let title = conv["title"].as_str().unwrap();
    assert!(
        title.starts_with("admin - ") && title.contains(" et al. - "),
        "{title}"
    );
    assert_eq!(conv["recent_messages"], json!([]));

    for path in ["/api/conversations", "/api/conversations/"] {
        let (status, list) = app.get(path, colleague.token()).await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 1, "{path}");
    }
    let (_, none) = app.get("/api/conversations", stranger.admin.token()).await;
    assert_eq!(none, json!([]));
    let (status, _) = app
        .post(
            "/api/conversations",
            org.admin.token(),
            json!({ "user_ids": ["not-a-uuid"] }),
        )
        .await;
    assert_eq!(status, 422);
}

async fn lists_show_recent_activity_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let u = &org.admin;
    let older = id(&create(&app, u, json!({ "title": "Older" })).await);
    let newer = id(&create(&app, u, json!({ "title": "Newer" })).await);
    let (_, list) = app.get("/api/conversations", u.token()).await;
    assert_eq!(list[0]["id"], newer.as_str());
    say(&app, u, &older, "hello again").await;
    let (_, list) = app.get("/api/conversations", u.token()).await;
    assert_eq!(list[0]["id"], older.as_str(), "a new message moves it up");
    assert_eq!(list[0]["message_count"], 1);
    assert_eq!(list[0]["last_message"]["content"], "hello again");
    assert_eq!(list[0]["participant_count"], 1);
    let (_, page2) = app
        .get("/api/conversations?page=2&page_size=1", u.token())
        .await;
    assert_eq!(page2[0]["id"], newer.as_str());
    assert_eq!(
        app.get("/api/conversations?page_size=1000", u.token())
            .await
            .0,
        422
    );

    let (_, found) = app.get("/api/conversations/search?q=NEW", u.token()).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["title"], "Newer");
    let (status, body) = app.get("/api/conversations/search", u.token()).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (422, Some("Search query 'q' parameter is required"))
    );
}

/// Many members writing to one conversation at once: every message lands (none refused for a
/// conflict, on either backend) and the count is exact; a message costs the same whatever the
/// member count, so the members' lists still order by activity.
async fn concurrent_messages_to_one_conversation_all_land(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let mut members = Vec::new();
    for _ in 0..4 {
        members.push(app.join(&org).await);
    }
    let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
    let quiet = id(&create(&app, &org.admin, json!({ "title": "Quiet" })).await);
    let conv = id(&create(
        &app,
        &org.admin,
        json!({ "title": "Busy", "user_ids": ids }),
    )
    .await);
    say(&app, &org.admin, &quiet, "the quiet one is newer").await;
    let writers = members.iter().chain([&org.admin]).flat_map(|m| {
        let app = &app;
        let conv = &conv;
        (0..8).map(move |i| async move {
            app.post(
                &format!("/api/conversations/{conv}/messages"),
                m.token(),
                json!({ "content": format!("{} says {i}", m.id) }),
            )
            .await
            .0
        })
    });
    let statuses = futures::future::join_all(writers).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (_, history) = app
        .get(
            &format!("/api/conversations/{conv}/messages"),
            org.admin.token(),
        )
        .await;
    assert_eq!(history.as_array().unwrap().len(), 40);
    for user in members.iter().chain([&org.admin]) {
        let (_, list) = app.get("/api/conversations", user.token()).await;
        assert_eq!(list[0]["id"], conv.as_str(), "the busy one is on top");
        assert_eq!(list[0]["message_count"], 40);
    }

    let res = app
        .http
        .get(app.url("/api/conversations?page_size=1"))
        .bearer_auth(&org.admin.access)
        .send()
        .await
        .unwrap();
    let cursor = res.headers()["x-next-cursor"].to_str().unwrap().to_string();
    let (_, next) = app
        .get(
            &format!("/api/conversations?page_size=1&cursor={cursor}"),
            org.admin.token(),
        )
        .await;
    assert_eq!(
        next[0]["id"],
        quiet.as_str(),
        "the cursor continues the order"
    );
}

async fn history_pages_oldest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let u = &org.admin;
    let conv = id(&create(&app, u, json!({ "title": "History" })).await);
    for i in 0..12 {
        say(&app, u, &conv, &format!("m{i:02}")).await;
    }
    let texts = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_string())
            .collect()
    };
    let path = format!("/api/conversations/{conv}/messages");
    let (_, all) = app.get(&format!("{path}?skip=0"), u.token()).await;
    assert_eq!(
        texts(&all),
        (0..12).map(|i| format!("m{i:02}")).collect::<Vec<_>>()
    );
    assert_eq!(all[0]["sender_type"], "user");
    assert_eq!(all[0]["sender_name"], "Ada Admin");
    let (_, window) = app.get(&format!("{path}?skip=3&limit=4"), u.token()).await;
    assert_eq!(texts(&window), ["m03", "m04", "m05", "m06"]);

    let res = app
        .http
        .get(app.url(&format!("{path}?limit=5")))
        .bearer_auth(&u.access)
        .send()
        .await
        .unwrap();
    let cursor = res.headers()["x-next-cursor"].to_str().unwrap().to_string();
    let (_, next) = app
        .get(&format!("{path}?limit=5&cursor={cursor}"), u.token())
        .await;
    assert_eq!(texts(&next), ["m05", "m06", "m07", "m08", "m09"]);

    let one = &all[4];
    let (status, got) = app.get(&format!("{path}/{}", id(one)), u.token()).await;
    assert_eq!((status, &got), (200, one));
    let (status, body) = app
        .post(
            &path,
            u.token(),
            json!({ "content": "x".repeat(33 * 1024) }),
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (422, Some("Validation error"))
    );
    assert_eq!(
        app.post(&path, u.token(), json!({ "content": "   " }))
            .await
            .0,
        422
    );
    let (_, conv_body) = app
        .get(&format!("/api/conversations/{conv}"), u.token())
        .await;
    assert_eq!(conv_body["recent_messages"].as_array().unwrap().len(), 12);
    assert_eq!(conv_body["recent_messages"][11]["content"], "m11");

    let (status, _) = app.delete(&format!("{path}/{}", id(one)), u.token()).await;
    assert_eq!(status, 200);
    assert_eq!(
        app.get(&format!("{path}/{}", id(one)), u.token()).await.0,
        404
    );
    let (_, stats) = app
        .get(&format!("/api/conversations/{conv}/stats"), u.token())
        .await;
    assert_eq!(stats["message_count"], 11);
    let (_, export) = app
        .get(&format!("/api/conversations/{conv}/export"), u.token())
        .await;
    assert_eq!(export["messages"].as_array().unwrap().len(), 11);
    let (status, _) = app.delete(&path, u.token()).await;
    assert_eq!(status, 200);
    let (_, empty) = app.get(&path, u.token()).await;
    assert_eq!(empty, json!([]));
    let (_, stats) = app
        .get(&format!("/api/conversations/{conv}/stats"), u.token())
        .await;
    assert_eq!(stats["message_count"], 0);
}

async fn outsiders_are_kept_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let colleague = app.join(&org).await;
    let stranger = app.register_org().await;
    let conv = id(&create(&app, &org.admin, json!({ "title": "Private" })).await);
    let msg = id(&say(&app, &org.admin, &conv, "secret").await);
    let routes = [
        ("GET", format!("/api/conversations/{conv}")),
        ("PATCH", format!("/api/conversations/{conv}")),
        ("DELETE", format!("/api/conversations/{conv}")),
        ("GET", format!("/api/conversations/{conv}/messages")),
        ("POST", format!("/api/conversations/{conv}/messages")),
        ("DELETE", format!("/api/conversations/{conv}/messages")),
        ("GET", format!("/api/conversations/{conv}/messages/{msg}")),
        (
            "DELETE",
            format!("/api/conversations/{conv}/messages/{msg}"),
        ),
        ("GET", format!("/api/conversations/{conv}/agents")),
        ("POST", format!("/api/conversations/{conv}/agents")),
        ("POST", format!("/api/conversations/{conv}/participants")),
        ("GET", format!("/api/conversations/{conv}/export")),
        ("GET", format!("/api/conversations/{conv}/stats")),
    ];
    for (who, token, expected) in [
        ("another tenant", stranger.admin.access.as_str(), 404),
        ("a non-member", colleague.access.as_str(), 403),
    ] {
        for (method, path) in &routes {
            let body = match *method {
                "GET" | "DELETE" => None,
                _ => Some(
                    json!({ "content": "hi", "title": "x", "agent_type": "MODERATOR", "email": "a@b.org" }),
                ),
            };
            let (status, resp) = app
                .call(method.parse().unwrap(), path, Some(token), body)
                .await;
            assert_eq!(status, expected, "{who}: {method} {path}");
            if expected == 403 {
                assert_eq!(resp["detail"], "Access denied");
            }
        }
    }
    let (_, still) = app
        .get(
            &format!("/api/conversations/{conv}/messages"),
            org.admin.token(),
        )
        .await;
    assert_eq!(still.as_array().unwrap().len(), 1);
}

async fn deleting_a_conversation_leaves_nothing_behind(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let colleague = app.join(&org).await;
    let conv = create(
        &app,
        &org.admin,
        json!({ "title": "Doomed", "user_ids": [colleague.id] }),
    )
    .await;
    let conv_id = id(&conv);
    for i in 0..130 {
        say(&app, &colleague, &conv_id, &format!("message {i}")).await;
    }
    let (status, body) = app
        .delete(&format!("/api/conversations/{conv_id}"), colleague.token())
        .await;
    assert_eq!(
        (status, body["detail"].is_string()),
        (403, true),
        "members who did not create it may not"
    );
    let (status, body) = app
        .delete(&format!("/api/conversations/{conv_id}"), org.admin.token())
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("Conversation deleted successfully"))
    );
    let partition = format!("TENANT#{}#CONV#{conv_id}", org.id);
    let left = app
        .gateway
        .app
        .stores
        .main
        .count(&Query::new(partition))
        .await
        .unwrap();
    assert_eq!(left, 0, "no message, member row or metadata left");
    assert_eq!(
        app.get(&format!("/api/conversations/{conv_id}"), org.admin.token())
            .await
            .0,
        404
    );
    let (_, list) = app.get("/api/conversations", colleague.token()).await;
    assert_eq!(list, json!([]));
}

async fn concurrent_edits_are_never_lost_silently(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let conv = id(&create(&app, &org.admin, json!({ "title": "Start" })).await);
    let path = format!("/api/conversations/{conv}");
    let edits = (0..8).map(|i| {
        let app = &app;
        let path = path.clone();
        let token = org.admin.access.clone();
        async move {
            app.patch(&path, Some(&token), json!({ "title": format!("T{i}") }))
                .await
        }
    });
    let results = futures::future::join_all(edits).await;
    let won = results.iter().filter(|(s, _)| *s == 200).count();
    assert!(
        results.iter().all(|(s, _)| *s == 200 || *s == 409),
        "{results:?}"
    );
    assert!(won >= 1);
    let (_, now) = app.get(&path, org.admin.token()).await;
    let titles: Vec<&str> = results
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&now["title"].as_str().unwrap()));
    let (status, body) = app
        .patch(&path, org.admin.token(), json!({ "status": "paused" }))
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (422, Some("Validation error"))
    );
    let (status, body) = app
        .patch(
            &path,
            org.admin.token(),
            json!({ "status": "archived", "title": null }),
        )
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("archived")));
    assert_eq!(body["title"], now["title"], "null leaves a field unchanged");
}

async fn agents_and_participants_attach_to_a_conversation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let conv = id(&create(&app, &org.admin, json!({ "title": "Team" })).await);
    let base = format!("/api/conversations/{conv}");
    let (status, attached) = app
        .post(
            &format!("{base}/agents"),
            org.admin.token(),
            json!({ "agent_type": "COMPLIANCE", "configuration": { "region": "FR" } }),
        )
        .await;
    assert_eq!(status, 200, "{attached}");
    assert_eq!(attached["configuration"]["region"], "FR");
    let (status, _) = app
        .post(
            &format!("{base}/agents"),
            org.admin.token(),
            json!({ "agent_type": "STOCK_INVESTMENT_ADVISOR" }),
        )
        .await;
    assert_eq!(status, 404, "not available to this organization");
    let (_, list) = app.get(&format!("{base}/agents"), org.admin.token()).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, _) = app
        .delete(
            &format!("{base}/agents/{}", id(&attached)),
            org.admin.token(),
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = app.get(&format!("{base}/agents"), org.admin.token()).await;
    assert_eq!(list, json!([]));
    let (status, p) = app
        .post(
            &format!("{base}/participants"),
            org.admin.token(),
            json!({ "email": "Cousin@Example.org" }),
        )
        .await;
    assert_eq!(
        (status, p["identifier"].as_str()),
        (200, Some("cousin@example.org"))
    );
    assert_eq!(
        app.post(
            &format!("{base}/participants"),
            org.admin.token(),
            json!({ "email": "bad" })
        )
        .await
        .0,
        422
    );
    let (_, conv_body) = app.get(&base, org.admin.token()).await;
    assert_eq!(conv_body["participants"].as_array().unwrap().len(), 1);
}

/// The frontend's "Invite Participant" and `participant_emails`: a colleague (an active user of
/// the same organization) becomes a member who sees, reads and writes the conversation; any
/// other address, an inactive colleague's or another organization's user's included, stays a
/// pending participant and reveals nothing.
async fn colleagues_invited_by_email_become_members(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let colleague = app.join(&org).await;
    let gone = app.join(&org).await;
    let other = app.register_org().await;
    let admin = app
        .member_with_role(&org, thanotopolis_tenant_auth::Role::Admin)
        .await;
    let (status, _) = app
        .patch(
            &format!("/api/admin/users/{}", gone.id),
            admin.token(),
            json!({ "is_active": false }),
        )
        .await;
    assert_eq!(status, 200);
    let conv = create(
        &app,
        &org.admin,
        json!({ "title": "Together", "participant_emails":
            [colleague.email.to_uppercase(), "family@example.org", other.admin.email, gone.email] }),
    )
    .await;
    let users: Vec<&str> = conv["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(users.contains(&colleague.id.as_str()), "{conv}");
    assert_eq!(users.len(), 2);
    let mut pending: Vec<&str> = conv["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identifier"].as_str().unwrap())
        .collect();
    pending.sort();
    let mut expected = vec![
        "family@example.org",
        other.admin.email.as_str(),
        gone.email.as_str(),
    ];
    expected.sort();
    assert_eq!(pending, expected);
    let conv = id(&conv);
    let (_, list) = app.get("/api/conversations", colleague.token()).await;
    assert_eq!(list[0]["id"], conv.as_str(), "in the colleague's list");
    say(&app, &colleague, &conv, "I am here too").await;
    let (status, _) = app
        .get(
            &format!("/api/conversations/{conv}/messages"),
            colleague.token(),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .get(&format!("/api/conversations/{conv}"), other.admin.token())
        .await;
    assert_eq!(status, 404, "never across organizations");

    let later = id(&create(&app, &org.admin, json!({ "title": "Later" })).await);
    let invite = |email: String| {
        let path = format!("/api/conversations/{later}/participants");
        let app = &app;
        let token = org.admin.token().map(str::to_string);
        async move {
            app.post(&path, token.as_deref(), json!({ "email": email }))
                .await
        }
    };
    let (status, added) = invite(colleague.email.clone()).await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(
        (added["added_as"].as_str(), added["user_id"].as_str()),
        (Some("member"), Some(colleague.id.as_str()))
    );
    let (status, again) = invite(colleague.email.clone()).await;
    assert_eq!((status, again["added_as"].as_str()), (200, Some("member")));
    let (status, outsider) = invite(other.admin.email.clone()).await;
    assert_eq!(
        (
            status,
            outsider["added_as"].as_str(),
            outsider.get("user_id")
        ),
        (200, Some("pending"), None),
        "another organization's user is just an address"
    );
    let (_, body) = app
        .get(&format!("/api/conversations/{later}"), colleague.token())
        .await;
    assert_eq!(
        body["users"].as_array().unwrap().len(),
        2,
        "added once: {body}"
    );
    assert_eq!(body["participants"].as_array().unwrap().len(), 1);
    let (_, list) = app.get("/api/conversations", colleague.token()).await;
    assert_eq!(list[0]["id"], later.as_str());

    // Invited while deactivated: a member from their first login once reactivated.
    let (status, _) = app
        .patch(
            &format!("/api/admin/users/{}", gone.id),
            admin.token(),
            json!({ "is_active": true }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, session) = app
        .post(
            "/api/auth/login",
            None,
            json!({ "email": gone.email, "password": gone.password }),
        )
        .await;
    assert_eq!(status, 200, "{session}");
    let token = session["access_token"].as_str();
    let (_, list) = app.get("/api/conversations", token).await;
    assert_eq!(list[0]["id"], conv.as_str(), "{list}");
    let (_, body) = app.get(&format!("/api/conversations/{conv}"), token).await;
    assert!(
        !body["participants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["identifier"] == gone.email.as_str()),
        "no longer pending: {body}"
    );
}

/// `DELETE …/participants/{user_id}`: a member leaves, or the creator removes one (another
/// member may not); the removed member's socket to the conversation is closed and the
/// conversation leaves their list and their reach.
async fn members_leave_or_are_removed(backend: Backend) {
    use futures::StreamExt;
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let colleague = app.join(&org).await;
    let bystander = app.join(&org).await;
    let other = app.register_org().await;
    let conv = id(&create(
        &app,
        &org.admin,
        json!({ "title": "Three", "participant_emails": [colleague.email, bystander.email] }),
    )
    .await);
    let (mut socket, _) = tokio_tungstenite::connect_async(app.ws_url(&format!(
        "/?conversation_id={conv}&token={}",
        colleague.access
    )))
    .await
    .expect("the colleague connects");
    let remove = |who: &TestUser, whom: &str| {
        let path = format!("/api/conversations/{conv}/participants/{whom}");
        let token = who.access.clone();
        let app = &app;
        async move { app.delete(&path, Some(&token)).await }
    };
    let (status, _) = remove(&bystander, &colleague.id).await;
    assert_eq!(
        status, 403,
        "only the creator or an org_admin removes others"
    );
    let (status, _) = remove(&other.admin, &colleague.id).await;
    assert_eq!(
        status, 404,
        "another organization's conversation does not exist"
    );
    let (status, body) = remove(&org.admin, &colleague.id).await;
    assert_eq!(
        (status, body["closed_sockets"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(Ok(frame)) = socket.next().await {
            if frame.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the removed member's socket is closed");
    let (status, _) = app
        .get(&format!("/api/conversations/{conv}"), colleague.token())
        .await;
    assert_eq!(status, 403);
    let (_, list) = app.get("/api/conversations", colleague.token()).await;
    assert_eq!(list, json!([]), "gone from their list");
    let (status, _) = remove(&bystander, &bystander.id).await;
    assert_eq!(status, 200, "a member leaves");
    let (_, list) = app.get("/api/conversations", bystander.token()).await;
    assert_eq!(list, json!([]));
    let (status, body) = remove(&org.admin, &bystander.id).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (404, Some("Member not found"))
    );
    let (_, body) = app
        .get(&format!("/api/conversations/{conv}"), org.admin.token())
        .await;
    assert_eq!(body["users"].as_array().unwrap().len(), 1, "{body}");
}

/// An address invited before it had an account: when a user with it joins the organization,
/// each conversation that still invites it makes them a member; another organization's
/// invitation of the same address stays as it was.
async fn pending_invitations_become_memberships_on_joining(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let other = app.register_org().await;
    let name = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let email = format!("{name}@example.org");
    let first = id(&create(&app, &org.admin, json!({ "participant_emails": [email] })).await);
    let second = id(&create(&app, &org.admin, json!({ "title": "Later" })).await);
    let (_, invited) = app
        .post(
            &format!("/api/conversations/{second}/participants"),
            org.admin.token(),
            json!({ "email": email }),
        )
        .await;
    assert_eq!(invited["added_as"], "pending", "{invited}");
    let gone = id(&create(&app, &org.admin, json!({ "participant_emails": [email] })).await);
    let (status, _) = app
        .delete(&format!("/api/conversations/{gone}"), org.admin.token())
        .await;
    assert_eq!(status, 200);
    let elsewhere = id(&create(&app, &other.admin, json!({ "participant_emails": [email] })).await);

    let (status, user) = app
        .post(
            "/api/auth/register",
            None,
            json!({
                "email": email, "username": name, "password": format!("password-{name}"),
                "access_code": org.access_code,
            }),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    let token = user["access_token"].as_str().map(str::to_string);
    let (_, list) = app.get("/api/conversations", token.as_deref()).await;
    let mut ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![first.as_str(), second.as_str()];
    expected.sort();
    assert_eq!(ids, expected);
    let (status, conv) = app
        .get(&format!("/api/conversations/{first}"), token.as_deref())
        .await;
    assert_eq!(status, 200);
    assert_eq!(conv["participants"], json!([]), "no longer pending: {conv}");
    assert_eq!(conv["users"].as_array().unwrap().len(), 2);
    let (_, theirs) = app
        .get(
            &format!("/api/conversations/{elsewhere}"),
            other.admin.token(),
        )
        .await;
    assert_eq!(theirs["participants"][0]["identifier"], email.as_str());
    assert_eq!(theirs["users"].as_array().unwrap().len(), 1);
}

on_both_backends!(
    pending_invitations_become_memberships_on_joining,
    members_leave_or_are_removed,
    colleagues_invited_by_email_become_members,
    create_follows_the_contract_semantics,
    lists_show_recent_activity_first,
    concurrent_messages_to_one_conversation_all_land,
    history_pages_oldest_first,
    outsiders_are_kept_out,
    deleting_a_conversation_leaves_nothing_behind,
    concurrent_edits_are_never_lost_silently,
    agents_and_participants_attach_to_a_conversation,
);
