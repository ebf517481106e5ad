//! An organization's export, import and erasure on the embedded store: records a second and
//! the process's peak memory while exporting (constant memory: it should not grow with the
//! organization). Run: `cargo bench -p thanotopolis-admin --bench organization_data`
//! (`-- 400 50` for 400 conversations of 50 messages; default 100 of 50).

use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use thanotopolis_admin::{archive, erase};
use thanotopolis_tenant_auth::validate::Subdomain;
use thanotopolis_tests::{Backend, TestApp};

/// Resident memory (`VmRSS`) or its peak since the last reset (`VmHWM`), in MB.
fn memory(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Starts a new peak-memory measurement (Linux: `5` to `clear_refs` resets `VmHWM`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[tokio::main]
async fn main() {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (conversations, per_conversation) = (
        numbers.first().copied().unwrap_or(100),
        numbers.get(1).copied().unwrap_or(50),
    );
    let app = Arc::new(TestApp::spawn(Backend::Embedded).await);
    let org = app.register_org().await;
    let token = org.admin.access.clone();
    let started = Instant::now();
    let mut seeding = Vec::new();
    for c in 0..conversations {
        let (app, token) = (app.clone(), token.clone());
        seeding.push(tokio::spawn(async move {
            let id = app
                .create_conversation(Some(&token), json!({ "title": format!("c{c}") }))
                .await;
            for m in 0..per_conversation {
                let (status, _) = app
                    .post(
                        &format!("/api/conversations/{id}/messages"),
                        Some(&token),
                        json!({ "content": format!("message {m} of a conversation that goes on for a while") }),
                    )
                    .await;
                assert_eq!(status, 200);
            }
        }));
        if seeding.len() == 16 {
            for t in seeding.drain(..) {
                t.await.unwrap();
            }
        }
    }
    for t in seeding {
        t.await.unwrap();
    }
    let messages = conversations * per_conversation;
    println!(
        "seeded {conversations} conversations, {messages} messages in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let store = app.gateway.app.stores.main.clone();
    let subdomain = Subdomain::parse(&org.subdomain).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("org.jsonl");
    let before = memory("VmRSS:");
    reset_peak();
    let t = Instant::now();
    let counts = archive::export(store.as_ref(), &subdomain, &path, false)
        .await
        .unwrap()
        .expect("the organization");
    let took = t.elapsed().as_secs_f64();
    let lines = counts.messages + counts.conversations + counts.users + counts.audit_entries + 2;
    println!(
        "export: {lines} lines, {:.1} MB, in {took:.2} s ({:.0} lines/s); memory {before:.0} MB before, peak {:.0} MB during",
        std::fs::metadata(&path).unwrap().len() as f64 / 1e6,
        lines as f64 / took,
        memory("VmHWM:"),
    );

    let empty = TestApp::spawn(Backend::Embedded).await;
    let t = Instant::now();
    let report = archive::import(empty.gateway.app.stores.main.as_ref(), &path, false)
        .await
        .unwrap();
    let took = t.elapsed().as_secs_f64();
    assert_eq!(report.imported.messages as usize, messages);
    println!(
        "import: {lines} lines in {took:.2} s ({:.0} lines/s)",
        lines as f64 / took
    );

    let t = Instant::now();
    let erased = erase::run(&app.gateway.app, &subdomain, std::time::Duration::ZERO)
        .await
        .unwrap()
        .expect("the organization");
    let took = t.elapsed().as_secs_f64();
    let items: u64 = erased.removed.iter().map(|(_, n)| n).sum();
    println!(
        "erase: {items} items in {took:.2} s ({:.0} items/s)",
        items as f64 / took
    );
}
