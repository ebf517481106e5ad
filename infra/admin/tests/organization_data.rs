//! An organization's data out and gone (issue #14): `thanotopolis-admin export-organization`,
//! `import-organization` and `delete-organization`, run as operators run them on a running
//! gateway's store, on both backends. Afterwards a scan of both tables proves what is left.

mod common;

use common::{admin_command, assert_succeeded};
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use thanotopolis_admin::erase;
use thanotopolis_service::Stores;
use thanotopolis_tenant_auth::validate::Subdomain;
use thanotopolis_tenant_auth::Role;
use thanotopolis_tests::deepgram::{listed_request, FakeDeepgram};
use thanotopolis_tests::iam::{self, Requests};
use thanotopolis_tests::interrupting::Interrupting;
use thanotopolis_tests::openai::{FakeOpenAi, Script};
use thanotopolis_tests::{
    all_items, on_both_backends, Backend, Socket, TestApp, TestOptions, TestOrg, TestUser,
};

/// An organization with something of everything: three users (one of them promoted, with a
/// failed login and a refresh; one an admin who reports a metric), its own agent, a conversation with an agent's reply (usage), a member
/// and a pending e-mail invitation, a system metric and its audit trail.
struct Populated {
    org: TestOrg,
    member: TestUser,
    conversation: String,
}

