//! `thanotopolis-admin import-postgres` against a real PostgreSQL server (started by
//! `scripts/test`, `THANOTOPOLIS_TEST_POSTGRES_URL`) holding the old backend's schema, into both
//! store backends; the imported users then log in with their old passwords and read their
//! conversations through the API.

use serde_json::json;
use thanotopolis_admin::import_postgres::{self, Report};
use thanotopolis_tests::{on_both_backends, Backend, TestApp};
use tokio_postgres::Client;
use uuid::Uuid;

const SCHEMA: &str = include_str!("old_backend_schema.sql");
const OLD_PASSWORD: &str = "old backend secret";

/// A fresh database of this test's own on the test server, with the old schema.
async fn old_database() -> Client {
    let url = std::env::var("THANOTOPOLIS_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "THANOTOPOLIS_TEST_POSTGRES_URL is not set: run the tests with scripts/test, which \
             starts a PostgreSQL server and sets it"
        )
    });
    let connect = |url: String| async move {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("the test PostgreSQL server accepts connections");
        tokio::spawn(connection);
        client
    };
    let name = format!("old_{}", Uuid::new_v4().simple());
    connect(url.clone())
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = url.rsplit_once('/').expect("a URL with a database");
    let client = connect(format!("{base}/{name}")).await;
    client.batch_execute(SCHEMA).await.unwrap();
    client
}

struct Old {
    subdomain: String,
    ada: String,
    bob: String,
    cleo: String,
    conversation: Uuid,
    orphan_message: Uuid,
    wizard: Uuid,
    moderator: Uuid,
}

