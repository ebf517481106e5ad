//! Speech-to-text against a local server speaking Deepgram's API, on both store backends:
//! the parameters sent (language map, auto-detect, model fallback), the response shape, usage
//! recorded from Deepgram's duration, live-streaming tokens, and honest errors.

use serde_json::{json, Value};
use thanotopolis_tenant_auth::Role;
use thanotopolis_tests::deepgram::{listed_request, FakeDeepgram};
use thanotopolis_tests::{on_both_backends, Backend, TestApp, TestOptions, TestUser};

async fn app_with(backend: Backend, deepgram: Option<&FakeDeepgram>) -> TestApp {
    TestApp::spawn_with(
        backend,
        TestOptions {
            deepgram: deepgram.map(|d| d.settings.clone()),
            ..TestOptions::default()
        },
    )
    .await
}

/// Posts a multipart form with `audio` as `audio_file` and the other fields.
async fn upload(
    app: &TestApp,
    path: &str,
    user: &TestUser,
    audio: &[u8],
    fields: &[(&str, &str)],
) -> (u16, Value) {
    let boundary = "thanotopolis-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"audio_file\"; filename=\"note.wav\"\r\nContent-Type: audio/wav\r\n\r\n").as_bytes());
    body.extend_from_slice(audio);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    app.post_body(
        path,
        &user.access,
        &format!("multipart/form-data; boundary={boundary}"),
        body,
    )
    .await
}

