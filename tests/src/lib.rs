//! Helpers for Thanotopolis's black-box tests: stores on both backends (DynamoDB through the
//! moto server that `scripts/test` starts, embedded SQLite in memory or in a temp dir) and a
//! local gateway spawned on a free port, in the manner of zero2prod's `spawn_app`.

pub mod counting;
pub mod deepgram;
pub mod iam;
pub mod interrupting;
pub mod openai;
pub mod routes;

use aws_credential_types::Credentials;
use serde_json::{json, Value};
use std::sync::Arc;
pub use thanotopolis_llm::LlmSettings;
use thanotopolis_local::{GatewayConfig, Limits, RunningGateway};
use thanotopolis_service::config::{AuthSettings, StoreBackend, StoreSettings};
use thanotopolis_service::Stores;
use thanotopolis_store::schema::{CONNECTIONS_TABLE, MAIN_TABLE};
use thanotopolis_store::{DynamoStore, SqliteStore, Store, TableSchema};
use thanotopolis_tenant_auth::operator::{self, UserRef};
use thanotopolis_tenant_auth::Role;

/// The DynamoDB API the tests use: `THANOTOPOLIS_TEST_DYNAMODB_ENDPOINT`, set by `scripts/test`
/// after it started moto server. Missing means the DynamoDB half cannot run: that is a failure,
/// never a skip.
pub fn dynamodb_endpoint() -> String {
    std::env::var("THANOTOPOLIS_TEST_DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "THANOTOPOLIS_TEST_DYNAMODB_ENDPOINT is not set: run the tests with scripts/test, \
             which starts a DynamoDB API (moto server) and sets it"
        )
    })
}

/// Credentials and region for moto, which checks neither; set for every test process so the
/// SDK never looks for real ones (or at the EC2 metadata address).
pub fn use_test_aws_environment() {
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
        }
    }
}

/// A name no other test uses, so tests share one moto server without seeing each other's data.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    use_test_aws_environment();
    let sdk = thanotopolis_service::aws::sdk_config_with(
        "us-east-1",
        Credentials::new("testing", "testing", None, None, "tests"),
        thanotopolis_service::aws::Roots::System,
    );
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(dynamodb_endpoint())
            .build(),
    )
}

/// A fresh DynamoDB table with `schema`'s layout on the test DynamoDB API.
pub async fn dynamodb_store(schema: &'static TableSchema) -> Arc<dyn Store> {
    let store = DynamoStore::new(dynamodb_client().await, unique_name("t"), schema);
    store.ensure_table().await.expect("create test table");
    Arc::new(store)
}

/// A fresh in-memory embedded table.
pub async fn embedded_store(schema: &'static TableSchema) -> Arc<dyn Store> {
    Arc::new(SqliteStore::in_memory(schema).expect("open in-memory store"))
}

