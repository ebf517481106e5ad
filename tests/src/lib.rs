//! Helpers for Thanotopolis's black-box tests: stores on both backends (DynamoDB through the
//! moto server that `scripts/test` starts, embedded SQLite in memory or in a temp dir) and a
//! local gateway spawned on a free port, in the manner of zero2prod's `spawn_app`.

use aws_credential_types::Credentials;
use std::sync::Arc;
use thanotopolis_local::{GatewayConfig, Limits, RunningGateway};
use thanotopolis_service::config::{AuthSettings, StoreBackend, StoreSettings};
use thanotopolis_store::schema::{CONNECTIONS_TABLE, MAIN_TABLE};
use thanotopolis_store::{DynamoStore, SqliteStore, Store, TableSchema};

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
    let sdk = thanotopolis_service::aws::loader()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(dynamodb_endpoint())
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&sdk)
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
        Self::spawn_with_limits(backend, Limits::API_GATEWAY).await
    }

    pub async fn spawn_with_limits(backend: Backend, limits: Limits) -> TestApp {
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
        let gateway = thanotopolis_local::start_with_limits(
            GatewayConfig {
                bind: "127.0.0.1:0".parse().expect("loopback address"),
                store: settings,
                auth: AuthSettings::with_secret(unique_name("test-secret").into_bytes())
                    .expect("a 40-byte secret is long enough"),
            },
            limits,
        )
        .await
        .expect("start local gateway");
        TestApp {
            gateway,
            http: reqwest::Client::new(),
            _data_dir: data_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.rest_url())
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.ws_url())
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
