use crate::config::{AuthSettings, StoreBackend, StoreSettings};
use std::sync::Arc;
use std::time::Instant;
use thanotopolis_store::schema::{CONNECTIONS_TABLE, MAIN_TABLE};
use thanotopolis_store::{DynamoStore, Store, StoreError};

/// The two tables: the single table of tenant data and the WebSocket connections table.
#[derive(Clone)]
pub struct Stores {
    pub main: Arc<dyn Store>,
    pub connections: Arc<dyn Store>,
}

impl Stores {
    /// Opens both tables as configured, creating them when `settings.create_tables` is set.
    pub async fn open(settings: &StoreSettings) -> Result<Stores, StoreError> {
        match &settings.backend {
            #[cfg(feature = "embedded")]
            StoreBackend::Embedded { data_dir } => {
                use thanotopolis_store::SqliteStore;
                std::fs::create_dir_all(data_dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", data_dir.display()))
                })?;
                let file = data_dir.join("thanotopolis.db");
                Ok(Stores {
                    main: Arc::new(SqliteStore::open(&file, &settings.table, &MAIN_TABLE)?),
                    connections: Arc::new(SqliteStore::open(
                        &file,
                        &settings.connections_table,
                        &CONNECTIONS_TABLE,
                    )?),
                })
            }
            #[cfg(not(feature = "embedded"))]
            StoreBackend::Embedded { .. } => Err(StoreError::Unavailable(
                "this build has no embedded store (feature `embedded`); use THANOTOPOLIS_STORE=dynamodb"
                    .into(),
            )),
            StoreBackend::Dynamodb { endpoint } => {
                // An overridden endpoint (DynamoDB Local, a compatible service) may use any CA.
                let roots = if endpoint.is_some() {
                    crate::aws::Roots::System
                } else {
                    crate::aws::Roots::Aws
                };
                let sdk = crate::aws::sdk_config(roots).map_err(StoreError::Unavailable)?;
                let mut conf = aws_sdk_dynamodb::config::Builder::from(&sdk);
                if let Some(endpoint) = endpoint {
                    conf = conf.endpoint_url(endpoint);
                }
                let client = aws_sdk_dynamodb::Client::from_conf(conf.build());
                let main = DynamoStore::new(client.clone(), &settings.table, &MAIN_TABLE);
                let connections =
                    DynamoStore::new(client, &settings.connections_table, &CONNECTIONS_TABLE);
                if settings.create_tables {
                    main.ensure_table().await?;
                    connections.ensure_table().await?;
                }
                Ok(Stores {
                    main: Arc::new(main),
                    connections: Arc::new(connections),
                })
            }
        }
    }
}

/// Closes live WebSocket connections (API Gateway's `DeleteConnection`): the seam through which
/// a function that locks a user out ends their sockets at once. Implemented by
/// `thanotopolis_sockets::Poster`.
#[async_trait::async_trait]
pub trait SocketCloser: Send + Sync {
    /// Closes one connection; one that is already gone is not an error.
    async fn close(&self, connection_id: &str) -> Result<(), String>;
}

/// Everything a request handler may use, built once per process (per Lambda cold start).
#[derive(Clone)]
pub struct AppState {
    pub stores: Stores,
    pub auth: Arc<AuthSettings>,
    /// When this process started, for `/status` uptime.
    pub started: Instant,
    /// Where sockets are closed; `None` in functions that never close any.
    pub sockets: Option<Arc<dyn SocketCloser>>,
}

impl AppState {
    pub fn new(stores: Stores, auth: AuthSettings) -> Self {
        AppState {
            stores,
            auth: Arc::new(auth),
            started: Instant::now(),
            sockets: None,
        }
    }

    pub fn with_socket_closer(mut self, closer: Arc<dyn SocketCloser>) -> Self {
        self.sockets = Some(closer);
        self
    }
}
