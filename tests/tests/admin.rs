//! The admin API on both store backends: who sees what, dashboard figures equal to what the
//! test created, exact usage totals under concurrency, and usage windows.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use thanotopolis_tenant_auth::{Role, TenantScope};
use thanotopolis_tests::openai::{FakeOpenAi, Script};
use thanotopolis_tests::{on_both_backends, Backend, TestApp};
use thanotopolis_usage::{record_usage, tenant_totals, UsageEvent, TOKENS};
use tokio_tungstenite::tungstenite::Message;

async fn scoping_follows_the_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let member = app.join(&org).await;
    let admin = app.member_with_role(&org, Role::Admin).await;
    let root = app.member_with_role(&org, Role::SuperAdmin).await;
    let other = app.register_org().await;
    for token in [member.token(), org.admin.token()] {
        let (status, body) = app.get("/api/admin/dashboard", token).await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (403, Some("Admin access required"))
        );
    }
    let (_, mine) = app.get("/api/admin/dashboard", admin.token()).await;
    let subdomains = |d: &Value| -> Vec<String> {
        d["tenant_stats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["subdomain"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        subdomains(&mine),
        std::slice::from_ref(&org.subdomain),
        "an admin sees its own organization"
    );
    assert_eq!(mine["total_users"], 4);
    let (_, all) = app.get("/api/admin/dashboard", root.token()).await;
    assert_eq!(
        all["total_users"], 5,
        "a super_admin sees every organization"
    );
    assert!(subdomains(&all).contains(&other.subdomain));
    assert_eq!(all["db_connection_pool_size"], Value::Null);

    assert_eq!(app.get("/api/admin/tenants", admin.token()).await.0, 403);
    let (status, tenants) = app.get("/api/admin/tenants", root.token()).await;
    assert_eq!((status, tenants.as_array().unwrap().len()), (200, 2));
    let (status, _) = app
        .get(
            &format!("/api/admin/users?tenant_id={}", other.id),
            admin.token(),
        )
        .await;
    assert_eq!(status, 404, "another organization reads as absent");
    let (_, users) = app
        .get(
            &format!("/api/admin/users?tenant_id={}", other.id),
            root.token(),
        )
        .await;
    assert_eq!(users["total"], 1);
    let (_, page) = app
        .get("/api/admin/users?page=2&page_size=3", admin.token())
        .await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["total_pages"].as_u64(),
            page["items"].as_array().unwrap().len()
        ),
        (Some(4), Some(2), 1)
    );

    let path = format!("/api/admin/users/{}", member.id);
    let (status, body) = app
        .patch(&path, admin.token(), json!({ "role": "super_admin" }))
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Only super admins can promote to super admin"))
    );
    let (status, body) = app
        .patch(&path, admin.token(), json!({ "role": "org_admin" }))
        .await;
    assert_eq!((status, body["role"].as_str()), (200, Some("org_admin")));
    let foreign = format!("/api/admin/users/{}", other.admin.id);
    assert_eq!(
        app.patch(&foreign, admin.token(), json!({ "is_active": false }))
            .await
            .0,
        404
    );
    assert_eq!(
        app.patch(&foreign, root.token(), json!({ "is_verified": true }))
            .await
            .0,
        200
    );
}