async fn files_are_transcribed_with_the_contracts_parameters(backend: Backend) {
    let deepgram = FakeDeepgram::start(None).await;
    let app = app_with(backend, Some(&deepgram)).await;
    let org = app.register_org().await;
    let admin = app.member_with_role(&org, Role::Admin).await;
    let audio = vec![7u8; 32_000];

    let (status, body) = upload(
        &app,
        "/api/stt/file",
        &org.admin,
        &audio,
        &[
            ("language", "fr-FR"),
            ("model", "nova-3"),
            ("diarize", "true"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(
        body["transcript"],
        "we would like a small service on friday"
    );
    assert_eq!(body["words"][0]["word"], "We");
    assert_eq!(
        body["paragraphs"][0]["text"],
        "We would like a small service on Friday."
    );
    assert_eq!(
        body["metadata"]["model"], "nova-2",
        "nova-3 does not serve French"
    );
    assert_eq!(body["metadata"]["file_size"], 32_000);
    let (_, q, len) = deepgram.requests().pop().unwrap();
    assert_eq!(len, 32_000);
    assert_eq!(
        (
            q["language"].as_str(),
            q["model"].as_str(),
            q["diarize"].as_str()
        ),
        ("fr", "nova-2", "true")
    );
    assert_eq!(
        (
            q["punctuate"].as_str(),
            q["smart_format"].as_str(),
            q["utterances"].as_str(),
            q["paragraphs"].as_str()
        ),
        ("true", "true", "true", "true")
    );
    assert!(!q.contains_key("detect_language"));

    let (_, body) = upload(&app, "/api/stt/file", &org.admin, &audio, &[]).await;
    let (_, q, _) = deepgram.requests().pop().unwrap();
    assert_eq!(
        q.get("detect_language").map(String::as_str),
        Some("true"),
        "no language: auto-detect"
    );
    assert!(!q.contains_key("language"));
    assert_eq!(body["metadata"]["detected_language"], "en");
    upload(&app, "/api/voice/stt/file", &org.admin, &audio, &[]).await;
    let (_, q, _) = deepgram.requests().pop().unwrap();
    assert_eq!(
        q.get("language").map(String::as_str),
        Some("en-US"),
        "the voice route uses the default language"
    );

    let (_, stats) = app
        .get("/api/admin/usage/stats?period=day", admin.token())
        .await;
    assert_eq!(
        stats["total_stt_seconds"], 37.5,
        "3 files x Deepgram's 12.5 s"
    );
    assert_eq!(stats["total_stt_words"], 24.0);
    let cents = stats["total_cost_cents"].as_f64().unwrap();
    assert!(
        (cents - 37.5 / 60.0 * 0.0043 * 100.0).abs() < 1e-9,
        "{cents}"
    );
}

async fn live_streaming_gets_a_short_lived_token(backend: Backend) {
    let deepgram = FakeDeepgram::start(None).await;
    let app = app_with(backend, Some(&deepgram)).await;
    let org = app.register_org().await;
    let (status, body) = app
        .post(
            "/api/stt/token",
            org.admin.token(),
            json!({ "language": "de-DE" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["access_token"], "temporary-token");
    assert_eq!(body["expires_in"], 60);
    let url = body["url"].as_str().unwrap();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    for p in [
        "language=de",
        "model=nova-2",
        "encoding=linear16",
        "sample_rate=16000",
        "interim_results=true",
        "endpointing=true",
    ] {
        assert!(url.contains(p), "{p} in {url}");
    }
    // Deepgram files the stream's usage under the organization and the user, signed.
    let tag = format!("tag=thanotopolis%3A{}%3A{}%3A", org.id, org.admin.id);
    assert!(url.contains(&tag), "{tag} in {url}");
    assert_eq!(
        app.post("/api/stt/token", None, json!({})).await.0,
        401,
        "no token, no Deepgram grant"
    );
}

async fn missing_or_failing_deepgram_is_said_plainly(backend: Backend) {
    let app = app_with(backend, None).await;
    let org = app.register_org().await;
    let (status, body) = upload(&app, "/api/stt/file", &org.admin, b"abc", &[]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (503, Some("Speech-to-text service unavailable"))
    );
    let (_, s) = app.get("/api/stt/status", None).await;
    assert_eq!(s["available"], false);

    let failing = FakeDeepgram::start(Some(500)).await;
    let app = app_with(backend, Some(&failing)).await;
    let org = app.register_org().await;
    let (status, body) = upload(&app, "/api/stt/file", &org.admin, b"abc", &[]).await;
    assert_eq!(status, 502);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Deepgram is down"),
        "{body}"
    );
    let (_, s) = app.get("/api/voice/stt/status", None).await;
    assert_eq!(
        (s["available"].as_bool(), s["model"].as_str()),
        (Some(true), Some("nova-2"))
    );
    let (status, _) = upload(
        &app,
        "/api/stt/file",
        &org.admin,
        &vec![0u8; 4 * 1024 * 1024 + 1024],
        &[],
    )
    .await;
    assert_eq!(status, 413);
    let (status, _) = upload(&app, "/api/stt/file", &org.admin, b"", &[]).await;
    assert_eq!(status, 422);
}

/// Live streams go to Deepgram directly: their usage is imported from the project's
/// management API by the signed tag of the grant, once per Deepgram request, and the
/// statistics say when it was last imported (null before).
async fn live_streams_are_metered_from_deepgram(backend: Backend) {
    let deepgram = FakeDeepgram::start(None).await;
    let app = TestApp::spawn_with(
        backend,
        TestOptions {
            deepgram: Some(deepgram.settings.clone()),
            live_stt: Some(deepgram.project()),
            ..TestOptions::default()
        },
    )
    .await;
    let org = app.register_org().await;
    let admin = app.member_with_role(&org, Role::Admin).await;
    let stats = async || {
        let (status, stats) = app
            .get("/api/admin/usage/stats?period=day", admin.token())
            .await;
        assert_eq!(status, 200, "{stats}");
        stats
    };
    let before = stats().await;
    assert_eq!(
        before["live_stt_imported_at"],
        Value::Null,
        "never imported"
    );

    let tag = app.live_stt_tag(org.admin.token()).await;
    assert!(
        tag.contains(&org.id) && tag.contains(&org.admin.id),
        "{tag}"
    );
    // Another organization's id in our tag's shape, without its signature, is not ours.
    let forged = format!(
        "thanotopolis:{}:{}:AAAAAAAAAAAAAAAAAAAAAA",
        uuid::Uuid::new_v4(),
        org.admin.id
    );
    deepgram.list(vec![
        listed_request("req-live", &[&tag], 30.5),
        listed_request("req-forged", &[&forged], 99.0),
        listed_request("req-untagged", &[], 12.0),
    ]);

    let report = app.run_scheduled("stt-usage-import").await;
    assert_eq!(
        (
            &report["requests"],
            &report["imported"],
            &report["not_ours"]
        ),
        (&json!(3), &json!(1), &json!(2)),
        "{report}"
    );
    let after = stats().await;
    assert_eq!(after["total_stt_seconds"], 30.5, "{after}");
    assert!(after["live_stt_imported_at"].is_string(), "{after}");
    let (path, query, _) = deepgram.requests().pop().unwrap();
    assert_eq!(path, "/v1/projects/proj-1/requests");
    assert!(
        query.contains_key("start") && query.contains_key("end"),
        "{query:?}"
    );

    // Runs overlap: a request seen again is not counted again.
    let again = app.run_scheduled("stt-usage-import").await;
    assert_eq!(
        (&again["imported"], &again["already"]),
        (&json!(0), &json!(1)),
        "{again}"
    );
    assert_eq!(stats().await["total_stt_seconds"], 30.5);
}

/// A window of more requests than a run reads is finished by the next runs, page after page,
/// before the mark moves: none is skipped, none counted twice.
async fn a_long_window_is_imported_over_several_runs(backend: Backend) {
    let deepgram = FakeDeepgram::start(None).await;
    let app = TestApp::spawn_with(
        backend,
        TestOptions {
            deepgram: Some(deepgram.settings.clone()),
            // Pages of 2, 2 pages a run: a run reads 4 requests.
            live_stt: Some(deepgram.project().with_paging(2, 2)),
            ..TestOptions::default()
        },
    )
    .await;
    let org = app.register_org().await;
    let admin = app.member_with_role(&org, Role::Admin).await;
    let tag = app.live_stt_tag(org.admin.token()).await;
    deepgram.list(
        (1..=7)
            .map(|i| listed_request(&format!("req-{i}"), &[&tag], i as f64))
            .collect(),
    );
    let stats = async || {
        let (_, stats) = app
            .get("/api/admin/usage/stats?period=day", admin.token())
            .await;
        stats
    };

    let first = app.run_scheduled("stt-usage-import").await;
    assert_eq!(
        (&first["imported"], &first["complete"], &first["first_page"]),
        (&json!(4), &json!(false), &json!(0)),
        "{first}"
    );
    assert_eq!(
        stats().await["live_stt_imported_at"],
        Value::Null,
        "not imported through any window yet"
    );
    let second = app.run_scheduled("stt-usage-import").await;
    assert_eq!(
        (
            &second["imported"],
            &second["complete"],
            &second["first_page"]
        ),
        (&json!(3), &json!(true), &json!(2)),
        "{second}"
    );
    assert_eq!(
        (&second["since"], &second["through"]),
        (&first["since"], &first["through"]),
        "the same window, read on"
    );
    let after = stats().await;
    assert_eq!(after["total_stt_seconds"], 28.0, "1 + 2 + … + 7: {after}");
    assert!(after["live_stt_imported_at"].is_string(), "{after}");
    let third = app.run_scheduled("stt-usage-import").await;
    assert_eq!(third["first_page"], 0, "a new window: {third}");
    assert_ne!(third["since"], first["since"], "{third}");
}

on_both_backends!(
    a_long_window_is_imported_over_several_runs,
    live_streams_are_metered_from_deepgram,
    files_are_transcribed_with_the_contracts_parameters,
    live_streaming_gets_a_short_lived_token,
    missing_or_failing_deepgram_is_said_plainly,
);
