//! `infra/template.yaml` is the one definition of the tables and functions: the code's table
//! schemas and binary names must match it.

use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::Path;
use thanotopolis_store::schema::{CONNECTIONS_TABLE, MAIN_TABLE};
use thanotopolis_store::TableSchema;
use thanotopolis_tests::routes::{code_routes, normalize};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).expect("read template");
    serde_yaml::from_str(&text).expect("template is YAML")
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
        .to_string()
}

/// (hash key, range key) of a `KeySchema` list.
fn key_schema(list: &Value) -> (String, Option<String>) {
    let mut hash = None;
    let mut range = None;
    for el in list.as_sequence().expect("KeySchema is a list") {
        match el["KeyType"].as_str() {
            Some("HASH") => hash = Some(s(&el["AttributeName"])),
            Some("RANGE") => range = Some(s(&el["AttributeName"])),
            other => panic!("unknown KeyType {other:?}"),
        }
    }
    (hash.expect("a HASH key"), range)
}

fn assert_table_matches(schema: &TableSchema) {
    let t = template();
    let props = &t["Resources"][schema.logical_id]["Properties"];
    assert_eq!(
        key_schema(&props["KeySchema"]),
        (
            schema.partition_key.to_string(),
            schema.sort_key.map(str::to_string)
        ),
        "{} key schema",
        schema.logical_id
    );
    let indexes = props["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("GSIs listed");
    assert_eq!(indexes.len(), schema.indexes.len());
    for (yaml, code) in indexes.iter().zip(&schema.indexes) {
        assert_eq!(s(&yaml["IndexName"]), code.name);
        assert_eq!(
            key_schema(&yaml["KeySchema"]),
            (
                code.partition_key.to_string(),
                Some(code.sort_key.to_string())
            ),
            "index {}",
            code.name
        );
        assert_eq!(yaml["Projection"]["ProjectionType"].as_str(), Some("ALL"));
    }
    let declared: BTreeSet<String> = props["AttributeDefinitions"]
        .as_sequence()
        .expect("attribute definitions")
        .iter()
        .map(|a| {
            assert_eq!(a["AttributeType"].as_str(), Some("S"), "keys are strings");
            s(&a["AttributeName"])
        })
        .collect();
    let mut used: BTreeSet<String> = [schema.partition_key]
        .into_iter()
        .map(String::from)
        .collect();
    used.extend(schema.sort_key.map(String::from));
    for ix in &schema.indexes {
        used.insert(ix.partition_key.into());
        used.insert(ix.sort_key.into());
    }
    assert_eq!(
        declared, used,
        "{} attribute definitions",
        schema.logical_id
    );
    assert_eq!(
        props["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(schema.ttl_attribute)
    );
    assert_eq!(
        props["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        props["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn main_table_matches_the_template() {
    assert_table_matches(&MAIN_TABLE);
}

#[test]
fn connections_table_matches_the_template() {
    assert_table_matches(&CONNECTIONS_TABLE);
}

/// Binary names of the function crates under `functions/`.
fn function_binaries() -> BTreeSet<String> {
    let mut bins = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/") {
        let manifest = entry.expect("dir entry").path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("function manifest");
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("name = \"thanotopolis-") {
                if text.contains("[[bin]]") {
                    bins.insert(format!("thanotopolis-{}", name.trim_end_matches('"')));
                }
            }
        }
    }
    bins
}

/// Every `contract §N` and `decision DN` a comment cites is listed in `docs/decisions.md`, so a
/// citation always points at something in this repository.
#[test]
fn cited_contract_sections_and_decisions_are_documented() {
    let decisions =
        std::fs::read_to_string(root().join("docs/decisions.md")).expect("decisions.md");
    let mut files = Vec::new();
    for dir in ["functions", "shared", "infra", "tests"] {
        sources(&root().join(dir), &mut files);
    }
    let number = |rest: &str| -> String {
        let id: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        id.trim_end_matches('.').to_string()
    };
    let mut cited = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source file");
        for line in text.lines() {
            for id in line.split("contract §").skip(1).map(number) {
                if !id.is_empty() {
                    cited.insert((format!("| {id} |"), file.display().to_string()));
                }
            }
            if line.contains("decision") {
                for word in line.split(|c: char| !c.is_ascii_alphanumeric()) {
                    if let Some(n) = word
                        .strip_prefix('D')
                        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    {
                        cited.insert((format!("| D{n} |"), file.display().to_string()));
                    }
                }
            }
        }
    }
    assert!(!cited.is_empty(), "the code cites the contract");
    for (row, file) in cited {
        assert!(
            decisions.contains(&row),
            "{file} cites `{row}`, which docs/decisions.md does not list"
        );
    }
}

/// Every key format the key module writes is in `docs/data-model.md`: each literal part of a
/// key (`TENANT#`, `USAGEDAY#`, `META`, …) appears there, so a new entity cannot be stored
/// without its layout being documented.
#[test]
fn the_data_model_documents_every_key_the_key_module_builds() {
    let keys =
        std::fs::read_to_string(root().join("shared/tenant-auth/src/keys.rs")).expect("keys.rs");
    let doc = std::fs::read_to_string(root().join("docs/data-model.md")).expect("data-model.md");
    let mut parts = BTreeSet::new();
    for line in keys.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for literal in line.split('"').skip(1).step_by(2) {
            // Placeholders (`{tenant_id}`, `{AGENT_PREFIX}`) are not literal parts.
            let mut text = String::new();
            let mut depth = 0;
            for c in literal.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ if depth == 0 => text.push(c),
                    _ => text.push(' '),
                }
            }
            for part in text.split(|c: char| !(c.is_ascii_uppercase() || c == '#' || c == '_')) {
                if part.chars().filter(|c| c.is_ascii_uppercase()).count() >= 3 {
                    parts.insert(part.to_string());
                }
            }
        }
    }
    assert!(parts.len() > 15, "the scan found the key parts: {parts:?}");
    let missing: Vec<&String> = parts.iter().filter(|p| !doc.contains(p.as_str())).collect();
    assert!(
        missing.is_empty(),
        "key parts docs/data-model.md does not mention: {missing:?}"
    );
}

