//! Running `thanotopolis-admin` as operators run it: a separate process on the store of a
//! test's running gateway.

use std::process::Command;
use thanotopolis_service::config::StoreBackend;
use thanotopolis_tests::TestApp;

pub fn admin_command(app: &TestApp) -> Command {
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

pub fn assert_succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
