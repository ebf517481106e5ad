//! Registration, login, tokens and sessions through HTTP, on both store backends.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::time::Duration;
use thanotopolis_tests::{on_both_backends, Backend, TestApp, TestOptions};

async fn me(app: &TestApp, token: &str) -> (u16, Value) {
    app.get("/api/auth/me", Some(token)).await
}

async fn login(app: &TestApp, email: &str, password: &str, tenant: Option<&str>) -> (u16, Value) {
    let mut body = json!({ "email": email, "password": password });
    if let Some(t) = tenant {
        body["tenant_subdomain"] = t.into();
    }
    app.post("/api/auth/login", None, body).await
}

async fn organization_registration_returns_a_working_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let (status, user) = me(&app, &org.admin.access).await;
    assert_eq!(status, 200);
    assert_eq!(user["role"], "org_admin");
    assert_eq!(user["tenant_id"], org.id.as_str());
    assert_eq!(user["is_verified"], true);
    assert!(user.get("hashed_password").is_none());
    let (status, alias) = app.get("/api/me", org.admin.token()).await;
    assert_eq!((status, alias), (200, user));
}

async fn self_registration_joins_by_access_code_and_logs_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({ "email": "Mia@Example.org", "username": "mia", "password": "longenough",
                    "access_code": org.access_code }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], "mia@example.org", "addresses are normalised");
    assert_eq!(body["role"], "user");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["organization_subdomain"], org.subdomain.as_str());
    let (status, user) = me(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!((status, user["id"].clone()), (200, body["id"].clone()));

    let again = |email: &str, username: &str| {
        json!({ "email": email, "username": username, "password": "longenough",
                "access_code": org.access_code })
    };
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            again("mia@example.org", "other"),
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Email already registered in this organization"))
    );
    let (status, body) = app
        .post("/api/auth/register", None, again("new@example.org", "MIA"))
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Username already taken in this organization"))
    );

    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({ "email": "x@example.org", "username": "x", "password": "longenough", "access_code": "nope" }),
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Tenant not found"))
    );
    let (status, body) = app
        .post(
            "/api/auth/register/token",
            None,
            again("tok@example.org", "tok"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["access_token"].is_string() && body.get("email").is_none());
}

async fn bad_registration_input_is_a_422_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({ "email": "not-an-email", "username": "", "password": "short", "access_code": org.access_code }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"], "Validation error");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["loc"][1].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "username", "password"]);

    let res = app
        .http
        .post(app.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let huge =
        json!({ "email": "a@b.org", "username": "x".repeat(70 * 1024), "password": "longenough" });
    let (status, _) = app.post("/api/auth/register", None, huge).await;
    assert_eq!(status, 413);
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({ "email": "a@b.org", "password": 12345678 }),
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (422, Some("Validation error"))
    );
    let (status, members) = app
        .get(
            &format!("/api/organizations/{}/users", org.id),
            org.admin.token(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        members.as_array().unwrap().len(),
        1,
        "only the admin exists"
    );
}

async fn login_checks_credentials_and_picks_the_oldest_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.register_org().await;
    let second = app.register_org().await;
    let shared = "same.person@example.org";
    for (org, password) in [(&first, "first-password"), (&second, "second-password")] {
        let (status, body) = app
            .post(
                "/api/auth/register",
                None,
                json!({ "email": shared, "username": "same", "password": password, "access_code": org.access_code }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, tokens) = login(&app, shared, "first-password", None).await;
    assert_eq!(status, 200, "without a tenant, the oldest account");
    assert_eq!(tokens["organization_subdomain"], first.subdomain.as_str());
    let (status, body) = login(&app, shared, "second-password", None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Invalid credentials"))
    );
    let (status, tokens) = login(&app, shared, "second-password", Some(&second.subdomain)).await;
    assert_eq!(status, 200);
    assert_eq!(tokens["organization_subdomain"], second.subdomain.as_str());

    let (status, body) = login(&app, "nobody@example.org", "whatever-pw", None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Invalid credentials"))
    );
    let (status, body) = login(&app, shared, "first-password", Some("no-such-org")).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Invalid tenant"))
    );
    let (status, _) = login(&app, "not an email", "x", None).await;
    assert_eq!(status, 422);
}

async fn refresh_rotates_and_reuse_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, TestOptions::with_refresh_grace(Duration::ZERO)).await;
    let org = app.register_org().await;
    let (status, next) = app
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": org.admin.refresh }),
        )
        .await;
    assert_eq!(status, 200, "{next}");
    assert_ne!(next["refresh_token"], org.admin.refresh.as_str());
    assert_eq!(
        me(&app, next["access_token"].as_str().unwrap()).await.0,
        200
    );

    // The rotated token comes back: a thief or a replay. The whole family dies.
    let (status, body) = app
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": org.admin.refresh }),
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Invalid refresh token"))
    );
    let (status, _) = app
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": next["refresh_token"] }),
        )
        .await;
    assert_eq!(status, 401, "the successor was revoked with its family");

    let (status, other) = login(&app, &org.admin.email, &org.admin.password, None).await;
    assert_eq!(status, 200, "a new login starts a new family");
    let (status, _) = app
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": other["refresh_token"] }),
        )
        .await;
    assert_eq!(status, 200);
}

