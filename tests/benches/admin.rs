//! Dashboard and usage-stats reads with 10 organizations x N usage records each (N = 10 and
//! 1,000), on the embedded store: p50/p99 and store round trips, to show that the read cost
//! does not grow with the number of records. Usage is produced the real way: messages answered
//! by an agent (a local OpenAI-wire server), each reply recording its tokens.
//! Then a super_admin's views over 100 organizations (`-- organizations` runs only those).
//! Run: `cargo bench -p thanotopolis-tests --bench admin`.

use serde_json::json;
use std::time::Instant;
use thanotopolis_tenant_auth::Role;
use thanotopolis_tests::openai::{FakeOpenAi, Script};
use thanotopolis_tests::{Backend, TestApp};

async fn measure(app: &TestApp, label: &str, path: &str, token: &str) {
    let store = app.gateway.app.stores.main.clone();
    let mut samples = Vec::new();
    let before = store.round_trips();
    for _ in 0..100 {
        let t = Instant::now();
        assert_eq!(app.get(path, Some(token)).await.0, 200);
        samples.push(t.elapsed());
    }
    let trips = (store.round_trips() - before) as f64 / 100.0;
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 * q) as usize).min(99)].as_secs_f64() * 1e3;
    println!(
        "  {label:<44} p50 {:>7.2} ms   p99 {:>7.2} ms   round trips {trips:.1}",
        p(0.5),
        p(0.99)
    );
}

#[tokio::main]
async fn main() {
    // `-- organizations`: only the reads over many organizations.
    if std::env::args().any(|a| a == "organizations") {
        return many_organizations().await;
    }
    let provider = FakeOpenAi::start(Script {
        tokens: vec!["ok".into()],
        ..Script::default()
    })
    .await;
    println!("admin reads, embedded store, 10 organizations:");
    for records in [10usize, 1_000] {
        let app = TestApp::spawn_with_llm(Backend::Embedded, provider.settings.clone()).await;
        let started = Instant::now();
        let mut root = None;
        for t in 0..10 {
            let org = app.register_org().await;
            if t == 0 {
                root = Some(app.member_with_role(&org, Role::SuperAdmin).await.access);
            }
            let conv = app
                .create_conversation(org.admin.token(), json!({ "title": "usage" }))
                .await;
            let path = format!("/api/conversations/{}/messages", &conv);
            for _ in 0..records {
                let (status, _) = app
                    .post(
                        &path,
                        org.admin.token(),
                        json!({ "content": "@WEB_SEARCH hi" }),
                    )
                    .await;
                assert_eq!(status, 200);
            }
        }
        let root = root.expect("a super admin");
        let (_, stats) = app.get("/api/admin/usage/stats", Some(&root)).await;
        println!(
            " {records} usage records per organization ({:.1} s to produce; total_tokens {})",
            started.elapsed().as_secs_f64(),
            stats["total_tokens"]
        );
        measure(
            &app,
            "GET /api/admin/dashboard (super_admin)",
            "/api/admin/dashboard",
            &root,
        )
        .await;
        measure(
            &app,
            "GET /api/admin/usage/stats?period=month",
            "/api/admin/usage/stats?period=month",
            &root,
        )
        .await;
    }
    many_organizations().await;
}

/// A super_admin's views that read organization by organization, over 100 organizations: on
/// DynamoDB (moto at `THANOTOPOLIS_TEST_DYNAMODB_ENDPOINT`, where each read is a network round
/// trip) when it is set, else the embedded store.
async fn many_organizations() {
    let backend = match std::env::var("THANOTOPOLIS_TEST_DYNAMODB_ENDPOINT") {
        Ok(_) => Backend::Dynamodb,
        Err(_) => Backend::Embedded,
    };
    let app = TestApp::spawn(backend).await;
    let mut root = None;
    for t in 0..100 {
        let org = app.register_org().await;
        if t == 0 {
            root = Some(app.member_with_role(&org, Role::SuperAdmin).await.access);
        }
    }
    let root = root.expect("a super admin");
    println!("super_admin reads over 100 organizations, {backend:?} store:");
    for (label, path) in [
        (
            "GET /api/admin/websocket/stats",
            "/api/admin/websocket/stats",
        ),
        ("GET /api/admin/users", "/api/admin/users"),
        ("GET /api/admin/usage/records", "/api/admin/usage/records"),
    ] {
        measure(&app, label, path, &root).await;
    }
}