/// The two tables of one backend.
pub async fn stores(backend: Backend) -> (Arc<dyn Store>, Arc<dyn Store>) {
    match backend {
        Backend::Embedded => (
            embedded_store(&MAIN_TABLE).await,
            embedded_store(&CONNECTIONS_TABLE).await,
        ),
        Backend::Dynamodb => (
            dynamodb_store(&MAIN_TABLE).await,
            dynamodb_store(&CONNECTIONS_TABLE).await,
        ),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Dynamodb,
}

/// A local gateway on a free port with fresh storage; dropped storage goes with it.
pub struct TestApp {
    pub gateway: RunningGateway,
    pub http: reqwest::Client,
    _data_dir: Option<tempfile::TempDir>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, TestOptions::default()).await
    }

    /// A gateway whose agents answer with the model at `llm`.
    pub async fn spawn_with_llm(backend: Backend, llm: LlmSettings) -> TestApp {
        Self::spawn_with(
            backend,
            TestOptions {
                llm: Some(llm),
                ..TestOptions::default()
            },
        )
        .await
    }

    /// A gateway with the given options.
    pub async fn spawn_with(backend: Backend, options: TestOptions) -> TestApp {
        use_test_aws_environment();
        let (store_backend, data_dir) = match backend {
            Backend::Embedded => {
                let dir = tempfile::tempdir().expect("temp dir");
                (
                    StoreBackend::Embedded {
                        data_dir: dir.path().to_path_buf(),
                    },
                    Some(dir),
                )
            }
            Backend::Dynamodb => (
                StoreBackend::Dynamodb {
                    endpoint: Some(dynamodb_endpoint()),
                },
                None,
            ),
        };
        let settings = StoreSettings {
            backend: store_backend,
            table: unique_name("main"),
            connections_table: unique_name("connections"),
            create_tables: true,
        };
        let mut auth = AuthSettings::with_secret(unique_name("test-secret").into_bytes())
            .expect("a 40-byte secret is long enough");
        if let Some(grace) = options.refresh_reuse_grace {
            auth.refresh_reuse_grace = grace;
        }
        if let Some(limits) = options.login_limits {
            auth.login_limits = limits;
        }
        // Tests and benches post faster than people: unlimited unless a test sets a limit.
        auth.messages_per_minute = options.messages_per_minute.unwrap_or(u64::MAX);
        let mut stores = Stores::open(&settings).await.expect("open the stores");
        if let Some(wrap) = &options.wrap_stores {
            stores = wrap(stores);
        }
        let gateway = thanotopolis_local::start_on(
            GatewayConfig {
                bind: "127.0.0.1:0".parse().expect("loopback address"),
                management_port: 0,
                store: settings,
                auth,
                llm: options.llm,
                agents: options.agents,
                deepgram: options.deepgram,
                live_stt: options.live_stt,
                // Tests run scheduled tasks when they mean to ([`TestApp::run_scheduled`]).
                schedule_every: None,
            },
            options.limits.unwrap_or(Limits::API_GATEWAY),
            stores,
        )
        .await
        .expect("start local gateway");
        thanotopolis_service::aws::install_crypto_provider();
        TestApp {
            gateway,
            http: reqwest::Client::new(),
            _data_dir: data_dir,
        }
    }

    /// Today's usage totals of an organization, from its stored aggregates.
    pub async fn usage_today(&self, org: &TestOrg) -> thanotopolis_usage::UsageTotals {
        let day = &thanotopolis_tenant_auth::now_rfc3339()[..10];
        let store = self.gateway.app.stores.main.as_ref();
        let subdomain = thanotopolis_tenant_auth::validate::Subdomain::parse(&org.subdomain)
            .expect("a registered subdomain");
        let (scope, _) = thanotopolis_tenant_auth::tenants::by_subdomain(store, &subdomain)
            .await
            .expect("store read")
            .expect("registered");
        thanotopolis_usage::tenant_totals(store, &scope, day, day)
            .await
            .expect("store read")
    }

    /// Runs a scheduled task (`usage-rollup`, …) now, through the gateway's management port
    /// as an operator would, and returns its report.
    pub async fn run_scheduled(&self, task: &str) -> Value {
        let res = self
            .http
            .post(self.management_url(&format!("/_scheduled/{task}")))
            .send()
            .await
            .expect("management API");
        assert_eq!(res.status().as_u16(), 200, "scheduled task {task}");
        res.json().await.expect("task report")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.rest_url())
    }

    /// A path on the loopback-only management API.
    pub fn management_url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.management_url())
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.ws_url())
    }

    /// One HTTP call: status and JSON body (`null` when the body is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("HTTP request");
        let status = res.status().as_u16();
        let text = res.text().await.expect("response body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// POSTs raw bytes with the given content type (for bodies `post` cannot build: hostile JSON
    /// text, multipart forms).
    pub async fn post_body(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let res = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("HTTP request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The usage tag of a live speech-to-text stream the user may open (`POST /api/stt/token`).
    pub async fn live_stt_tag(&self, token: Option<&str>) -> String {
        let (status, grant) = self.post("/api/stt/token", token, json!({})).await;
        assert_eq!(status, 200, "a live STT grant: {grant}");
        grant["url"]
            .as_str()
            .expect("a live URL")
            .split('&')
            .find_map(|p| p.strip_prefix("tag="))
            .expect("a tag in the live URL")
            .replace("%3A", ":")
    }

    /// Creates a conversation (`body` as `POST /api/conversations` takes it) and returns its id.
    pub async fn create_conversation(&self, token: Option<&str>, body: Value) -> String {
        let (status, conv) = self.post("/api/conversations", token, body).await;
        assert_eq!(status, 200, "creating a conversation: {conv}");
        conv["id"].as_str().expect("conversation id").to_string()
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, token, None).await
    }

    /// Registers a new organization with its org_admin (`POST /api/organizations/register`).
    pub async fn register_org(&self) -> TestOrg {
        let subdomain = format!("org-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.register_org_named(&subdomain).await
    }

    /// [`TestApp::register_org`] with a chosen subdomain.
    pub async fn register_org_named(&self, subdomain: &str) -> TestOrg {
        let subdomain = subdomain.to_string();
        let admin_email = format!("admin@{subdomain}.example.org");
        let password = "correct horse battery".to_string();
        let (status, body) = self
            .post(
                "/api/organizations/register",
                None,
                json!({
                    "name": format!("Org {subdomain}"),
                    "subdomain": subdomain,
                    "full_name": "Funeral Home Ltd",
                    "address": { "street": "1 Main St", "city": "Lyon", "country": "FR" },
                    "phone": "+33 1 23 45 67 89",
                    "organization_email": format!("contact@{subdomain}.example.org"),
                    "admin_email": admin_email,
                    "admin_username": "admin",
                    "admin_password": password,
                    "admin_first_name": "Ada",
                    "admin_last_name": "Admin",
                }),
            )
            .await;
        assert_eq!(status, 200, "register organization: {body}");
        let org = &body["organization"];
        TestOrg {
            id: org["id"].as_str().expect("org id").to_string(),
            subdomain,
            access_code: org["access_code"]
                .as_str()
                .expect("access code")
                .to_string(),
            admin: TestUser {
                id: text(&body["admin_user"]["id"], "admin id"),
                email: admin_email,
                password,
                access: text(&body["access_token"], "access token"),
                refresh: text(&body["refresh_token"], "refresh token"),
            },
        }
    }

    /// Registers a new member of `org` with its access code (`POST /api/auth/register`).
    pub async fn join(&self, org: &TestOrg) -> TestUser {
        let name = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
        let email = format!("{name}@example.org");
        let password = format!("password-{name}");
        let (status, body) = self
            .post(
                "/api/auth/register",
                None,
                json!({
                    "email": email, "username": name, "password": password,
                    "first_name": "Test", "last_name": "User", "access_code": org.access_code,
                }),
            )
            .await;
        assert_eq!(status, 200, "register: {body}");
        TestUser {
            id: body["id"].as_str().expect("user id").to_string(),
            email,
            password,
            access: text(&body["access_token"], "access token"),
            refresh: text(&body["refresh_token"], "refresh token"),
        }
    }

    /// A new member of `org` with `role`, set the way operators do (`thanotopolis-admin`).
    pub async fn member_with_role(&self, org: &TestOrg, role: Role) -> TestUser {
        let user = self.join(org).await;
        let id = user.id.parse().expect("uuid");
        operator::set_role(
            self.gateway.app.stores.main.as_ref(),
            &UserRef::Id(id),
            role,
        )
        .await
        .expect("operator sets role");
        user
    }
}

/// What a test gateway differs in.
#[derive(Default)]
pub struct TestOptions {
    pub limits: Option<Limits>,
    pub refresh_reuse_grace: Option<std::time::Duration>,
    pub login_limits: Option<thanotopolis_service::config::LoginLimits>,
    /// Messages a user may post a minute (default: no limit).
    pub messages_per_minute: Option<u64>,
    pub llm: Option<LlmSettings>,
    /// Agent tools and time limits; the defaults have no web search.
    pub agents: thanotopolis_agent_runtime::AgentSettings,
    pub deepgram: Option<thanotopolis_fn_voice::DeepgramSettings>,
    /// The Deepgram project the `stt-usage-import` task reads.
    pub live_stt: Option<thanotopolis_usage::live_stt::DeepgramProject>,
    /// Wraps the opened stores before the gateway uses them ([`counting::Counting`]).
    pub wrap_stores: Option<std::sync::Arc<dyn Fn(Stores) -> Stores + Send + Sync>>,
}

/// Every live item of a table, by scanning it (what an erasure left behind).
pub async fn all_items(store: &dyn Store) -> Vec<thanotopolis_store::Item> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.scan(cursor.as_deref(), 500).await.expect("scan");
        items.extend(page.items);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return items,
        }
    }
}

