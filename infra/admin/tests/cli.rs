//! `thanotopolis-admin` run as operators run it: a separate process on the store of a running
//! local gateway, on both backends.

mod common;

use common::{admin_command, assert_succeeded};
use thanotopolis_tests::{on_both_backends, Backend, TestApp};

async fn set_role_promotes_a_user_while_the_gateway_runs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let member = app.join(&org).await;

    let out = admin_command(&app)
        .args([
            "set-role",
            "--tenant",
            &org.subdomain,
            "--email",
            &org.admin.email,
        ])
        .args(["--role", "super_admin"])
        .output()
        .expect("run thanotopolis-admin");
    assert_succeeded(&out);
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON line");
    assert_eq!(printed["role"], "super_admin");
    let (_, me) = app.get("/api/auth/me", org.admin.token()).await;
    assert_eq!(
        me["role"], "super_admin",
        "the running gateway sees it at once"
    );

    let out = admin_command(&app)
        .args(["set-role", "--user-id", &member.id, "--role", "admin"])
        .output()
        .expect("run thanotopolis-admin");
    assert_succeeded(&out);
    let (_, me) = app.get("/api/auth/me", member.token()).await;
    assert_eq!(me["role"], "admin");

    let out = admin_command(&app)
        .args([
            "set-role",
            "--user-id",
            &uuid::Uuid::new_v4().to_string(),
            "--role",
            "admin",
        ])
        .output()
        .expect("run thanotopolis-admin");
    assert!(!out.status.success(), "an unknown user is an error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("User not found"));
    let out = admin_command(&app)
        .args(["set-role", "--user-id", &member.id, "--role", "emperor"])
        .output()
        .expect("run thanotopolis-admin");
    assert!(!out.status.success());
}

/// `set-budget` sets and removes an organization's AI budget as `PATCH /api/admin/tenants/{id}`
/// does: the organization's admins see it at once, and the audit trail records who (the
/// command line) changed what.
async fn set_budget_sets_and_removes_an_organization_budget(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let other = app.register_org().await;
    let set_budget = |args: &[&str]| {
        admin_command(&app)
            .arg("set-budget")
            .args(args)
            .output()
            .expect("run thanotopolis-admin")
    };
    let out = set_budget(&["--tenant", &org.subdomain, "--monthly-tokens", "5000"]);
    assert_succeeded(&out);
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON line");
    assert_eq!(
        printed["ai_budget"],
        serde_json::json!({ "monthly_tokens": 5000, "monthly_cost_cents": null })
    );
    let usage = |token| {
        let app = &app;
        async move { app.get("/api/organizations/current/usage", token).await.1 }
    };
    let seen = usage(org.admin.token()).await;
    assert_eq!(seen["budget"]["monthly_tokens"], 5000, "{seen}");
    assert_eq!(seen["tokens_left"], 5000);
    assert_eq!(
        usage(other.admin.token()).await["budget"],
        serde_json::Value::Null
    );

    let (_, entries) = app
        .get(
            "/api/organizations/current/audit?action=organization.budget_changed",
            org.admin.token(),
        )
        .await;
    assert_eq!(entries.as_array().map(Vec::len), Some(1), "{entries}");
    assert_eq!(entries[0]["actor"], serde_json::Value::Null);
    assert_eq!(entries[0]["request_id"], "thanotopolis-admin");
    assert_eq!(
        entries[0]["changes"]["ai_budget"]["after"]["monthly_tokens"],
        5000
    );

    assert_succeeded(&set_budget(&["--tenant", &org.subdomain, "--unlimited"]));
    assert_eq!(
        usage(org.admin.token()).await["budget"],
        serde_json::Value::Null
    );

    for (args, says) in [
        (vec!["--tenant", org.subdomain.as_str()], "--unlimited"),
        (
            vec!["--tenant", "no-such-org", "--monthly-tokens", "1"],
            "no organization",
        ),
        (
            vec![
                "--tenant",
                &org.subdomain,
                "--monthly-cost-cents",
                "2000000000000000",
            ],
            "at most",
        ),
    ] {
        let out = set_budget(&args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

on_both_backends!(
    set_role_promotes_a_user_while_the_gateway_runs,
    set_budget_sets_and_removes_an_organization_budget
);
