//! The OpenAPI document (`/api/openapi.json`, `docs/openapi.json`) is generated from the
//! handlers' annotations. These tests hold it to the code: every route the functions declare
//! is in it and nothing else is, what it says about authentication is what the API does, and
//! the committed copy is the current one.

use serde_json::Value;
use std::collections::BTreeSet;
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
/// a bearer token refuses a request without one (403 `Not authenticated`, CONTRACT §1.2) and
/// one with an invalid token (401); every public one serves a request without a token.
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
        let refused = status == 401 || answer["detail"] == "Not authenticated";
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