/// One naming rule: the function in `functions/<dir>` is the crate and binary
/// `thanotopolis-fn-<dir>`, so a binary in the template or a log names its folder, and no
/// function is confused with the shared crate of the same concept (`thanotopolis-agents`) or
/// an operator tool (`thanotopolis-admin`).
#[test]
fn function_crates_and_binaries_are_named_after_their_folder() {
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/") {
        let dir = entry.expect("dir entry").path();
        let folder = dir.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).expect("function manifest");
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .map(|n| n.trim_end_matches('"'))
            .collect();
        assert_eq!(
            names,
            [
                format!("thanotopolis-fn-{folder}"),
                format!("thanotopolis-fn-{folder}")
            ],
            "functions/{folder}: package and [[bin]] names"
        );
    }
}

/// Function crates are entry points: what two of them share lives in `shared/`, so no function
/// crate depends on another.
#[test]
fn no_function_crate_depends_on_another() {
    let manifests: Vec<(String, String)> = std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .map(|entry| {
            let text = std::fs::read_to_string(entry.expect("dir entry").path().join("Cargo.toml"))
                .expect("function manifest");
            let name = text
                .lines()
                .find_map(|l| l.strip_prefix("name = \""))
                .expect("package name")
                .trim_end_matches('"')
                .to_string();
            (name, text)
        })
        .collect();
    for (name, text) in &manifests {
        let dependencies = text.split("[dependencies]").nth(1).unwrap_or_default();
        for (other, _) in manifests.iter().filter(|(other, _)| other != name) {
            assert!(
                !dependencies
                    .lines()
                    .any(|l| l.starts_with(&format!("{other}."))
                        || l.starts_with(&format!("{other} "))),
                "{name} depends on the function crate {other}"
            );
        }
    }
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Permissions are decided in one module: no other source reads the caller's role.
#[test]
fn roles_are_checked_only_in_the_policy_module() {
    let policy = root().join("shared/tenant-auth/src/policy.rs");
    let mut files = Vec::new();
    for dir in ["functions", "shared", "infra"] {
        sources(&root().join(dir), &mut files);
    }
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| **f != policy)
        .filter(|f| std::fs::read_to_string(f).is_ok_and(|text| text.contains(".role()")))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "role checks outside policy.rs: {offenders:?}"
    );
}

