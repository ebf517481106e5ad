//! The OpenAPI document (`/api/openapi.json`, `docs/openapi.json`) is generated from the
//! handlers' annotations. These tests hold it to the code: every route the functions declare
//! is in it and nothing else is, what it says about authentication is what the API does, and
//! the committed copy is the current one.

use serde_json::Value;
use std::collections::BTreeSet;
use thanotopolis_tenant_auth::Role;
use thanotopolis_tests::routes::{code_routes, normalize};
use thanotopolis_tests::{Backend, TestApp};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn document() -> Value {
    serde_json::to_value(thanotopolis_local::openapi()).expect("the document serializes")
}

/// Every (METHOD, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

#[test]
fn every_route_in_the_code_is_documented_and_nothing_else() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let code = code_routes();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, normalize(&path)))
        .collect();
    let missing: Vec<_> = code.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&code).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "documented routes no function serves: {extra:?}"
    );
}

#[test]
fn every_operation_has_a_summary_responses_and_its_path_parameters() {
    let doc = document();
    for (method, path, op) in operations(&doc) {
        assert!(
            op["summary"]
                .as_str()
                .is_some_and(|s| !s.is_empty() && !s.contains('\n')),
            "{method} {path} has no one-line summary"
        );
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} documents no response"
        );
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let in_path: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split('}').next())
            .collect();
        assert_eq!(declared, in_path, "{method} {path}: path parameters");
    }
}

