//! The agents API: availability per organization (free vs proprietary), and who may manage
//! which agents, on both store backends.

use serde_json::{json, Value};
use thanotopolis_tenant_auth::Role;
use thanotopolis_tests::{on_both_backends, Backend, TestApp};

fn types(body: &Value) -> Vec<String> {
    body["agents"]
        .as_array()
        .expect("agents list")
        .iter()
        .map(|a| a["agent_type"].as_str().unwrap().to_string())
        .collect()
}

async fn availability_depends_on_the_callers_organization(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let demo = app.register_org_named("demo").await;
    let other = app.register_org().await;
    let (status, demo_list) = app.get("/api/agents", demo.admin.token()).await;
    assert_eq!(status, 200);
    let (status, other_list) = app.get("/api/agents/", other.admin.token()).await;
    assert_eq!(status, 200);
    assert!(types(&demo_list).contains(&"STOCK_INVESTMENT_ADVISOR".to_string()));
    assert!(!types(&other_list).contains(&"STOCK_INVESTMENT_ADVISOR".to_string()));
    for free in ["MODERATOR", "GRIEF_SUPPORT", "COMPLIANCE", "WEB_SEARCH"] {
        assert!(types(&other_list).contains(&free.to_string()), "{free}");
    }
    let advisor = demo_list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent_type"] == "STOCK_INVESTMENT_ADVISOR")
        .unwrap()
        .clone();
    assert_eq!(advisor["configuration_template"], json!({}));
    assert!(
        advisor.get("system_prompt").is_none(),
        "prompts stay server-side"
    );
    let path = format!("/api/agents/{}", advisor["id"].as_str().unwrap());
    assert_eq!(app.get(&path, demo.admin.token()).await.0, 200);
    assert_eq!(app.get(&path, other.admin.token()).await.0, 404);
}

async fn organizations_manage_their_own_agents_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mine = app.register_org().await;
    let theirs = app.register_org().await;
    let member = app.join(&mine).await;
    let body = json!({ "agent_type": "FLORIST", "name": "Florist Agent", "description": "Flowers",
                       "capabilities": ["flowers"], "configuration_template": { "tone": "warm" } });
    let (status, _) = app.post("/api/agents", member.token(), body.clone()).await;
    assert_eq!(status, 403, "members cannot create agents");
    let (status, agent) = app
        .post("/api/agents", mine.admin.token(), body.clone())
        .await;
    assert_eq!(status, 200, "{agent}");
    assert_eq!(agent["is_free_agent"], false);
    assert_eq!(agent["owner_tenant_id"], mine.id.as_str());
    assert_eq!(agent["configuration_template"]["tone"], "warm");
    let (status, again) = app
        .post("/api/agents", mine.admin.token(), body.clone())
        .await;
    assert_eq!(
        (status, again["detail"].as_str()),
        (400, Some("Agent type already exists"))
    );
    let (status, _) = app
        .post(
            "/api/agents",
            mine.admin.token(),
            json!({ "agent_type": "GRIEF_SUPPORT", "name": "x" }),
        )
        .await;
    assert_eq!(status, 400, "built-in types are taken");

    assert!(types(&app.get("/api/agents", member.token()).await.1).contains(&"FLORIST".to_string()));
    assert!(
        !types(&app.get("/api/agents", theirs.admin.token()).await.1)
            .contains(&"FLORIST".to_string())
    );
    let path = format!("/api/agents/{}", agent["id"].as_str().unwrap());
    assert_eq!(app.get(&path, theirs.admin.token()).await.0, 404);
    assert_eq!(
        app.patch(&path, theirs.admin.token(), json!({ "name": "pwned" }))
            .await
            .0,
        404
    );
    assert_eq!(app.delete(&path, theirs.admin.token()).await.0, 404);

    let (status, renamed) = app
        .patch(&path, mine.admin.token(), json!({ "name": "Flowers" }))
        .await;
    assert_eq!((status, renamed["name"].as_str()), (200, Some("Flowers")));
    let (status, body) = app.delete(&path, mine.admin.token()).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("Agent deactivated successfully"))
    );
    assert!(
        !types(&app.get("/api/agents", member.token()).await.1).contains(&"FLORIST".to_string())
    );
    let (_, still) = app.get(&path, mine.admin.token()).await;
    assert_eq!(still["is_active"], false, "soft delete");

    // Types are unique per organization: another one may have its own FLORIST, unaware of ours.
    let florist = json!({ "agent_type": "FLORIST", "name": "Our Florist" });
    let (status, own) = app.post("/api/agents", theirs.admin.token(), florist).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["owner_tenant_id"], theirs.id.as_str());
    assert_ne!(own["id"], agent["id"]);
}

async fn only_super_admins_touch_free_agents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.register_org().await;
    let admin = app.member_with_role(&org, Role::Admin).await;
    let root = app.member_with_role(&org, Role::SuperAdmin).await;
    let free = json!({ "agent_type": "TRANSLATOR", "name": "Translator", "is_free_agent": true });
    let (status, body) = app.post("/api/agents", admin.token(), free.clone()).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Only super admins can create free agents"))
    );
    let (status, created) = app.post("/api/agents", root.token(), free).await;
    assert_eq!(status, 200);
    let other = app.register_org().await;
    let (status, taken) = app
        .post(
            "/api/agents",
            other.admin.token(),
            json!({ "agent_type": "TRANSLATOR", "name": "Mine" }),
        )
        .await;
    assert_eq!(
        (status, taken["detail"].as_str()),
        (400, Some("Agent type already exists")),
        "a free agent's type is everyone's"
    );
    assert!(types(&app.get("/api/agents", other.admin.token()).await.1)
        .contains(&"TRANSLATOR".to_string()));

    let (_, list) = app.get("/api/agents", org.admin.token()).await;
    let grief = list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent_type"] == "GRIEF_SUPPORT")
        .unwrap()
        .clone();
    let path = format!("/api/agents/{}", grief["id"].as_str().unwrap());
    let (status, body) = app
        .patch(&path, admin.token(), json!({ "is_enabled": false }))
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Only super admins can update free agents"))
    );
    let (status, body) = app
        .patch(&path, root.token(), json!({ "is_enabled": false }))
        .await;
    assert_eq!((status, body["is_enabled"].as_bool()), (200, Some(false)));
    assert!(!types(&app.get("/api/agents", other.admin.token()).await.1)
        .contains(&"GRIEF_SUPPORT".to_string()));
    let created_path = format!("/api/agents/{}", created["id"].as_str().unwrap());
    assert_eq!(app.delete(&created_path, admin.token()).await.0, 403);
}

on_both_backends!(
    availability_depends_on_the_callers_organization,
    organizations_manage_their_own_agents_only,
    only_super_admins_touch_free_agents,
);
