//! Auth endpoints through the local gateway on the embedded store: p50/p99 latency of login
//! (argon2-bound), me and refresh, the store round trips each endpoint makes (counted in the
//! store layer), and a burst of concurrent logins: its wall time and how much the process's
//! peak resident memory grows (argon2 takes 19 MiB per hash in flight).
//! Run: `cargo bench -p thanotopolis-tests --bench auth`.

use serde_json::json;
use std::time::{Duration, Instant};
use thanotopolis_tests::{Backend, TestApp};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>, trips: f64) {
    samples.sort();
    println!(
        "{name:<24} p50 {:>8.2} ms   p99 {:>8.2} ms   store round trips {trips:.1}",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
    );
}

/// A `/proc/self/status` figure in MiB (Linux).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// `BURST` logins at once: wall time, and the growth of peak resident memory.
async fn login_burst(app: &TestApp, body: &serde_json::Value) {
    const BURST: usize = 48;
    // Resets the peak (VmHWM) to the current resident size (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let resident = status_mib("VmRSS:");
    let t = Instant::now();
    let answers = futures::future::join_all(
        (0..BURST).map(|_| app.post("/api/auth/login", None, body.clone())),
    )
    .await;
    let wall = t.elapsed();
    assert!(answers.iter().all(|(status, _)| *status == 200));
    println!(
        "{BURST} concurrent logins      wall {:>8.1} ms   resident before {resident:.1} MiB, peak during {:.1} MiB (+{:.1} MiB)",
        wall.as_secs_f64() * 1e3,
        status_mib("VmHWM:"),
        status_mib("VmHWM:") - resident,
    );
}

#[tokio::main]
async fn main() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let store = app.gateway.app.stores.main.clone();
    let trips = || store.round_trips();

    let before = trips();
    let org = app.register_org().await;
    let register_org_trips = trips() - before;
    let before = trips();
    let member = app.join(&org).await;
    let register_trips = trips() - before;

    let login_body = json!({ "email": member.email, "password": member.password });
    let (mut login, mut me, mut refresh) = (Vec::new(), Vec::new(), Vec::new());
    let (mut login_trips, mut me_trips, mut refresh_trips) = (0, 0, 0);
    let mut refresh_token = member.refresh.clone();
    const ROUNDS: usize = 200;
    for _ in 0..ROUNDS {
        let before = trips();
        let t = Instant::now();
        let (status, _) = app.post("/api/auth/login", None, login_body.clone()).await;
        login.push(t.elapsed());
        login_trips += trips() - before;
        assert_eq!(status, 200);

        let before = trips();
        let t = Instant::now();
        let (status, _) = app.get("/api/auth/me", member.token()).await;
        me.push(t.elapsed());
        me_trips += trips() - before;
        assert_eq!(status, 200);

        let before = trips();
        let t = Instant::now();
        let (status, pair) = app
            .post(
                "/api/auth/refresh",
                None,
                json!({ "refresh_token": refresh_token }),
            )
            .await;
        refresh.push(t.elapsed());
        refresh_trips += trips() - before;
        assert_eq!(status, 200);
        refresh_token = pair["refresh_token"].as_str().expect("token").to_string();
    }
    let per = |n: u64| n as f64 / ROUNDS as f64;
    println!("auth endpoints, embedded store, {ROUNDS} sequential requests each:");
    report("POST /api/auth/login", login, per(login_trips));
    report("GET /api/auth/me", me, per(me_trips));
    report("POST /api/auth/refresh", refresh, per(refresh_trips));
    println!(
        "POST /api/organizations/register   store round trips {register_org_trips} (e-mail index check + 1 transaction)"
    );
    println!(
        "POST /api/auth/register            store round trips {register_trips} (access-code lookup + 1 transaction + the pending-invitation query)"
    );
    login_burst(&app, &login_body).await;
}