#[test]
fn the_committed_document_is_the_current_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let current = serde_json::to_string_pretty(&thanotopolis_local::openapi()).unwrap() + "\n";
    assert!(
        committed == current,
        "docs/openapi.json is stale; regenerate it with\n  \
         cargo run -p thanotopolis-local -- --print-openapi > docs/openapi.json"
    );
}

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                uuid::Uuid::new_v4().to_string()
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// What the document says about authentication holds: every operation it marks as needing
/// a bearer token refuses a request without one (401 `Not authenticated`) and one with an
/// invalid token (401); every public one serves a request without a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_authentication_is_what_the_api_enforces() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let doc = document();
    let mut wrong = Vec::new();
    for (method, path, op) in operations(&doc) {
        // `security: [{}]` (possibly among alternatives) means a token is optional.
        let public = op["security"].as_array().is_some_and(|alts| {
            alts.iter()
                .any(|a| a.as_object().is_some_and(|o| o.is_empty()))
        });
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let body = op.get("requestBody").map(|_| serde_json::json!({}));
        let url = concrete(&path);
        let (status, answer) = app.call(method.clone(), &url, None, body.clone()).await;
        let refused = status == 401 && answer["detail"].is_string();
        if public == refused {
            wrong.push(format!(
                "{method} {path}: documented {}, answered {status} {answer} without a token",
                if public { "public" } else { "protected" }
            ));
        }
        if !public {
            let (status, _) = app
                .call(method.clone(), &url, Some("not-a-token"), body)
                .await;
            if status != 401 {
                wrong.push(format!(
                    "{method} {path}: answered {status} to an invalid token"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_gateway_serves_the_document() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let (status, body) = app.get(thanotopolis_local::OPENAPI_PATH, None).await;
    assert_eq!(status, 200);
    assert_eq!(body, document());
}

/// Where `value` breaks `schema` (resolving `$ref`s in `doc`): a missing required or an
/// undocumented property, or a wrong JSON type.
fn mismatches(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(name) = schema["$ref"].as_str() {
        let name = name.trim_start_matches("#/components/schemas/");
        return mismatches(doc, &doc["components"]["schemas"][name], value, at, out);
    }
    if let Some(alternatives) = schema["oneOf"].as_array() {
        let fits = alternatives.iter().any(|alt| {
            let mut errors = Vec::new();
            mismatches(doc, alt, value, at, &mut errors);
            errors.is_empty()
        });
        if !fits {
            out.push(format!("{at}: {value} fits none of its alternatives"));
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return, // any value
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let fits = types
        .iter()
        .any(|t| *t == actual || (*t == "number" && actual == "integer"));
    if !fits {
        out.push(format!("{at}: a {actual}, documented as {types:?}"));
        return;
    }
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                mismatches(doc, &schema["items"], item, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(fields) => {
            let Some(properties) = schema["properties"].as_object() else {
                return;
            };
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                if !fields.contains_key(name) {
                    out.push(format!("{at}.{name}: required but absent"));
                }
            }
            for (name, field) in fields {
                match properties.get(name) {
                    Some(s) => mismatches(doc, s, field, &format!("{at}.{name}"), out),
                    None => out.push(format!("{at}.{name}: not in the documented schema")),
                }
            }
        }
        _ => {}
    }
}

/// The documented 200 body of `method template`.
fn success_schema(doc: &Value, method: &str, template: &str) -> Value {
    doc["paths"][template][method]["responses"]["200"]["content"]["application/json"]["schema"]
        .clone()
}

/// What the API sends is what the document says it sends, for the typed responses a user
/// journey meets: users, organizations, agents, conversations and messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_match_their_documented_schemas() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let doc = document();
    let org = app.register_org().await;
    let token = org.admin.token();
    let (_, agents) = app.get("/api/agents", token).await;
    let agent = &agents["agents"][0];
    let agent_id = agent["id"].as_str().expect("an agent").to_string();
    let agent_type = agent["agent_type"].as_str().unwrap().to_string();
    let (status, conversation) = app
        .post(
            "/api/conversations",
            token,
            serde_json::json!({"title": "Arrangements", "agent_types": [agent_type],
                               "participant_emails": ["family@example.org"]}),
        )
        .await;
    assert_eq!(status, 200, "{conversation}");
    let id = conversation["id"].as_str().unwrap().to_string();
    let (status, message) = app
        .post(
            &format!("/api/conversations/{id}/messages"),
            token,
            serde_json::json!({"content": "When is the service?"}),
        )
        .await;
    assert_eq!(status, 200, "{message}");
    let message_id = message["id"].as_str().unwrap().to_string();
    // (path, documented path, token): /api/users needs an admin.
    let admin = app.member_with_role(&org, Role::Admin).await;
    let reads = [
        ("/api/auth/me".to_string(), "/api/auth/me", token),
        ("/api/users".into(), "/api/users", admin.token()),
        (
            format!("/api/users/{}", org.admin.id),
            "/api/users/{user_id}",
            admin.token(),
        ),
        (
            "/api/organizations/current".into(),
            "/api/organizations/current",
            token,
        ),
        (
            format!("/api/organizations/{}", org.id),
            "/api/organizations/{org_id}",
            token,
        ),
        (
            format!("/api/organizations/{}/users", org.id),
            "/api/organizations/{org_id}/users",
            token,
        ),
        (
            format!("/api/tenants/{}", org.subdomain),
            "/api/tenants/{subdomain}",
            token,
        ),
        (
            format!("/api/agents/{agent_id}"),
            "/api/agents/{agent_id}",
            token,
        ),
        ("/api/conversations".into(), "/api/conversations", token),
        (
            "/api/conversations/search?q=arr".into(),
            "/api/conversations/search",
            token,
        ),
        (
            format!("/api/conversations/{id}"),
            "/api/conversations/{id}",
            token,
        ),
        (
            format!("/api/conversations/{id}/messages"),
            "/api/conversations/{id}/messages",
            token,
        ),
        (
            format!("/api/conversations/{id}/messages/{message_id}"),
            "/api/conversations/{id}/messages/{message_id}",
            token,
        ),
    ];
    let mut wrong = Vec::new();
    let mut check = |method: &str, template: &str, body: &Value| {
        let schema = success_schema(&doc, method, template);
        assert!(
            !schema.is_null(),
            "{method} {template} documents no 200 body"
        );
        mismatches(
            &doc,
            &schema,
            body,
            &format!("{method} {template}"),
            &mut wrong,
        );
    };
    check("post", "/api/conversations", &conversation);
    check("post", "/api/conversations/{id}/messages", &message);
    for (path, template, token) in reads {
        let (status, body) = app.get(&path, token).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        check("get", template, &body);
    }
    // Errors too: a 404 and a validation 422 have the documented `Error` shape.
    let (status, missing) = app
        .get(
            &format!("/api/conversations/{}", uuid::Uuid::new_v4()),
            token,
        )
        .await;
    assert_eq!(status, 404, "{missing}");
    let (status, invalid) = app
        .post("/api/conversations", token, serde_json::json!({"title": 7}))
        .await;
    assert_eq!(status, 422, "{invalid}");
    for (method, template, status, body) in [
        ("get", "/api/conversations/{id}", "404", &missing),
        ("post", "/api/conversations", "422", &invalid),
    ] {
        let schema = &doc["paths"][template][method]["responses"][status]["content"]
            ["application/json"]["schema"];
        assert!(
            !schema.is_null(),
            "{method} {template} documents no {status} body"
        );
        mismatches(
            &doc,
            schema,
            body,
            &format!("{method} {template} {status}"),
            &mut wrong,
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
