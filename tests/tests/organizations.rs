//! Organizations, members and the role matrix through HTTP, on both store backends:
//! each role against each guarded action, and another tenant's ids on every id-taking route.

use serde_json::{json, Value};
use thanotopolis_tenant_auth::Role;
use thanotopolis_tests::{on_both_backends, Backend, TestApp, TestOrg, TestUser};

/// One user of each role in one organization (its registering org_admin included).
struct Staff {
    org: TestOrg,
    user: TestUser,
    admin: TestUser,
    root: TestUser,
}

async fn staff(app: &TestApp) -> Staff {
    let org = app.register_org().await;
    let user = app.join(&org).await;
    let admin = app.member_with_role(&org, Role::Admin).await;
    let root = app.member_with_role(&org, Role::SuperAdmin).await;
    Staff {
        org,
        user,
        admin,
        root,
    }
}

impl Staff {
    /// (role, token) for every role, lowest first.
    fn ladder(&self) -> [(&'static str, &str); 4] {
        [
            ("user", &self.user.access),
            ("org_admin", &self.org.admin.access),
            ("admin", &self.admin.access),
            ("super_admin", &self.root.access),
        ]
    }
}

async fn every_role_meets_the_permission_matrix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = staff(&app).await;
    let org = &s.org;
    // (action, expected status for user, org_admin, admin, super_admin)
    for (role, token) in s.ladder() {
        let at_least = |min: &str| {
            let rank = |r: &str| {
                ["user", "org_admin", "admin", "super_admin"]
                    .iter()
                    .position(|x| *x == r)
            };
            if rank(role) >= rank(min) {
                200
            } else {
                403
            }
        };
        let t = Some(token);
        let checks: Vec<(&str, u16, u16)> = vec![
            (
                "GET current",
                app.get("/api/organizations/current", t).await.0,
                200,
            ),
            (
                "GET org by id",
                app.get(&format!("/api/organizations/{}", org.id), t)
                    .await
                    .0,
                200,
            ),
            (
                "PATCH current",
                app.patch("/api/organizations/current", t, json!({ "phone": "42" }))
                    .await
                    .0,
                at_least("org_admin"),
            ),
            (
                "regenerate code",
                app.post(
                    "/api/organizations/current/regenerate-access-code",
                    t,
                    json!({}),
                )
                .await
                .0,
                at_least("org_admin"),
            ),
            (
                "list members",
                app.get(&format!("/api/organizations/{}/users", org.id), t)
                    .await
                    .0,
                at_least("org_admin"),
            ),
            (
                "GET /api/users",
                app.get("/api/users", t).await.0,
                at_least("admin"),
            ),
        ];
        for (action, got, want) in checks {
            assert_eq!(got, want, "{role}: {action}");
        }
    }
}

async fn role_changes_follow_the_ladder(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = staff(&app).await;
    let org = &s.org;
    let target = app.join(org).await;
    let member_path = format!("/api/organizations/{}/users/{}", org.id, target.id);
    let set = |token: &str, role: &str| {
        let path = member_path.clone();
        let token = token.to_string();
        let role = role.to_string();
        let app = &app;
        async move {
            app.patch(&path, Some(&token), json!({ "role": role }))
                .await
        }
    };
    // org_admin: up to org_admin only.
    let (status, body) = set(&org.admin.access, "org_admin").await;
    assert_eq!((status, body["role"].as_str()), (200, Some("org_admin")));
    let (status, body) = set(&org.admin.access, "admin").await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (
            403,
            Some("You cannot promote users to admin or super_admin")
        )
    );
    // admin: up to admin, never super_admin (decision D8).
    assert_eq!(set(&s.admin.access, "admin").await.0, 200);
    let (status, body) = set(&s.admin.access, "super_admin").await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Only super admins can promote to super admin"))
    );
    // Nobody touches someone ranked above them.
    assert_eq!(
        set(&org.admin.access, "user").await.0,
        403,
        "org_admin cannot demote an admin"
    );
    // super_admin: anything; and then only a super_admin touches that user.
    assert_eq!(set(&s.root.access, "super_admin").await.0, 200);
    let (status, body) = set(&s.admin.access, "user").await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Super admin access required"))
    );
    let (status, body) = set(&s.root.access, "emperor").await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Invalid role"))
    );
    // Nobody changes their own role or deactivates themselves.
    let own = format!("/api/organizations/{}/users/{}", org.id, s.root.id);
    let (status, body) = app
        .patch(&own, s.root.token(), json!({ "role": "user" }))
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("You cannot change your own role"))
    );
    let (status, body) = app.delete(&own, s.root.token()).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("You cannot deactivate yourself"))
    );

    // The /api/users role route applies the same rules.
    let user_role = |id: &str, role: &str| format!("/api/users/{id}/role?role={role}");
    let other = app.join(org).await;
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            &user_role(&other.id, "super_admin"),
            s.admin.token(),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &user_role(&other.id, "admin"),
            s.admin.token(),
            None,
        )
        .await;
    assert_eq!((status, body["role"].as_str()), (200, Some("admin")));
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &user_role(&other.id, "admin"),
            org.admin.token(),
            None,
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Admin access required"))
    );
    // A role change takes effect on the target's existing token at once.
    let (_, me) = app.get("/api/auth/me", other.token()).await;
    assert_eq!(me["role"], "admin");
}

