//! What code asks of IAM: every store call as the DynamoDB action, table, index and partition
//! key that AWS authorizes, recorded around a real store (which does the work), and a check of
//! those requests against a policy of `infra/template.yaml`. A call the deployed policy does
//! not allow fails only on AWS (AccessDenied); this finds it in a test.

use async_trait::async_trait;
use serde_yaml::Value;
use std::sync::{Arc, Mutex};
use thanotopolis_service::Stores;
use thanotopolis_store::{
    Condition, Index, Item, Key, Page, Query, Store, StoreResult, TableSchema, Update, Write,
};

/// One authorization DynamoDB makes: `action` on `table` (its logical id in the template) or
/// one of its indexes, for an item or query with partition key `pk`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Request {
    pub action: &'static str,
    pub table: &'static str,
    pub index: Option<&'static str>,
    pub pk: String,
}

/// The requests made since the last [`Requests::take`].
#[derive(Clone, Default)]
pub struct Requests(Arc<Mutex<Vec<Request>>>);

impl Requests {
    pub fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, request: Request) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request);
    }
}

/// Wraps both stores so that `requests` sees every call.
pub fn recording(requests: Requests) -> impl Fn(Stores) -> Stores + Send + Sync {
    move |stores| Stores {
        main: Arc::new(Recording {
            inner: stores.main,
            requests: requests.clone(),
        }),
        connections: Arc::new(Recording {
            inner: stores.connections,
            requests: requests.clone(),
        }),
    }
}

struct Recording {
    inner: Arc<dyn Store>,
    requests: Requests,
}

impl Recording {
    fn record(&self, action: &'static str, index: Index, pk: &str) {
        let schema = self.inner.schema();
        let index = match index {
            Index::Table => None,
            Index::Gsi1 => Some(schema.indexes[0].name),
            Index::Gsi2 => Some(schema.indexes[1].name),
        };
        self.requests.push(Request {
            action,
            table: schema.logical_id,
            index,
            pk: pk.to_string(),
        });
    }

    fn record_item(&self, action: &'static str, item: &Item) {
        let pk = self.inner.schema().key_of(item).map(|k| k.pk);
        self.record(action, Index::Table, &pk.unwrap_or_default());
    }
}

#[async_trait]
impl Store for Recording {
    fn schema(&self) -> &'static TableSchema {
        self.inner.schema()
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn round_trips(&self) -> u64 {
        self.inner.round_trips()
    }
    fn conflicts(&self) -> u64 {
        self.inner.conflicts()
    }
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        self.record("dynamodb:GetItem", Index::Table, &key.pk);
        self.inner.get(key).await
    }
    async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        for key in keys {
            self.record("dynamodb:BatchGetItem", Index::Table, &key.pk);
        }
        self.inner.batch_get(keys).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<()> {
        self.record_item("dynamodb:PutItem", &item);
        self.inner.put(item, condition).await
    }
    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> StoreResult<Item> {
        self.record("dynamodb:UpdateItem", Index::Table, &key.pk);
        self.inner.update(key, update, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> StoreResult<()> {
        self.record("dynamodb:DeleteItem", Index::Table, &key.pk);
        self.inner.delete(key, condition).await
    }
    async fn delete_batch(&self, keys: &[Key]) -> StoreResult<()> {
        for key in keys {
            self.record("dynamodb:BatchWriteItem", Index::Table, &key.pk);
        }
        self.inner.delete_batch(keys).await
    }
    async fn query(&self, query: &Query) -> StoreResult<Page> {
        self.record("dynamodb:Query", query.index, &query.partition);
        self.inner.query(query).await
    }
    async fn scan(&self, cursor: Option<&str>, limit: u32) -> StoreResult<Page> {
        self.record("dynamodb:Scan", Index::Table, "");
        self.inner.scan(cursor, limit).await
    }
    async fn count(&self, query: &Query) -> StoreResult<u64> {
        self.record("dynamodb:Query", query.index, &query.partition);
        self.inner.count(query).await
    }
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        // A transaction is authorized item by item, as the single-item actions.
        for w in &writes {
            match w {
                Write::Put { item, .. } => self.record_item("dynamodb:PutItem", item),
                Write::Update { key, .. } => {
                    self.record("dynamodb:UpdateItem", Index::Table, &key.pk)
                }
                Write::Delete { key, .. } => {
                    self.record("dynamodb:DeleteItem", Index::Table, &key.pk)
                }
                Write::Check { key, .. } => {
                    self.record("dynamodb:ConditionCheckItem", Index::Table, &key.pk)
                }
            }
        }
        self.inner.transact(writes).await
    }
}

/// `infra/template.yaml`, parsed.
pub fn template() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
    let text = std::fs::read_to_string(path).expect("read infra/template.yaml");
    serde_yaml::from_str(&text).expect("the template is YAML")
}

