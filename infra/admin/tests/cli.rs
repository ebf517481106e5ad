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

on_both_backends!(set_role_promotes_a_user_while_the_gateway_runs);