/// A WebSocket client of the local gateway.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends `frame` as a text frame.
pub async fn send_json(socket: &mut Socket, frame: Value) {
    use futures::SinkExt;
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            frame.to_string().into(),
        ))
        .await
        .expect("frame sent");
}

/// The next text frame, as JSON, that `wanted` accepts (other frames are skipped); panics
/// after `within` without one, or when the socket closes.
pub async fn next_frame(
    socket: &mut Socket,
    within: std::time::Duration,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    use futures::StreamExt;
    loop {
        let msg = tokio::time::timeout(within, socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("valid frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
            let frame: Value = serde_json::from_str(&text).expect("JSON frame");
            if wanted(&frame) {
                return frame;
            }
        }
    }
}

impl TestOptions {
    /// A gateway whose rotated refresh tokens may be presented again for `grace`.
    pub fn with_refresh_grace(grace: std::time::Duration) -> Self {
        TestOptions {
            refresh_reuse_grace: Some(grace),
            ..TestOptions::default()
        }
    }
}

/// A string field of an answer, which the test needs to be there.
fn text(v: &Value, what: &str) -> String {
    v.as_str().expect(what).to_string()
}

/// An organization made by [`TestApp::register_org`].
pub struct TestOrg {
    pub id: String,
    pub subdomain: String,
    pub access_code: String,
    pub admin: TestUser,
}

/// A registered user and its tokens.
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

impl TestUser {
    pub fn token(&self) -> Option<&str> {
        Some(&self.access)
    }
}

/// Declares one `#[tokio::test]` per backend for each listed async test function taking a
/// [`Backend`], so one suite runs unchanged on both and the output names the backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::Backend::Embedded).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::Backend::Dynamodb).await
                }
            )*
        }
    };
}
