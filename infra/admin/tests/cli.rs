//! `thanotopolis-admin` run as operators run it: a separate process on the store of a running
//! local gateway, on both backends.

use std::process::Command;
use thanotopolis_service::config::StoreBackend;
use thanotopolis_tests::{on_both_backends, Backend, TestApp};

fn admin_command(app: &TestApp) -> Command {
    let settings = app.gateway.store_settings();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_thanotopolis-admin"));
    cmd.args(["--table", &settings.table])
        .args(["--connections-table", &settings.connections_table]);
    match &settings.backend {
        StoreBackend::Embedded { data_dir } => {
            cmd.args(["--store", "embedded"])
                .arg("--data-dir")
                .arg(data_dir);
        }
        StoreBackend::Dynamodb { endpoint } => {
            cmd.args(["--store", "dynamodb"]).args([
                "--dynamodb-endpoint",
                endpoint.as_deref().expect("test endpoint"),
            ]);
        }
    }
    cmd
}

fn assert_succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

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