/// Every function crate is deployed, and a binary twice only as scheduled functions (the same
/// tasks binary under different least-privilege roles, one per schedule group): an API
/// route is served by one function only.
#[test]
fn every_function_crate_is_deployed_once_with_a_unique_binary() {
    let t = template();
    let mut deployed = Vec::new();
    let mut scheduled_only = BTreeSet::new();
    for (_, resource) in t["Resources"].as_mapping().expect("resources") {
        if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
            assert_eq!(
                resource["Metadata"]["BuildMethod"].as_str(),
                Some("rust-cargolambda")
            );
            let binary = s(&resource["Metadata"]["BuildProperties"]["Binary"]);
            let events = resource["Properties"]["Events"].as_mapping();
            if events.is_some_and(|e| e.values().all(|ev| ev["Type"].as_str() == Some("Schedule")))
            {
                scheduled_only.insert(binary.clone());
            }
            deployed.push(binary);
        }
    }
    let unique: BTreeSet<String> = deployed.iter().cloned().collect();
    for binary in &unique {
        let copies = deployed.iter().filter(|b| *b == binary).count();
        assert!(
            copies == 1 || scheduled_only.contains(binary),
            "{binary} is deployed {copies} times, not only on schedules"
        );
    }
    assert_eq!(unique, function_binaries());
}

/// Every scheduled task runs on a schedule of the template (and only those tasks do).
#[test]
fn every_scheduled_task_has_a_schedule() {
    let t = template();
    let mut scheduled = BTreeSet::new();
    for (_, resource) in t["Resources"].as_mapping().expect("resources") {
        for (_, event) in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if event["Type"].as_str() == Some("Schedule") {
                let input: serde_json::Value =
                    serde_json::from_str(&s(&event["Properties"]["Input"])).expect("JSON input");
                scheduled.insert(input["task"].as_str().expect("a task").to_string());
            }
        }
    }
    let tasks: BTreeSet<String> = thanotopolis_fn_scheduled::Task::ALL
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    assert_eq!(scheduled, tasks);
}

fn template_routes() -> BTreeSet<(String, String)> {
    let t = template();
    let mut routes = BTreeSet::new();
    for (_, resource) in t["Resources"].as_mapping().expect("resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        if let Some(events) = resource["Properties"]["Events"].as_mapping() {
            for (_, event) in events {
                if event["Type"].as_str() == Some("Api") {
                    routes.insert((
                        s(&event["Properties"]["Method"]).to_uppercase(),
                        normalize(&s(&event["Properties"]["Path"])),
                    ));
                }
            }
        }
    }
    routes
}

#[test]
fn every_route_in_the_code_is_deployed_and_every_deployed_route_exists() {
    let code = code_routes();
    let deployed = template_routes();
    assert!(code.len() > 60, "the scan found the routes: {}", code.len());
    let missing: Vec<_> = code.difference(&deployed).collect();
    let stale: Vec<_> = deployed.difference(&code).collect();
    assert!(
        missing.is_empty(),
        "routes in the code but not in infra/template.yaml: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "routes in infra/template.yaml but not in the code: {stale:?}"
    );
}

/// The operator's tool gets its own policy: item-level access to both tables and closing
/// sockets, never a scan or a wildcard.
#[test]
fn the_operator_policy_grants_item_access_only() {
    let t = template();
    let policy = &t["Resources"]["OperatorPolicy"];
    assert_eq!(s(&policy["Type"]), "AWS::IAM::ManagedPolicy");
    let statements = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements");
    let actions: BTreeSet<String> = statements
        .iter()
        .flat_map(|st| match &st["Action"] {
            Value::Sequence(list) => list.iter().map(s).collect::<Vec<_>>(),
            one => vec![s(one)],
        })
        .collect();
    let allowed: BTreeSet<String> = [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:BatchWriteItem",
        "execute-api:ManageConnections",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(actions, allowed);
    for st in statements {
        assert_eq!(s(&st["Effect"]), "Allow");
        let resources = format!("{:?}", st["Resource"]);
        assert!(
            !resources.contains("\"*\""),
            "no resource wildcard: {resources}"
        );
    }
}

/// `Store::delete_batch` is DynamoDB's `BatchWriteItem`, which transactions' item actions do
/// not grant: the functions that delete in bulk (a conversation's partition, a message history)
/// have it, and no other function.
#[test]
fn only_bulk_deleting_functions_may_batch_write() {
    let t = template();
    let resources = t["Resources"].as_mapping().expect("resources");
    let mut batch_writers = BTreeSet::new();
    for (name, resource) in resources {
        if s(&resource["Type"]) != "AWS::Serverless::Function" {
            continue;
        }
        let policies = format!("{:?}", resource["Properties"]["Policies"]);
        if policies.contains("dynamodb:BatchWriteItem") {
            batch_writers.insert(s(name));
        }
    }
    assert_eq!(
        batch_writers,
        BTreeSet::from(["ConversationsFunction".to_string()])
    );
}