async fn another_tenants_ids_read_as_absent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mine = staff(&app).await;
    let theirs = app.register_org().await;
    let their_user = app.join(&theirs).await;
    let o = &theirs.id;
    let u = &their_user.id;
    for token in [&mine.org.admin.access, &mine.admin.access] {
        let t = Some(token.as_str());
        let attempts: Vec<(String, u16)> = vec![
            (
                format!("GET org {o}"),
                app.get(&format!("/api/organizations/{o}"), t).await.0,
            ),
            (
                "PATCH org".into(),
                app.patch(
                    &format!("/api/organizations/{o}"),
                    t,
                    json!({ "name": "pwned" }),
                )
                .await
                .0,
            ),
            (
                "list members".into(),
                app.get(&format!("/api/organizations/{o}/users"), t).await.0,
            ),
            (
                "patch member".into(),
                app.patch(
                    &format!("/api/organizations/{o}/users/{u}"),
                    t,
                    json!({ "is_active": false }),
                )
                .await
                .0,
            ),
            (
                "deactivate member".into(),
                app.delete(&format!("/api/organizations/{o}/users/{u}"), t)
                    .await
                    .0,
            ),
            (
                "member of my org path".into(),
                app.patch(
                    &format!("/api/organizations/{}/users/{u}", mine.org.id),
                    t,
                    json!({ "is_active": false }),
                )
                .await
                .0,
            ),
            (
                "GET user".into(),
                app.get(&format!("/api/users/{u}"), t).await.0,
            ),
            (
                "set role".into(),
                app.call(
                    reqwest::Method::PUT,
                    &format!("/api/users/{u}/role?role=user"),
                    t,
                    None,
                )
                .await
                .0,
            ),
            (
                "delete user".into(),
                app.delete(&format!("/api/users/{u}"), t).await.0,
            ),
        ];
        for (what, status) in attempts {
            assert_eq!(status, 404, "{what}");
        }
    }
    let (status, body) = app.get("/api/auth/me", their_user.token()).await;
    assert_eq!(
        (status, body["is_active"].as_bool()),
        (200, Some(true)),
        "nothing happened to them"
    );
    let (_, org) = app
        .get("/api/organizations/current", theirs.admin.token())
        .await;
    assert_ne!(org["name"], "pwned");
    // A super_admin acts on any organization.
    let (status, org) = app
        .get(&format!("/api/organizations/{o}"), mine.root.token())
        .await;
    assert_eq!((status, org["id"].as_str()), (200, Some(o.as_str())));
    let (status, members) = app
        .get(&format!("/api/organizations/{o}/users"), mine.root.token())
        .await;
    assert_eq!((status, members.as_array().map(Vec::len)), (200, Some(2)));
    assert_eq!(
        app.get("/api/organizations/not-a-uuid", mine.root.token())
            .await
            .0,
        422
    );
}