async fn a_retried_refresh_within_the_grace_window_is_not_reuse(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let body = json!({ "refresh_token": org.admin.refresh });
    let (first, a) = app.post("/api/auth/refresh", None, body.clone()).await;
    let (second, b) = app.post("/api/auth/refresh", None, body.clone()).await;
    assert_eq!((first, second), (200, 200));
    assert_eq!(
        a["refresh_token"], b["refresh_token"],
        "a retry gets the same successor: one chain, not two"
    );
    assert_eq!(me(&app, b["access_token"].as_str().unwrap()).await.0, 200);
    let (status, _) = app
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": a["refresh_token"] }),
        )
        .await;
    assert_eq!(status, 200, "the successor works");
    let (status, _) = app.post("/api/auth/refresh", None, body).await;
    assert_eq!(
        status, 401,
        "once the successor is spent, a retry gets nothing"
    );
}

async fn logout_ends_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let (_, second) = login(&app, &org.admin.email, &org.admin.password, None).await;
    let (status, body) = app
        .post(
            "/api/auth/logout",
            org.admin.token(),
            json!({ "refresh_token": org.admin.refresh }),
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (200, Some("Successfully logged out"))
    );
    let (status, _) = app
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": org.admin.refresh }),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": second["refresh_token"] }),
        )
        .await;
    assert_eq!(status, 200, "the other session lives on");
    assert_eq!(
        me(&app, &org.admin.access).await.0,
        401,
        "the logged-out session's access token ends with it"
    );
    let second_access = second["access_token"].as_str().unwrap();
    let (status, _) = app
        .post("/api/auth/logout", Some(second_access), json!({}))
        .await;
    assert_eq!(status, 422, "refresh_token is required");

    let (_, third) = login(&app, &org.admin.email, &org.admin.password, None).await;
    let (status, body) = app
        .post("/api/auth/logout/all", Some(second_access), json!({}))
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (200, Some("Successfully logged out from all sessions"))
    );
    let (status, _) = app
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": third["refresh_token"] }),
        )
        .await;
    assert_eq!(status, 401);
    for access in [second_access, third["access_token"].as_str().unwrap()] {
        assert_eq!(
            me(&app, access).await.0,
            401,
            "logout/all ends every access token"
        );
    }
}

/// A JWT signed by hand (RFC 7515 compact form), so the tests share no code with the server's.
fn forge_with(alg: &str, claims: Value, secret: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": alg, "typ": "JWT" }).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let signature = match alg {
        "HS256" => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        "HS512" => {
            let mut mac = Hmac::<sha2::Sha512>::new_from_slice(secret).unwrap();
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        other => panic!("no forging for {other}"),
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn forge(_app: &TestApp, claims: Value, secret: &[u8]) -> String {
    forge_with("HS256", claims, secret)
}

async fn forged_and_misused_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let real_claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(org.admin.access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let sid = real_claims["sid"].clone();
    let claims = |exp: i64, typ: &str| {
        json!({ "sub": org.admin.id, "tenant_id": org.id, "sid": sid, "email": org.admin.email, "role": "super_admin",
                "exp": exp, "iat": now, "iss": "thanotopolis", "aud": "thanotopolis-api",
                "jti": "x", "typ": typ })
    };
    let secret = app.gateway.app.auth.jwt_secret.clone();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(now + 600, "access").to_string())
    );
    let wrong_key = forge(
        &app,
        claims(now + 600, "access"),
        b"another-secret-of-at-least-32-bytes!!",
    );
    let expired = forge(&app, claims(now - 600, "access"), &secret);
    let not_access = forge(&app, claims(now + 600, "refresh"), &secret);
    // The right key under another algorithm: only HS256 is accepted.
    let other_algorithm = forge_with("HS512", claims(now + 600, "access"), &secret);
    for token in [
        unsigned.as_str(),
        &wrong_key,
        &other_algorithm,
        &expired,
        &not_access,
        &org.admin.refresh,
        "garbage",
    ] {
        let (status, body) = me(&app, token).await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (401, Some("Could not validate credentials")),
            "{token}"
        );
    }
    let genuine = forge(&app, claims(now + 600, "access"), &secret);
    assert_eq!(
        me(&app, &genuine).await.0,
        200,
        "the forging itself is right"
    );

    let (status, body) = app.get("/api/auth/me", None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Not authenticated")),
        "a missing token is a 401, with WWW-Authenticate (not the old system's 403)"
    );
    let res = app
        .http
        .get(app.url("/api/auth/me"))
        .header("authorization", format!("Basic {}", org.admin.access))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let (status, body) = app
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": org.admin.access }),
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Invalid refresh token"))
    );
    let (status, user) = me(&app, &org.admin.access).await;
    assert_eq!(
        (status, user["role"].as_str()),
        (200, Some("org_admin")),
        "the role claim is not trusted"
    );
}