async fn populate(app: &TestApp) -> Populated {
    let org = app.register_org().await;
    let member = app.join(&org).await;
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
    let (status, agent) = app
        .post(
            "/api/agents",
            org.admin.token(),
            json!({ "agent_type": "INTAKE_HELPER", "name": "Intake", "system_prompt": "Be brief." }),
        )
        .await;
    assert_eq!(status, 200, "{agent}");
    let conversation = app
        .create_conversation(
            org.admin.token(),
            json!({ "title": "arrangements", "user_ids": [member.id], "agent_types": ["GRIEF_SUPPORT"] }),
        )
        .await;
    let (status, body) = app
        .post(
            &format!("/api/conversations/{conversation}/participants"),
            org.admin.token(),
            json!({ "email": "not-yet@example.org" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post(
            &format!("/api/conversations/{conversation}/messages"),
            org.admin.token(),
            json!({ "content": "We lost our father.", "mention": "GRIEF_SUPPORT" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": member.refresh }),
        )
        .await;
    assert_eq!(status, 200);
    let operator = app.member_with_role(&org, Role::Admin).await;
    let (status, _) = app
        .post(
            "/api/admin/system/metrics?metric_type=queue_depth&value=7",
            operator.token(),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    Populated {
        org,
        member,
        conversation,
    }
}

async fn open(app: &TestApp, conversation: &str, user: &TestUser) -> Socket {
    let url = app.ws_url(&format!(
        "/?conversation_id={conversation}&token={}",
        user.access
    ));
    tokio_tungstenite::connect_async(url)
        .await
        .expect("handshake")
        .0
}

/// Whether the server closes the socket within `within`.
async fn closes(socket: &mut Socket, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_))) => return true,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Every item of both tables, as text.
async fn everything(app: &TestApp) -> Vec<String> {
    let stores = &app.gateway.app.stores;
    let mut items = all_items(stores.main.as_ref()).await;
    items.extend(all_items(stores.connections.as_ref()).await);
    items
        .into_iter()
        .map(|i| Value::Object(i).to_string())
        .collect()
}

/// What of `items` mentions `needle`, but the dashboard snapshot (recomposed by every rollup).
fn mentioning(items: &[String], needle: &str) -> Vec<String> {
    let mut found: Vec<String> = items
        .iter()
        .filter(|i| i.contains(needle) && !i.contains(r#""pk":"DASHBOARD""#))
        .cloned()
        .collect();
    found.sort();
    found
}

/// Today's all-organization token use, as the rollup stored it.
fn global_tokens(items: &[String]) -> f64 {
    let today = &thanotopolis_tenant_auth::now_rfc3339()[..10];
    items
        .iter()
        .map(|i| serde_json::from_str::<Value>(i).unwrap())
        .find(|i| i["pk"] == "USAGE#ALL" && i["sk"] == format!("{today}#tokens"))
        .and_then(|i| i["amount"].as_f64())
        .unwrap_or(0.0)
}

fn printed(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The count a summary line prints for `what` (`"{what}: {n}"`).
fn counted(summary: &str, what: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{what}: ")))
        .and_then(|n| n.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {what:?} in\n{summary}"))
}

async fn deleting_an_organization_leaves_no_trace_and_others_untouched(backend: Backend) {
    let provider = FakeOpenAi::start(Script::default()).await;
    let deepgram = FakeDeepgram::start(None).await;
    let app = TestApp::spawn_with(
        backend,
        TestOptions {
            llm: Some(provider.settings.clone()),
            deepgram: Some(deepgram.settings.clone()),
            live_stt: Some(deepgram.project()),
            ..TestOptions::default()
        },
    )
    .await;
    let gone = populate(&app).await;
    // A live stream of one of its users, metered from Deepgram's list of requests.
    let tag = app.live_stt_tag(gone.member.token()).await;
    deepgram.list(vec![listed_request("req-gone", &[&tag], 20.0)]);
    let imported = app.run_scheduled("stt-usage-import").await;
    assert_eq!(imported["imported"], 1, "{imported}");
    let kept = app.register_org().await;
    let root = app.member_with_role(&kept, Role::SuperAdmin).await;
    let kept_conversation = app
        .create_conversation(kept.admin.token(), json!({ "title": "kept" }))
        .await;
    let (status, _) = app
        .post(
            &format!("/api/conversations/{kept_conversation}/messages"),
            kept.admin.token(),
            json!({ "content": "still here" }),
        )
        .await;
    assert_eq!(status, 200);
    let mut socket = open(&app, &gone.conversation, &gone.member).await;
    let mut kept_socket = open(&app, &kept_conversation, &kept.admin).await;
    app.run_scheduled("usage-rollup").await;

    let before = everything(&app).await;
    let traces = mentioning(&before, &gone.org.id);
    assert!(
        traces.len() > 20,
        "the organization is everywhere before: {traces:#?}"
    );
    let (gone_tokens, kept_tokens) = (
        app.usage_today(&gone.org).await.total_tokens,
        app.usage_today(&kept).await.total_tokens,
    );
    assert!(gone_tokens > 0.0 && kept_tokens > 0.0, "both used agents");
    assert_eq!(
        global_tokens(&before),
        gone_tokens + kept_tokens,
        "its token use is in the all-organization figures"
    );
    let kept_before = mentioning(&before, &kept.id);

    let out = admin_command(&app)
        .args(["delete-organization", "--tenant", &gone.org.subdomain])
        .output()
        .expect("run thanotopolis-admin");
    assert!(!out.status.success(), "without --yes or a terminal it asks");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert_eq!(everything(&app).await.len(), before.len(), "nothing erased");

    let started = std::time::Instant::now();
    let out = admin_command(&app)
        .args([
            "delete-organization",
            "--tenant",
            &gone.org.subdomain,
            "--yes",
        ])
        .args(["--drain", "2"])
        .env(
            "WEBSOCKET_MANAGEMENT_ENDPOINT",
            app.gateway.management_url(),
        )
        .output()
        .expect("run thanotopolis-admin");
    assert_succeeded(&out);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waits for requests in flight"
    );
    let summary = printed(&out);
    assert_eq!(counted(&summary, "sockets closed"), 1, "{summary}");
    assert_eq!(counted(&summary, "conversations"), 1);
    assert_eq!(counted(&summary, "users"), 3);
    assert_eq!(counted(&summary, "pending invitations"), 1);
    assert!(
        counted(&summary, "usage records") >= 2,
        "its agent's and its live stream's"
    );
    assert!(counted(&summary, "audit entries") >= 3);
    assert!(counted(&summary, "refresh tokens") >= 3);
    assert_eq!(counted(&summary, "failed-login counters"), 1);
    assert_eq!(counted(&summary, "system metrics"), 1);
    assert!(
        closes(&mut socket, Duration::from_secs(10)).await,
        "its live socket is closed"
    );

    let again = app.run_scheduled("stt-usage-import").await;
    assert_eq!(
        (&again["imported"], &again["not_ours"]),
        (&json!(0), &json!(1)),
        "Deepgram still lists its stream, which is not recorded again: {again}"
    );
    let after = everything(&app).await;
    for needle in [
        gone.org.id.as_str(),
        gone.org.admin.id.as_str(),
        gone.member.id.as_str(),
        gone.member.email.as_str(),
        gone.org.subdomain.as_str(),
        "not-yet@example.org",
    ] {
        let left = mentioning(&after, needle);
        assert!(left.is_empty(), "{needle} is still in {left:#?}");
    }
    let snapshot = after
        .iter()
        .filter(|i| i.contains(r#""pk":"DASHBOARD""#))
        .any(|i| i.contains(&gone.org.id));
    assert!(!snapshot, "the dashboard snapshot was composed again");
    assert_eq!(
        global_tokens(&after),
        kept_tokens,
        "its token use is out of the all-organization figures"
    );
    assert_eq!(
        mentioning(&after, &kept.id),
        kept_before,
        "the other organization's items are untouched"
    );
    assert!(
        !closes(&mut kept_socket, Duration::from_millis(300)).await,
        "another organization's socket stays open"
    );
    let (status, messages) = app
        .get(
            &format!("/api/conversations/{kept_conversation}/messages"),
            kept.admin.token(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        messages.as_array().map(Vec::len),
        Some(2),
        "its message and the agent's reply"
    );
    let (status, _) = app.get("/api/auth/me", root.token()).await;
    assert_eq!(status, 200);

    let (status, _) = app.get("/api/auth/me", gone.member.token()).await;
    assert_eq!(status, 401, "its tokens open nothing");
    let (status, _) = app
        .post(
            "/api/auth/login",
            None,
            json!({ "email": gone.org.admin.email, "password": gone.org.admin.password }),
        )
        .await;
    assert_eq!(status, 401, "its accounts are gone");
    let out = admin_command(&app)
        .args([
            "delete-organization",
            "--tenant",
            &gone.org.subdomain,
            "--yes",
        ])
        .args(["--drain", "0"])
        .output()
        .expect("run thanotopolis-admin");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no organization"));
    let again = app.register_org_named(&gone.org.subdomain).await;
    assert_ne!(again.id, gone.org.id, "its subdomain is free again");
}

/// An erasure cut off after any number of writes (as a killed process would be) finishes when
/// run again, leaving no trace either.
async fn an_interrupted_erasure_finishes_when_run_again(backend: Backend) {
    let provider = FakeOpenAi::start(Script::default()).await;
    let app = TestApp::spawn_with_llm(backend, provider.settings.clone()).await;
    let kept = app.register_org().await;
    let stores = &app.gateway.app.stores;
    for writes in [0, 1, 3, 5, 7, 9, 11, 13] {
        let gone = populate(&app).await;
        let subdomain = Subdomain::parse(&gone.org.subdomain).unwrap();
        let mut interrupted = app.gateway.app.clone();
        interrupted.stores = Stores {
            main: Arc::new(Interrupting::after(stores.main.clone(), writes)),
            connections: Arc::new(Interrupting::after(stores.connections.clone(), writes)),
        };
        let cut = erase::run(&interrupted, &subdomain, Duration::ZERO).await;
        assert!(cut.is_err(), "interrupted after {writes} writes");
        match erase::run(&app.gateway.app, &subdomain, Duration::ZERO)
            .await
            .unwrap()
        {
            Some(finished) => {
                assert_eq!(finished.resumed, writes > 0, "after {writes} writes");
                assert!(finished.count("subdomain claim") == 1);
            }
            None => {
                // Cut off after its last step, the subdomain claim: only the dashboard
                // snapshot is left to compose, which the scheduled rollup does.
                assert!(
                    writes > 9,
                    "after {writes} writes the claim is already gone"
                );
                app.run_scheduled("usage-rollup").await;
            }
        }
        let after = everything(&app).await;
        let left: Vec<&String> = after.iter().filter(|i| i.contains(&gone.org.id)).collect();
        assert!(left.is_empty(), "after {writes} writes: {left:#?}");
        assert_eq!(
            global_tokens(&after),
            app.usage_today(&kept).await.total_tokens,
            "after {writes} writes"
        );
        assert!(erase::run(&app.gateway.app, &subdomain, Duration::ZERO)
            .await
            .unwrap()
            .is_none());
    }
}

/// Deepgram lists an erased organization's streams after its erasure began: the live STT
/// import run while the erasure is under way meters none of them, so none of its usage is
/// written back behind the deletes.
async fn an_organization_being_erased_is_not_metered_again(backend: Backend) {
    let provider = FakeOpenAi::start(Script::default()).await;
    let deepgram = FakeDeepgram::start(None).await;
    let app = TestApp::spawn_with(
        backend,
        TestOptions {
            llm: Some(provider.settings.clone()),
            deepgram: Some(deepgram.settings.clone()),
            live_stt: Some(deepgram.project()),
            ..TestOptions::default()
        },
    )
    .await;
    let gone = populate(&app).await;
    let tag = app.live_stt_tag(gone.member.token()).await;
    deepgram.list(vec![listed_request("req-late", &[&tag], 20.0)]);
    let subdomain = Subdomain::parse(&gone.org.subdomain).unwrap();
    // Cut after its first two writes: the erasure recorded, the organization deactivated.
    let stores = &app.gateway.app.stores;
    let mut interrupted = app.gateway.app.clone();
    interrupted.stores = Stores {
        main: Arc::new(Interrupting::after(stores.main.clone(), 2)),
        connections: stores.connections.clone(),
    };
    assert!(erase::run(&interrupted, &subdomain, Duration::ZERO)
        .await
        .is_err());
    let report = app.run_scheduled("stt-usage-import").await;
    assert_eq!(
        (&report["imported"], &report["not_ours"]),
        (&json!(0), &json!(1)),
        "{report}"
    );
}

/// The archive's lines, its header's time left out (the only part two exports of the same
/// data differ in).
fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("archive")
        .lines()
        .map(|l| {
            let mut line: Value = serde_json::from_str(l).expect("a JSON line");
            if line["kind"] == "archive" {
                line.as_object_mut().unwrap().remove("exported_at");
            }
            line
        })
        .collect()
}

async fn an_exported_organization_imports_into_an_empty_store_whole(backend: Backend) {
    let provider = FakeOpenAi::start(Script::default()).await;
    let app = TestApp::spawn_with_llm(backend, provider.settings.clone()).await;
    let source = populate(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("org.jsonl");

    let out = admin_command(&app)
        .args(["export-organization", "--tenant", &source.org.subdomain])
        .arg("--out")
        .arg(&archive)
        .output()
        .expect("run thanotopolis-admin");
    assert_succeeded(&out);
    let summary = printed(&out);
    assert_eq!(counted(&summary, "organization"), 1, "{summary}");
    assert_eq!(counted(&summary, "users"), 3);
    assert_eq!(counted(&summary, "agents"), 1);
    assert_eq!(counted(&summary, "conversations"), 1, "{summary}");
    assert_eq!(counted(&summary, "members"), 2);
    assert_eq!(
        counted(&summary, "messages"),
        2,
        "the message and its reply"
    );
    assert!(counted(&summary, "usage records") >= 1);
    assert!(counted(&summary, "audit entries") >= 3);
    let text = std::fs::read_to_string(&archive).unwrap();
    assert!(!text.contains("hashed_password") && !text.contains("$argon2"));
    assert!(!text.contains(&source.member.password));
    let exported = lines(&archive);
    assert_eq!(exported[0]["kind"], "archive");
    assert_eq!(exported[0]["tenant_id"], source.org.id.as_str());
    assert_eq!(exported.last().unwrap()["kind"], "end");
    assert!(!dir.path().join("org.jsonl.partial").exists());

    let empty = TestApp::spawn(backend).await;
    let cut = dir.path().join("cut.jsonl");
    let half: Vec<&str> = text.lines().take(exported.len() / 2).collect();
    std::fs::write(&cut, half.join("\n") + "\n").unwrap();
    let out = admin_command(&empty)
        .arg("import-organization")
        .arg("--in")
        .arg(&cut)
        .output()
        .expect("run thanotopolis-admin");
    assert!(!out.status.success(), "a cut-off archive is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cut off"));
    assert!(
        everything(&empty).await.is_empty(),
        "and nothing of it is written"
    );

    let out = admin_command(&empty)
        .arg("import-organization")
        .arg("--in")
        .arg(&archive)
        .output()
        .expect("run thanotopolis-admin");
    assert_succeeded(&out);
    let summary = printed(&out);
    assert_eq!(counted(&summary, "users"), 3, "{summary}");
    assert_eq!(counted(&summary, "messages"), 2);
    assert!(!summary.contains("refused"), "{summary}");
    let again = dir.path().join("again.jsonl");
    let out = admin_command(&empty)
        .args(["export-organization", "--tenant", &source.org.subdomain])
        .arg("--out")
        .arg(&again)
        .output()
        .expect("run thanotopolis-admin");
    assert_succeeded(&out);
    let reexported = lines(&again);
    assert_eq!(reexported.len(), exported.len());
    for (line, original) in reexported.iter().zip(&exported) {
        assert_eq!(
            line, original,
            "the imported organization exports as the archive it came from"
        );
    }

    let out = admin_command(&empty)
        .arg("import-organization")
        .arg("--in")
        .arg(&archive)
        .output()
        .expect("run thanotopolis-admin");
    assert_succeeded(&out);
    let summary = printed(&out);
    assert_eq!(
        counted(&summary, "users"),
        0,
        "a second run imports nothing twice: {summary}"
    );
    assert_eq!(counted(&summary, "messages"), 0);

    let (status, _) = empty
        .post(
            "/api/auth/login",
            None,
            json!({ "email": source.member.email, "password": source.member.password, "tenant_subdomain": source.org.subdomain }),
        )
        .await;
    assert_eq!(status, 401, "an archive carries no password");
    let mut set = admin_command(&empty)
        .args(["set-password", "--tenant", &source.org.subdomain])
        .args(["--email", &source.member.email])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run thanotopolis-admin");
    std::io::Write::write_all(set.stdin.as_mut().unwrap(), b"a brand new passphrase\n").unwrap();
    let out = set.wait_with_output().unwrap();
    assert_succeeded(&out);
    let (status, body) = empty
        .post(
            "/api/auth/login",
            None,
            json!({ "email": source.member.email, "password": "a brand new passphrase", "tenant_subdomain": source.org.subdomain }),
        )
        .await;
    assert_eq!(status, 200, "the operator set a new one: {body}");
    let (status, info) = empty
        .get(
            &format!("/api/organizations/{}/info", source.org.access_code),
            None,
        )
        .await;
    assert_eq!(status, 200, "{info}");
}

/// Export, erasure and import ask only what the template's `OperatorPolicy` grants (every
/// store call recorded as the DynamoDB request AWS authorizes).
async fn the_operator_tool_stays_within_its_policy(backend: Backend) {
    let provider = FakeOpenAi::start(Script::default()).await;
    let app = TestApp::spawn_with_llm(backend, provider.settings.clone()).await;
    let gone = populate(&app).await;
    let subdomain = Subdomain::parse(&gone.org.subdomain).unwrap();
    let requests = Requests::default();
    let mut recorded = app.gateway.app.clone();
    recorded.stores = iam::recording(requests.clone())(recorded.stores.clone());
    let store = recorded.stores.main.as_ref();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("org.jsonl");

    let exported = thanotopolis_admin::archive::export(store, &subdomain, &archive, false)
        .await
        .unwrap();
    assert!(exported.is_some());
    assert!(erase::run(&recorded, &subdomain, Duration::ZERO)
        .await
        .unwrap()
        .is_some());
    thanotopolis_admin::archive::import(store, &archive, false)
        .await
        .unwrap();
    let made = requests.take();
    assert!(
        made.iter().any(|r| r.action == "dynamodb:BatchWriteItem"),
        "the erasure deletes in batches"
    );
    let template = iam::template();
    let denied = iam::denied(&iam::statements(&template, "OperatorPolicy"), &made);
    assert!(denied.is_empty(), "not in OperatorPolicy: {denied:#?}");
}

on_both_backends!(
    an_organization_being_erased_is_not_metered_again,
    the_operator_tool_stays_within_its_policy,
    deleting_an_organization_leaves_no_trace_and_others_untouched,
    an_interrupted_erasure_finishes_when_run_again,
    an_exported_organization_imports_into_an_empty_store_whole,
);