/// An organization of the old backend: two users with bcrypt passwords (and one with a role
/// that does not exist), a conversation of both with an agent and an invited address, three
/// messages, and a message whose conversation is gone.
async fn sample(pg: &Client) -> Old {
    let hash = bcrypt::hash(OLD_PASSWORD, 4).unwrap();
    let suffix = &Uuid::new_v4().simple().to_string()[..10];
    let subdomain = format!("old-{suffix}");
    let (tenant, ada, bob, wizard) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let (conversation, agent, orphan_message) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let ada_email = format!("ada@{subdomain}.example.org");
    let bob_email = format!("bob@{subdomain}.example.org");
    let cleo_email = format!("cleo@{subdomain}.example.org");
    let cleo = Uuid::new_v4();
    pg.execute(
        "INSERT INTO tenants (id, name, subdomain, access_code, full_name, address, is_active, created_at)
         VALUES ($1, 'Old Org', $2, 'oldcode-123', 'Old Funeral Home', '{\"city\": \"Lyon\"}', true, '2025-01-02 03:04:05+00')",
        &[&tenant, &subdomain],
    )
    .await
    .unwrap();
    for (id, email, username, role, first, created) in [
        (
            ada,
            ada_email.as_str(),
            "ada",
            "admin",
            "Ada",
            "2025-01-03 00:00:00+00",
        ),
        (
            bob,
            bob_email.as_str(),
            "bob",
            "user",
            "Bob",
            "2025-01-04 00:00:00+00",
        ),
        (
            cleo,
            cleo_email.as_str(),
            "cleo",
            "user",
            "Cleo",
            "2025-01-04 12:00:00+00",
        ),
        (
            wizard,
            "merlin@example.org",
            "merlin",
            "wizard",
            "Merlin",
            "2025-01-05 00:00:00+00",
        ),
    ] {
        pg.execute(
            &format!("INSERT INTO users (id, email, username, hashed_password, first_name, last_name, is_active, is_verified, role, tenant_id, created_at)
             VALUES ($1, $2, $3, $4, $5, 'Old', true, true, $6, $7, '{created}')"),
            &[&id, &email, &username, &hash, &first, &role, &tenant],
        )
        .await
        .unwrap();
    }
    pg.batch_execute(&format!(
        "INSERT INTO agents (id, agent_type, name) VALUES ('{agent}', 'MODERATOR', 'Moderator');
         INSERT INTO agents (id, owner_tenant_id, agent_type, name, description, is_free_agent, capabilities) VALUES
           ('{}', '{tenant}', 'ESTATE_PLANNER', 'Estate planner', 'Plans estates.', false, '[\"wills\"]'),
           ('{}', NULL, 'GRIEF_COUNSELOR', 'Grief counselor', 'Listens.', true, '[]');
         INSERT INTO conversations (id, tenant_id, title, status, created_by_user_id, created_at)
           VALUES ('{conversation}', '{tenant}', 'Arrangements', 'active', '{ada}', '2025-05-01 09:00:00+00');
         INSERT INTO conversation_users (id, conversation_id, user_id, joined_at) VALUES
           ('{}', '{conversation}', '{ada}', '2025-05-01 09:00:00+00'),
           ('{}', '{conversation}', '{bob}', '2025-05-01 09:30:00+00');
         INSERT INTO conversation_agents (id, conversation_id, agent_id, configuration)
           VALUES ('{}', '{conversation}', '{agent}', '\"{{\\\"tone\\\": \\\"warm\\\"}}\"');
         INSERT INTO conversation_participants (id, conversation_id, participant_type, identifier, display_name)
           VALUES ('{}', '{conversation}', 'email', 'carol@elsewhere.example.org', 'carol'),
                  ('{}', '{conversation}', 'email', 'Cleo@{subdomain}.example.org', 'Cleo');
         INSERT INTO messages (id, conversation_id, user_id, content, agent_type, additional_data, created_at) VALUES
           ('{}', '{conversation}', '{ada}', 'When can we meet?', NULL, NULL, '2025-05-01 10:00:00+00'),
           ('{}', '{conversation}', NULL, 'Tomorrow at ten suits everyone.', 'MODERATOR',
              '{{\"agent_type\": \"MODERATOR\", \"message_type\": \"agent\", \"sender_type\": \"agent\"}}', '2025-05-01 10:00:01+00'),
           ('{}', '{conversation}', '{bob}', 'Thank you.', NULL, NULL, '2025-05-01 10:00:02+00'),
           ('{orphan_message}', '{}', '{bob}', 'lost', NULL, NULL, '2025-05-01 11:00:00+00');
         INSERT INTO usage_records (id, tenant_id, user_id, usage_type, amount, cost_cents, service_provider, model_name, additional_data, created_at) VALUES
           ('{}', '{tenant}', '{ada}', 'tokens', 1234, 5, 'openai', 'gpt-4o-mini', '{{}}', '2025-05-01 10:00:01+00'),
           ('{}', '{tenant}', '{bob}', 'stt_words', 42.5, NULL, 'deepgram', 'nova-2', '{{\"duration_seconds\": 7}}', '2025-05-02 08:00:00+00');",
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    ))
    .await
    .unwrap();
    Old {
        subdomain,
        ada: ada_email,
        bob: bob_email,
        cleo: cleo_email,
        conversation,
        orphan_message,
        wizard,
        moderator: agent,
    }
}

async fn import(pg: &Client, app: &TestApp, dry_run: bool) -> Report {
    import_postgres::run(pg, app.gateway.app.stores.main.as_ref(), dry_run, false)
        .await
        .expect("the import runs")
}

fn counts(report: &Report, table: &str) -> (u64, u64, u64) {
    let t = report
        .table(table)
        .unwrap_or_else(|| panic!("{table} in the report"));
    (t.imported, t.already, t.refused)
}

async fn stored_hash(store: &dyn thanotopolis_store::Store, email: &str) -> String {
    let email = thanotopolis_tenant_auth::validate::EmailAddress::parse(email).unwrap();
    thanotopolis_tenant_auth::accounts::oldest_by_email(store, &email)
        .await
        .unwrap()
        .expect("the imported user")
        .1
        .hashed_password
}

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, serde_json::Value) {
    app.post(
        "/api/auth/login",
        None,
        json!({ "email": email, "password": password }),
    )
    .await
}