async fn deactivated_users_and_organizations_are_locked_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let member = app.join(&org).await;
    let (status, _) = app
        .delete(
            &format!("/api/organizations/{}/users/{}", org.id, member.id),
            org.admin.token(),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = me(&app, &member.access).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Inactive user")),
        "at once, same token"
    );
    let (status, body) = login(&app, &member.email, &member.password, None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("User account is disabled"))
    );
    let (status, _) = app
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": member.refresh }),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .post(
            "/api/auth/logout",
            Some(&member.access),
            json!({ "refresh_token": member.refresh }),
        )
        .await;
    assert_eq!(status, 200, "an inactive user may still log out");

    let root = app
        .member_with_role(&org, thanotopolis_tenant_auth::Role::SuperAdmin)
        .await;
    let victim = app.register_org().await;
    let (status, _) = app
        .patch(
            &format!("/api/organizations/{}", victim.id),
            root.token(),
            json!({ "is_active": false }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = me(&app, &victim.admin.access).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Organization is not active"))
    );
    let (status, body) = login(&app, &victim.admin.email, &victim.admin.password, None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Organization is not active"))
    );
    let (status, body) = app
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": victim.admin.refresh }),
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Organization is inactive"))
    );
}

async fn racing_registrations_have_exactly_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = |n: u32| {
        json!({
            "name": "Race", "subdomain": "photo-finish", "full_name": "Race Ltd",
            "address": {}, "phone": "1", "organization_email": "race@example.org",
            "admin_email": format!("admin{n}@example.org"), "admin_username": "admin",
            "admin_password": "longenough", "admin_first_name": "A", "admin_last_name": "B",
        })
    };
    let (a, b) = tokio::join!(
        app.post("/api/organizations/register", None, body(1)),
        app.post("/api/organizations/register", None, body(2)),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{a:?} {b:?}");
    let loser = if a.0 == 400 { a.1 } else { b.1 };
    assert_eq!(loser["detail"], "Subdomain already exists");

    let org = app.register_org().await;
    let join = |username: &str| {
        json!({ "email": "twin@example.org", "username": username, "password": "longenough",
                "access_code": org.access_code })
    };
    let (a, b) = tokio::join!(
        app.post("/api/auth/register", None, join("twin1")),
        app.post("/api/auth/register", None, join("twin2")),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "one e-mail, one account: {a:?} {b:?}");
}

async fn public_organization_endpoints_do_not_leak_access_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let other = app.register_org().await;
    let path = format!("/api/tenants/{}", org.subdomain);
    let (status, anonymous) = app.get(&path, None).await;
    assert_eq!(status, 200);
    assert_eq!(anonymous["subdomain"], org.subdomain.as_str());
    assert!(anonymous.get("access_code").is_none());
    let (_, outsider) = app.get(&path, other.admin.token()).await;
    assert!(outsider.get("access_code").is_none());
    let (_, member) = app.get(&path, org.admin.token()).await;
    assert_eq!(member["access_code"], org.access_code.as_str());
    assert_eq!(app.get("/api/tenants/no-such-org", None).await.0, 404);

    let (status, info) = app
        .get(
            &format!("/api/organizations/{}/info", org.access_code),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        info,
        json!({ "name": format!("Org {}", org.subdomain), "subdomain": org.subdomain })
    );
    let (status, body) = app.get("/api/organizations/wrongcode/info", None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (404, Some("Invalid access code or organization not found"))
    );
}

async fn organizations_can_be_created_without_an_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({
        "name": "Fresh", "subdomain": "fresh-org", "full_name": "Fresh Ltd",
        "organization_email": "hello@fresh.example.org", "phone": "555",
        "address": { "city": "Paris" }, "contact_name": "ignored"
    });
    let (status, created) = app.post("/api/organizations", None, body.clone()).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["subdomain"], "fresh-org");
    assert_eq!(created["address"]["city"], "Paris");
    assert_eq!(created["access_code"].as_str().unwrap().len(), 11);
    let (status, again) = app.post("/api/tenants", None, body).await;
    assert_eq!(
        (status, again["detail"].as_str()),
        (400, Some("Organization subdomain already exists"))
    );
    let (status, _) = app
        .post(
            "/api/organizations",
            None,
            json!({ "name": "x", "subdomain": "Bad Sub!" }),
        )
        .await;
    assert_eq!(status, 422);
}

on_both_backends!(
    organization_registration_returns_a_working_session,
    self_registration_joins_by_access_code_and_logs_in,
    bad_registration_input_is_a_422_and_stores_nothing,
    login_checks_credentials_and_picks_the_oldest_account,
    refresh_rotates_and_reuse_revokes_the_session,
    a_retried_refresh_within_the_grace_window_is_not_reuse,
    logout_ends_sessions,
    forged_and_misused_tokens_are_refused,
    deactivated_users_and_organizations_are_locked_out,
    racing_registrations_have_exactly_one_winner,
    public_organization_endpoints_do_not_leak_access_codes,
    organizations_can_be_created_without_an_account,
);