async fn dashboard_figures_are_what_exists(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let admin = app.member_with_role(&org, Role::Admin).await;
    let extra = app.join(&org).await;
    let mut ids = Vec::new();
    for title in ["a", "b", "c"] {
        let c = app
            .create_conversation(org.admin.token(), json!({ "title": title }))
            .await;
        ids.push(c);
    }
    let url = app.ws_url(&format!(
        "/?conversation_id={}&token={}",
        ids[0], org.admin.access
    ));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (_, d) = app.get("/api/admin/dashboard", admin.token()).await;
    assert_eq!(
        (
            d["total_users"].as_i64(),
            d["total_conversations"].as_i64(),
            d["active_ws_connections"].as_i64()
        ),
        (Some(3), Some(3), Some(1))
    );
    assert_eq!(
        d["tenant_stats"][0]["user_count"], 3,
        "no join fan-out (decision D15)"
    );
    assert_eq!(d["tenant_stats"][0]["conversation_count"], 3);

    app.delete(&format!("/api/conversations/{}", ids[2]), org.admin.token())
        .await;
    app.delete(&format!("/api/users/{}", extra.id), admin.token())
        .await;
    socket.send(Message::Close(None)).await.unwrap();
    while tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .ok()
        .flatten()
        .is_some()
    {}
    let mut live = -1;
    for _ in 0..50 {
        let (_, d) = app.get("/api/admin/dashboard", admin.token()).await;
        live = d["active_ws_connections"].as_i64().unwrap();
        if live == 0 {
            assert_eq!(
                (d["total_users"].as_i64(), d["total_conversations"].as_i64()),
                (Some(2), Some(2))
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(live, 0, "a closed socket is not counted");
}

/// `amount` tokens used in `tenant`, at `cost` dollars.
fn tokens(tenant: &TenantScope, amount: usize, cost: Option<f64>) -> UsageEvent<'_> {
    UsageEvent {
        tenant,
        user_id: None,
        conversation_id: None,
        usage_type: TOKENS,
        amount: Some(amount as f64),
        provider: "test",
        model: None,
        cost,
        details: json!({}),
    }
}

async fn concurrent_recordings_give_exact_totals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.gateway.app.stores.main.clone();
    let tenant = TenantScope::new_tenant();
    let writers = (0..50).map(|i| {
        let store = store.clone();
        async move { record_usage(store.as_ref(), tokens(&tenant, i + 1, Some(0.01))).await }
    });
    for r in futures::future::join_all(writers).await {
        r.expect("recorded");
    }
    let today = &thanotopolis_tenant_auth::now_rfc3339()[..10];
    let totals = tenant_totals(store.as_ref(), &tenant, today, today)
        .await
        .unwrap();
    assert_eq!(totals.total_tokens, (1..=50).sum::<i32>() as f64);
    assert_eq!(totals.record_count, 50);
    assert!((totals.total_cost_cents - 50.0).abs() < 1e-6);
}

/// Uses of many organizations at once: each organization's totals are exact and live; the
/// all-organization figures say they are not computed until the rollup runs, then equal the
/// sum exactly, and running it again changes nothing.
async fn all_organization_usage_is_rolled_up_exactly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.gateway.app.stores.main.clone();
    let org = app.register_org().await;
    let root = app.member_with_role(&org, Role::SuperAdmin).await;
    let mut scopes = Vec::new();
    for _ in 0..3 {
        let other = app.register_org().await;
        let subdomain = thanotopolis_tenant_auth::validate::Subdomain::parse(&other.subdomain);
        let (scope, _) =
            thanotopolis_tenant_auth::tenants::by_subdomain(store.as_ref(), &subdomain.unwrap())
                .await
                .unwrap()
                .expect("registered");
        scopes.push(scope);
    }
    let (_, before) = app.get("/api/admin/usage/stats", root.token()).await;
    assert_eq!(
        (before["as_of"].clone(), before["total_tokens"].as_f64()),
        (Value::Null, Some(0.0)),
        "not computed yet, and it says so"
    );
    let writers = (0..60).map(|i| {
        let store = store.clone();
        let tenant = scopes[i % 3];
        async move { record_usage(store.as_ref(), tokens(&tenant, i + 1, None)).await }
    });
    for r in futures::future::join_all(writers).await {
        r.expect("no use is refused");
    }
    let today = &thanotopolis_tenant_auth::now_rfc3339()[..10];
    let first = tenant_totals(store.as_ref(), &scopes[0], today, today)
        .await
        .unwrap();
    assert_eq!(
        (first.total_tokens, first.record_count),
        ((1..=60).step_by(3).sum::<usize>() as f64, 20)
    );
    for _ in 0..2 {
        let report = app.run_scheduled("usage-rollup").await;
        assert_eq!(report["tenants"], 4);
        let (_, all) = app.get("/api/admin/usage/stats", root.token()).await;
        assert_eq!(all["total_tokens"].as_f64(), Some(1830.0), "1 + … + 60");
        assert_eq!(all["as_of"], report["rolled_up_at"]);
        let (_, d) = app.get("/api/admin/dashboard", root.token()).await;
        assert_eq!(
            d["overall_usage_stats"]["total_tokens"].as_f64(),
            Some(1830.0)
        );
        assert_eq!(d["recent_usage"].as_array().unwrap().len(), 50);
    }
}