/// The statements of resource `logical_id`'s policies: a function's inline ones, or a managed
/// policy's document.
pub fn statements(template: &Value, logical_id: &str) -> Vec<Value> {
    let resource = &template["Resources"][logical_id];
    let properties = &resource["Properties"];
    let documents: Vec<&Value> = match properties["Policies"].as_sequence() {
        Some(policies) => policies.iter().collect(),
        None => vec![&properties["PolicyDocument"]],
    };
    documents
        .into_iter()
        .filter_map(|d| d["Statement"].as_sequence())
        .flatten()
        .cloned()
        .collect()
}

/// The function whose schedule runs `task` (its event's input `{"task": …}`).
pub fn scheduled_function(template: &Value, task: &str) -> String {
    let resources = template["Resources"].as_mapping().expect("resources");
    for (name, resource) in resources {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            let input = event["Properties"]["Input"].as_str().unwrap_or("{}");
            let input: serde_json::Value = serde_json::from_str(input).expect("JSON input");
            if input["task"] == task {
                return name.as_str().expect("a logical id").to_string();
            }
        }
    }
    panic!("no function runs the task {task}")
}

/// The function whose API event serves `method path` (an actual path: `{param}` segments of
/// the template match any one segment; a query string is ignored).
pub fn rest_function(template: &Value, method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
    let resources = template["Resources"].as_mapping().expect("resources");
    for (name, resource) in resources {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            let props = &event["Properties"];
            if event["Type"].as_str() != Some("Api")
                || !props["Method"]
                    .as_str()
                    .is_some_and(|m| m.eq_ignore_ascii_case(method))
            {
                continue;
            }
            let routed: Vec<&str> = props["Path"]
                .as_str()
                .unwrap_or_default()
                .trim_matches('/')
                .split('/')
                .collect();
            let matches = routed.len() == actual.len()
                && routed
                    .iter()
                    .zip(&actual)
                    .all(|(r, a)| r == a || (r.starts_with('{') && r.ends_with('}')));
            if matches {
                return name.as_str().expect("a logical id").to_string();
            }
        }
    }
    panic!("no function serves {method} {path}")
}

/// The requests of `requests` that no `Allow` statement of `statements` (a policy's
/// `Statement` list in the template) grants: action, resource (a table by `!GetAtt X.Arn`,
/// an index by `!Sub "${X.Arn}/index/NAME"` or `/index/*`) and any `dynamodb:LeadingKeys`
/// condition (`ForAllValues:StringEquals`, or `StringLike` with `*`).
pub fn denied(statements: &[Value], requests: &[Request]) -> Vec<Request> {
    let mut out: Vec<Request> = requests
        .iter()
        .filter(|r| !statements.iter().any(|st| allows(st, r)))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

fn allows(statement: &Value, r: &Request) -> bool {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let list = |v: &Value| -> Vec<Value> {
        match v {
            Value::Sequence(items) => items.clone(),
            Value::Null => vec![],
            one => vec![one.clone()],
        }
    };
    if text(&statement["Effect"]).as_deref() != Some("Allow") {
        return false;
    }
    let acts = list(&statement["Action"]);
    if !acts.iter().any(|a| text(a).as_deref() == Some(r.action)) {
        return false;
    }
    let wanted = match r.index {
        None => r.table.to_string(),
        Some(index) => format!("{}/index/{index}", r.table),
    };
    let resources = list(&statement["Resource"]);
    if !resources.iter().any(|res| {
        resource_name(res).is_some_and(|name| {
            name == wanted || (r.index.is_some() && name == format!("{}/index/*", r.table))
        })
    }) {
        return false;
    }
    let condition = &statement["Condition"];
    if condition.is_null() {
        return true;
    }
    let leading = |operator: &str| {
        let keys = list(&condition[operator]["dynamodb:LeadingKeys"]);
        keys.iter().filter_map(text).collect::<Vec<_>>()
    };
    let equals = leading("ForAllValues:StringEquals");
    let like = leading("ForAllValues:StringLike");
    equals.contains(&r.pk) || like.iter().any(|pattern| glob(pattern, &r.pk))
}

/// `X` for `!GetAtt X.Arn`, `X/index/NAME` for `!Sub "${X.Arn}/index/NAME"`.
fn resource_name(resource: &Value) -> Option<String> {
    let Value::Tagged(tagged) = resource else {
        return None;
    };
    let value = tagged.value.as_str()?;
    match tagged.tag.to_string().as_str() {
        "!GetAtt" => value.strip_suffix(".Arn").map(str::to_string),
        "!Sub" => {
            let rest = value.strip_prefix("${")?;
            let (table, path) = rest.split_once(".Arn}")?;
            Some(format!("{table}{path}"))
        }
        _ => None,
    }
}

/// IAM's `StringLike`: `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| {
                    text.is_char_boundary(head.len() + i) && glob(tail, &text[head.len() + i..])
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_as_iam_string_like_does() {
        assert!(glob("TENANT#*", "TENANT#abc#USAGE#2026-12-04"));
        assert!(glob("TENANT#*", "TENANT#"));
        assert!(!glob("TENANT#*", "USAGE#ALL"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("USAGE#ALL", "USAGE#ALLX"));
    }
}