async fn an_old_deployment_is_imported_and_its_users_log_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pg = old_database().await;
    let old = sample(&pg).await;

    let report = import(&pg, &app, false).await;
    assert_eq!(counts(&report, "tenants"), (1, 0, 0));
    assert_eq!(counts(&report, "users"), (3, 0, 1), "{}", report.summary());
    assert_eq!(counts(&report, "conversation_users"), (2, 0, 0));
    assert_eq!(counts(&report, "conversations"), (1, 0, 0));
    assert_eq!(counts(&report, "messages"), (3, 0, 1));
    assert_eq!(counts(&report, "usage_records"), (2, 0, 0));
    assert_eq!(
        counts(&report, "agents"),
        (2, 0, 1),
        "MODERATOR is built in here"
    );
    let refused: Vec<_> = report.refused.iter().map(|r| (r.table, r.id)).collect();
    assert_eq!(
        refused,
        [
            ("users", old.wizard),
            ("agents", old.moderator),
            ("messages", old.orphan_message)
        ],
        "rows that cannot be imported are listed"
    );
    assert!(report.summary().contains(&old.orphan_message.to_string()));
    assert!(
        report
            .summary()
            .contains("refresh_tokens: 0 rows not imported (users log in again)"),
        "tables not imported are named: {}",
        report.summary()
    );

    // The old bcrypt password works, and is then replaced by an argon2id hash.
    let store = app.gateway.app.stores.main.as_ref();
    assert!(stored_hash(store, &old.ada).await.starts_with("$2b$"));
    let (status, body) = login(&app, &old.ada, "not the password").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = login(&app, &old.ada, OLD_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["organization_subdomain"], old.subdomain);
    assert!(
        stored_hash(store, &old.ada).await.starts_with("$argon2id$"),
        "rehashed at login"
    );
    let (status, again) = login(&app, &old.ada, OLD_PASSWORD).await;
    assert_eq!(status, 200, "the argon2id hash verifies: {again}");
    let token = body["access_token"].as_str().unwrap();

    let (status, me) = app.get("/api/auth/me", Some(token)).await;
    assert_eq!(status, 200);
    assert_eq!(me["role"], "admin");
    assert_eq!(me["first_name"], "Ada");
    let (_, list) = app.get("/api/conversations", Some(token)).await;
    assert_eq!(list[0]["id"], old.conversation.to_string(), "{list}");
    assert_eq!(list[0]["title"], "Arrangements");
    assert_eq!(list[0]["message_count"], 3);
    assert_eq!(list[0]["last_message"]["content"], "Thank you.");
    let path = format!("/api/conversations/{}", old.conversation);
    let (status, conversation) = app.get(&path, Some(token)).await;
    assert_eq!(status, 200, "{conversation}");
    assert_eq!(conversation["created_at"], "2025-05-01T09:00:00Z");
    assert_eq!(
        conversation["users"].as_array().unwrap().len(),
        3,
        "Ada, Bob, and Cleo (invited by e-mail, an account here): {conversation}"
    );
    assert_eq!(conversation["agents"][0]["agent_type"], "MODERATOR");
    assert_eq!(conversation["agents"][0]["configuration"]["tone"], "warm");
    let invited: Vec<_> = conversation["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(invited, ["carol@elsewhere.example.org"], "Cleo is a member");
    let (status, messages) = app.get(&format!("{path}/messages"), Some(token)).await;
    assert_eq!(status, 200);
    let shown: Vec<_> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["content"].as_str().unwrap(),
                m["sender_type"].as_str().unwrap(),
                m["created_at"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("When can we meet?", "user", "2025-05-01T10:00:00Z"),
            (
                "Tomorrow at ten suits everyone.",
                "agent",
                "2025-05-01T10:00:01Z"
            ),
            ("Thank you.", "user", "2025-05-01T10:00:02Z"),
        ]
    );
    assert_eq!(messages[0]["sender_name"], "Ada Old");

    // The organization's own agent and the free one serve it.
    let (_, agents) = app.get("/api/agents", Some(token)).await;
    let types: Vec<_> = agents["agents"]
        .as_array()
        .unwrap_or_else(|| panic!("{agents}"))
        .iter()
        .filter_map(|a| a["agent_type"].as_str())
        .collect();
    for wanted in ["ESTATE_PLANNER", "GRIEF_COUNSELOR", "MODERATOR"] {
        assert!(types.contains(&wanted), "{wanted} in {types:?}");
    }

    // Usage: in the organization's records and totals (and the all-organization figures).
    let usage = "/api/admin/usage/stats?start_date=2025-05-01&end_date=2025-05-02";
    let (status, stats) = app.get(usage, Some(token)).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        (
            &stats["total_tokens"],
            &stats["total_stt_words"],
            &stats["total_cost_cents"]
        ),
        (&json!(1234.0), &json!(42.5), &json!(5.0)),
        "{stats}"
    );

    let all = thanotopolis_usage::global_totals(store, "2025-05-01", "2025-05-02")
        .await
        .unwrap();
    assert_eq!(
        (all.total_tokens, all.total_stt_words),
        (1234.0, 42.5),
        "the all-organization figures of those days are recomputed"
    );

    // Bob, a member, sees it too.
    let (status, body) = login(&app, &old.bob, OLD_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = app
        .get("/api/conversations", body["access_token"].as_str())
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (status, body) = login(&app, &old.cleo, OLD_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app
        .get(&format!("{path}/messages"), body["access_token"].as_str())
        .await;
    assert_eq!(status, 200, "an invited colleague reads the conversation");

    // A second run imports nothing twice, and says so.
    let again = import(&pg, &app, false).await;
    assert_eq!(counts(&again, "tenants"), (0, 1, 0));
    assert_eq!(counts(&again, "users"), (0, 3, 1));
    assert_eq!(counts(&again, "conversations"), (0, 1, 0));
    assert_eq!(counts(&again, "messages"), (0, 3, 1));
    assert!(again.summary().contains("nothing new to import"));
    assert_eq!(counts(&again, "usage_records"), (0, 2, 0));
    assert_eq!(counts(&again, "agents"), (0, 2, 1));
    let (_, list) = app.get("/api/conversations", Some(token)).await;
    assert_eq!(list[0]["message_count"], 3, "no message counted twice");
    let (_, again) = app.get(usage, Some(token)).await;
    assert_eq!(again["total_tokens"], 1234.0, "no use counted twice");
}

async fn a_dry_run_reports_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pg = old_database().await;
    let old = sample(&pg).await;
    let report = import(&pg, &app, true).await;
    assert_eq!(counts(&report, "tenants"), (1, 0, 0));
    assert_eq!(counts(&report, "users"), (3, 0, 1));
    assert_eq!(counts(&report, "messages"), (3, 0, 1));
    assert!(report.summary().contains("would import"));
    let (status, _) = login(&app, &old.ada, OLD_PASSWORD).await;
    assert_eq!(status, 401, "nothing was written");
    let report = import(&pg, &app, false).await;
    assert_eq!(counts(&report, "users"), (3, 0, 1), "the real run does it");
}