async fn organization_edits_apply_present_keys_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let t = org.admin.token();
    let (status, body) = app
        .patch(
            "/api/organizations/current",
            t,
            json!({ "name": "Renamed", "description": "About us", "phone": null,
                    "address": { "street": "2 Rue", "city": "Nice", "state": "", "postal_code": "06000", "country": "FR" },
                    "contact_name": "ignored", "contact_email": "ignored" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Renamed");
    assert_eq!(body["phone"], Value::Null, "explicit null clears");
    assert_eq!(
        body["full_name"], "Funeral Home Ltd",
        "absent keys are kept"
    );
    assert_eq!(body["address"]["city"], "Nice");
    assert!(body["updated_at"].is_string());
    assert!(body.get("contact_name").is_none());
    let (status, body) = app
        .patch(
            "/api/organizations/current",
            t,
            json!({ "organization_email": "nope" }),
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (422, Some("Validation error"))
    );
    let (status, _) = app
        .patch(
            "/api/organizations/current",
            t,
            json!({ "is_active": false }),
        )
        .await;
    assert_eq!(
        status, 403,
        "an org_admin cannot lock its whole organization out"
    );
    let (_, current) = app.get("/api/organizations/current", t).await;
    assert_eq!(
        current["organization_email"],
        format!("contact@{}.example.org", org.subdomain)
    );
    assert_eq!(current["is_active"], true);
}

async fn regenerating_the_access_code_retires_the_old_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let (status, body) = app
        .post(
            "/api/organizations/current/regenerate-access-code",
            org.admin.token(),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let fresh = body["access_code"].as_str().unwrap().to_string();
    assert_ne!(fresh, org.access_code);
    assert_eq!(
        app.get(
            &format!("/api/organizations/{}/info", org.access_code),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        app.get(&format!("/api/organizations/{fresh}/info"), None)
            .await
            .0,
        200
    );
}

async fn members_are_deactivated_reactivated_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = staff(&app).await;
    let member = app.join(&s.org).await;
    let path = format!("/api/organizations/{}/users/{}", s.org.id, member.id);
    let (status, body) = app.delete(&path, s.org.admin.token()).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("User deactivated successfully"))
    );
    assert_eq!(app.get("/api/auth/me", member.token()).await.0, 400);
    let (status, body) = app
        .patch(&path, s.org.admin.token(), json!({ "is_active": true }))
        .await;
    assert_eq!((status, body["is_active"].as_bool()), (200, Some(true)));
    assert_eq!(app.get("/api/auth/me", member.token()).await.0, 200);
    let (_, members) = app
        .get(
            &format!("/api/organizations/{}/users", s.org.id),
            s.org.admin.token(),
        )
        .await;
    assert_eq!(members.as_array().unwrap().len(), 5);

    let (status, body) = app
        .get(&format!("/api/users/{}", member.id), member.token())
        .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (200, Some(member.id.as_str())),
        "self"
    );
    let (status, body) = app
        .get(&format!("/api/users/{}", s.admin.id), member.token())
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Not authorized"))
    );
    let (status, body) = app
        .delete(&format!("/api/users/{}", s.admin.id), s.admin.token())
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Cannot delete your own account"))
    );
    let (status, body) = app
        .delete(&format!("/api/users/{}", s.root.id), s.admin.token())
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Cannot delete super admin"))
    );
    let (status, body) = app
        .delete(&format!("/api/users/{}", member.id), s.admin.token())
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (200, Some("User deleted successfully"))
    );
    assert_eq!(app.get("/api/auth/me", member.token()).await.0, 401);
    // The deleted account's e-mail is free again in this organization.
    let (status, _) = app
        .post(
            "/api/auth/register",
            None,
            json!({ "email": member.email, "username": "reborn", "password": "longenough",
                    "access_code": s.org.access_code }),
        )
        .await;
    assert_eq!(status, 200);
}

on_both_backends!(
    every_role_meets_the_permission_matrix,
    role_changes_follow_the_ladder,
    another_tenants_ids_read_as_absent,
    organization_edits_apply_present_keys_only,
    regenerating_the_access_code_retires_the_old_one,
    members_are_deactivated_reactivated_and_deleted,
);