async fn usage_stats_cover_their_window(backend: Backend) {
    let provider = FakeOpenAi::start(Script::default()).await;
    let app = TestApp::spawn_with_llm(backend, provider.settings.clone()).await;
    let org = app.register_org().await;
    let admin = app.member_with_role(&org, Role::Admin).await;
    let conv = app
        .create_conversation(org.admin.token(), json!({ "title": "t" }))
        .await;
    let (status, _) = app
        .post(
            &format!("/api/conversations/{}/messages", &conv),
            org.admin.token(),
            json!({ "content": "@GRIEF_SUPPORT hi" }),
        )
        .await;
    assert_eq!(status, 200);
    for period in ["day", "week", "month"] {
        let (status, s) = app
            .get(
                &format!("/api/admin/usage/stats?period={period}"),
                admin.token(),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(s["total_tokens"], 49.0, "{period}");
    }
    let yesterday = (time::OffsetDateTime::now_utc() - time::Duration::days(1)).date();
    let (_, before) = app
        .get(
            &format!("/api/admin/usage/stats?end_date={yesterday}"),
            admin.token(),
        )
        .await;
    assert_eq!(
        before["total_tokens"], 0.0,
        "a window that ends yesterday holds none of today's usage"
    );
    assert_eq!(
        app.get("/api/admin/usage/stats?period=year", admin.token())
            .await
            .0,
        422
    );
    let (_, records) = app.get("/api/admin/usage/records", admin.token()).await;
    assert_eq!(records["total"], 1);
    assert_eq!(records["items"][0]["usage_type"], "tokens");
    assert_eq!(records["items"][0]["amount"], 49.0);
    let (_, by_org) = app
        .get("/api/admin/usage/by-organization", admin.token())
        .await;
    assert_eq!(by_org["organizations"][0]["total_tokens"], 49.0);
    let (_, d) = app.get("/api/admin/dashboard", admin.token()).await;
    assert_eq!(d["overall_usage_stats"]["total_tokens"], 49.0);
    assert_eq!(d["recent_usage"].as_array().unwrap().len(), 1);
}

async fn system_metrics_hold_what_was_reported(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let admin = app.member_with_role(&org, Role::Admin).await;
    let root = app.member_with_role(&org, Role::SuperAdmin).await;
    let other = app.register_org().await;
    let other_admin = app.member_with_role(&other, Role::Admin).await;
    let (_, none) = app.get("/api/admin/system/metrics", admin.token()).await;
    assert_eq!(none, json!([]), "nothing reported, nothing listed");
    let (status, _) = app
        .post(
            "/api/admin/system/metrics?metric_type=queue_depth&value=7",
            admin.token(),
            json!({ "queue": "stt" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post(
            "/api/admin/system/metrics?metric_type=lambda_errors&value=2",
            root.token(),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "a system-wide metric");
    let (_, mine) = app.get("/api/admin/system/metrics", admin.token()).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(
        (mine[0]["metric_type"].as_str(), mine[0]["value"].as_i64()),
        (Some("queue_depth"), Some(7))
    );
    assert_eq!(mine[0]["additional_data"]["queue"], "stt");
    let (_, theirs) = app
        .get("/api/admin/system/metrics", other_admin.token())
        .await;
    assert_eq!(
        theirs,
        json!([]),
        "another organization's metrics stay there"
    );
    let (_, all) = app
        .get("/api/admin/system/metrics?hours=168", root.token())
        .await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, only) = app
        .get(
            "/api/admin/system/metrics?metric_type=lambda_errors",
            root.token(),
        )
        .await;
    assert_eq!(only.as_array().unwrap().len(), 1);
    let (_, dashboard) = app.get("/api/admin/dashboard", admin.token()).await;
    assert_eq!(dashboard["system_metrics"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/api/admin/system/metrics?hours=500", admin.token())
            .await
            .0,
        422
    );
    let (status, _) = app
        .post(
            "/api/admin/system/metrics?metric_type=x&value=1",
            admin.token(),
            json!([1, 2]),
        )
        .await;
    assert_eq!(status, 422);
}

async fn super_admin_dashboard_is_the_last_snapshot(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let root = app.member_with_role(&org, Role::SuperAdmin).await;
    let (_, live) = app.get("/api/admin/dashboard", root.token()).await;
    assert_eq!(
        live["total_users"], 2,
        "before any snapshot it is composed live"
    );
    let first = app.run_scheduled("usage-rollup").await;
    assert_eq!(first["dashboard"]["organizations"], 1);
    let later = app.register_org().await;
    let (_, d) = app.get("/api/admin/dashboard", root.token()).await;
    assert_eq!(d["as_of"], first["dashboard"]["as_of"]);
    assert_eq!(
        d["total_users"], 2,
        "figures as of the snapshot, not the newer organization"
    );
    let second = app.run_scheduled("usage-rollup").await;
    assert_eq!(second["dashboard"]["superseded"], false);
    let (_, d) = app.get("/api/admin/dashboard", root.token()).await;
    assert_eq!(d["as_of"], second["dashboard"]["as_of"]);
    assert_eq!(d["total_users"], 3);
    assert!(d["tenant_stats"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["subdomain"] == later.subdomain.as_str()));
}

on_both_backends!(
    system_metrics_hold_what_was_reported,
    scoping_follows_the_role,
    dashboard_figures_are_what_exists,
    concurrent_recordings_give_exact_totals,
    all_organization_usage_is_rolled_up_exactly,
    usage_stats_cover_their_window,
    super_admin_dashboard_is_the_last_snapshot,
);