/// `sslmode=require` connects over TLS, the server's certificate verified against the CA
/// given with `--ca-file`: without it the unknown CA is refused. Other modes connect as before,
/// without TLS, and refuse a CA file that would do nothing.
#[tokio::test]
async fn tls_is_used_and_verified_when_the_url_requires_it() {
    let url = std::env::var("THANOTOPOLIS_TEST_POSTGRES_URL").expect("run with scripts/test");
    let ca = std::env::var("THANOTOPOLIS_TEST_POSTGRES_CA").unwrap_or_else(|_| {
        panic!("THANOTOPOLIS_TEST_POSTGRES_CA is not set: scripts/test gives its server a CA")
    });
    let ca = std::path::Path::new(&ca);
    let encrypted = |client: Client| async move {
        client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get::<_, bool>(0)
    };
    let required = format!("{url}?sslmode=require");
    let (client, _) = import_postgres::connect(&required, Some(ca)).await.unwrap();
    assert!(encrypted(client).await, "over TLS");
    let Err(refused) = import_postgres::connect(&required, None).await else {
        panic!("a certificate of an unknown CA is refused");
    };
    assert!(
        format!("{refused:#}").contains("certificate"),
        "{refused:#}"
    );
    let (client, _) = import_postgres::connect(&url, None).await.unwrap();
    assert!(!encrypted(client).await, "without sslmode=require, plain");
    let Err(pointless) = import_postgres::connect(&url, Some(ca)).await else {
        panic!("a CA file without TLS is refused");
    };
    assert!(
        format!("{pointless}").contains("sslmode=require"),
        "{pointless}"
    );
}

on_both_backends!(
    an_old_deployment_is_imported_and_its_users_log_in,
    a_dry_run_reports_and_writes_nothing,
);
