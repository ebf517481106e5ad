//! `thanotopolis-local`: the local stand-in for API Gateway.
//!
//! It mounts every function's axum router on one port, and plays API Gateway's WebSocket part:
//! each socket's handshake, frames and close become `$connect` / `$default` / `$disconnect`
//! events handed to the realtime function, and the management API
//! (`POST`/`GET`/`DELETE /@connections/{id}`, 410 `GoneException` for unknown ids) lets the
//! function answer through `aws-sdk-apigatewaymanagement` exactly as in AWS. The management
//! API listens on its own loopback-only port, never on the client port (in AWS it needs IAM
//! credentials). API Gateway's limits are enforced: 128 KB messages (close 1009), 10-minute
//! idle timeout, 2-hour lifetime; and the work one socket, and all of them, can have in flight
//! is bounded, so a flood of frames queues instead of exhausting the process.
//! It also serves the API's OpenAPI document at `/api/openapi.json` (see [`openapi`]).

mod sockets;

use anyhow::Context;
use aws_credential_types::Credentials;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thanotopolis_agent_runtime::{ManagementEndpoint, Poster, RealtimeState};
use thanotopolis_fn_scheduled::{Scheduled, Task};
use thanotopolis_service::config::{AuthSettings, StoreBackend, StoreSettings};
use thanotopolis_service::{AppState, Stores};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use sockets::Limits;

/// Where the gateway serves the OpenAPI document (not a deployed route).
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The OpenAPI 3.1 document of every function's REST routes, generated from the handlers'
/// annotations (`docs/openapi.json` is this, pretty-printed).
pub fn openapi() -> utoipa::openapi::OpenApi {
    thanotopolis_service::openapi::document([
        thanotopolis_fn_health::openapi(),
        thanotopolis_fn_auth::openapi(),
        thanotopolis_fn_organizations::openapi(),
        thanotopolis_fn_agents::openapi(),
        thanotopolis_fn_conversations::openapi(),
        thanotopolis_fn_admin::openapi(),
        thanotopolis_fn_voice::openapi(),
    ])
}

pub struct GatewayConfig {
    pub bind: SocketAddr,
    /// Loopback port of the `@connections` management API (0: any free port). It is never
    /// served on `bind`: clients cannot post to or close other people's sockets.
    pub management_port: u16,
    pub store: StoreSettings,
    pub auth: AuthSettings,
    /// The language model for agent replies (`OPENAI_*`); `None` answers with an error frame.
    pub llm: Option<thanotopolis_llm::LlmSettings>,
    /// Agents' tools and time limits (`TAVILY_*`).
    pub agents: thanotopolis_agent_runtime::AgentSettings,
    /// Deepgram for speech-to-text (`DEEPGRAM_*`); `None` answers 503.
    pub deepgram: Option<thanotopolis_fn_voice::DeepgramSettings>,
    /// How often the scheduled tasks run (the template's EventBridge schedules); `None` runs
    /// them only when asked (`POST /_scheduled/{task}` on the management port).
    pub schedule_every: Option<std::time::Duration>,
    /// The Deepgram project whose live-streaming usage the `stt-usage-import` task imports
    /// (`DEEPGRAM_API_KEY`, `DEEPGRAM_PROJECT_ID`); `None` skips it.
    pub live_stt: Option<thanotopolis_usage::live_stt::DeepgramProject>,
}

/// A gateway serving in the background.
pub struct RunningGateway {
    pub addr: SocketAddr,
    /// The management API's loopback address.
    pub management_addr: SocketAddr,
    pub app: AppState,
    sockets: sockets::Gateway,
    store: StoreSettings,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningGateway {
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The `@connections` management API (loopback only).
    pub fn management_url(&self) -> String {
        format!("http://{}", self.management_addr)
    }

    /// `POST /@connections/{id}` calls the management API has received so far.
    pub fn management_posts(&self) -> u64 {
        self.sockets.posts()
    }

    /// Ids of the WebSocket connections open right now.
    pub fn connection_ids(&self) -> Vec<String> {
        self.sockets.connection_ids()
    }

    /// Where this gateway keeps its data.
    pub fn store_settings(&self) -> &StoreSettings {
        &self.store
    }

    pub fn store_description(&self) -> String {
        match &self.store.backend {
            StoreBackend::Embedded { data_dir } => {
                format!("embedded SQLite in {}", data_dir.display())
            }
            StoreBackend::Dynamodb { endpoint } => format!(
                "DynamoDB tables {} and {} at {}",
                self.store.table,
                self.store.connections_table,
                endpoint.as_deref().unwrap_or("the AWS default endpoint")
            ),
        }
    }

    /// Stops accepting connections and waits for the server to finish.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Opens the store, binds the port and serves until [`RunningGateway::stop`].
pub async fn start(config: GatewayConfig) -> anyhow::Result<RunningGateway> {
    start_with_limits(config, Limits::API_GATEWAY).await
}

/// [`start`] with other WebSocket limits (tests shorten the timeouts).
pub async fn start_with_limits(
    config: GatewayConfig,
    limits: Limits,
) -> anyhow::Result<RunningGateway> {
    let stores = Stores::open(&config.store)
        .await
        .context("cannot open the store")?;
    start_on(config, limits, stores).await
}

/// [`start_with_limits`] on stores already open (`config.store` still names them): benches
/// wrap them to count what the functions do to each key.
pub async fn start_on(
    config: GatewayConfig,
    limits: Limits,
    stores: Stores,
) -> anyhow::Result<RunningGateway> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    let management_bind = SocketAddr::from(([127, 0, 0, 1], config.management_port));
    let management_listener = tokio::net::TcpListener::bind(management_bind)
        .await
        .with_context(|| format!("cannot listen on {management_bind}"))?;
    let management_addr = management_listener.local_addr()?;
    let store = config.store;
    let llm = config
        .llm
        .map(thanotopolis_llm::LlmClient::new)
        .transpose()
        .context("cannot build the language-model client")?;
    // The realtime function reaches our @connections API like API Gateway's, signed with
    // credentials that only this local gateway accepts (it checks no signatures).
    let region =
        thanotopolis_service::config::env("AWS_REGION").unwrap_or_else(|| "us-east-1".into());
    let sdk = thanotopolis_service::aws::sdk_config_with(
        &region,
        Credentials::new(
            "thanotopolis-local",
            "thanotopolis-local",
            None,
            None,
            "thanotopolis-local",
        ),
        thanotopolis_service::aws::Roots::System,
    );
    let management = ManagementEndpoint::Fixed(format!("http://{management_addr}"));
    let app = AppState::new(stores, config.auth)
        .with_socket_closer(Arc::new(Poster::new(&sdk, management.clone())));
    let scheduled = Arc::new(Scheduled {
        app: app.clone(),
        poster: Poster::new(&sdk, management.clone()),
        keep_alive_every: keep_alive_every(limits.idle_timeout, config.schedule_every),
        live_stt: config.live_stt,
    });
    let realtime =
        Arc::new(RealtimeState::new(app.clone(), &sdk, management, llm).with_agents(config.agents));
    // API Gateway's `domainName` is the address clients connect to.
    let loopback = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let gateway = sockets::Gateway::new(realtime.clone(), loopback.to_string(), limits);
    let sockets = gateway.clone();
    let router = thanotopolis_service::with_fallbacks(
        thanotopolis_fn_health::router(app.clone())
            .merge(thanotopolis_fn_auth::router(app.clone()))
            .merge(thanotopolis_fn_agents::router(app.clone()))
            .merge(thanotopolis_fn_admin::router(app.clone()))
            .merge(thanotopolis_fn_voice::router(app.clone(), config.deepgram))
            .merge(thanotopolis_fn_conversations::router(
                app.clone(),
                Some(realtime.clone()),
            ))
            .merge(thanotopolis_fn_organizations::router(app.clone()))
            .route(
                OPENAPI_PATH,
                axum::routing::get(|| async { axum::Json(openapi()) }),
            ),
    )
    .layer(thanotopolis_service::cors().map_err(anyhow::Error::msg)?)
    .layer(thanotopolis_service::telemetry::request_spans())
    .layer(axum::middleware::from_fn(
        thanotopolis_service::telemetry::ensure_request_id,
    ))
    .layer(axum::middleware::from_fn_with_state(
        gateway.clone(),
        sockets::upgrade,
    ))
    .layer(axum::middleware::from_fn(record_peer));

    let (shutdown, signal) = watch::channel(false);
    let stopped = |mut signal: watch::Receiver<bool>| async move {
        let _ = signal.wait_for(|stop| *stop).await;
    };
    let served = stopped(signal.clone());
    let client_task = tokio::spawn(async move {
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(served)
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "local gateway stopped");
        }
    });
    let mut tasks = Vec::new();
    if let Some(every) = config.schedule_every {
        tasks.push(tokio::spawn(run_on_schedule(
            scheduled.clone(),
            every,
            stopped(signal.clone()),
        )));
    }
    let management = gateway
        .management_router()
        .merge(scheduled_router(scheduled));
    let management_stopped = stopped(signal);
    let management_task = tokio::spawn(async move {
        let served = axum::serve(management_listener, management)
            .with_graceful_shutdown(management_stopped)
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "management API stopped");
        }
    });
    Ok(RunningGateway {
        addr,
        management_addr,
        app,
        sockets,
        store,
        shutdown,
        tasks: [client_task, management_task]
            .into_iter()
            .chain(tasks)
            .collect(),
    })
}

/// How long a socket may go without a keep-alive here. A keep-alive is due one schedule period
/// before the idle limit, as in AWS (9 minutes of 10 with a 1-minute schedule). When the tasks
/// run only on demand, or their period is half the limit or more, half the limit is the margin:
/// one run of the task on a loaded machine must fit in it.
fn keep_alive_every(idle_timeout: Duration, schedule_every: Option<Duration>) -> Duration {
    match schedule_every {
        Some(every) if every < idle_timeout / 2 => idle_timeout - every,
        _ => idle_timeout / 2,
    }
}

/// Runs every scheduled task each `every`, as EventBridge would, until `stop`.
async fn run_on_schedule(
    scheduled: Arc<Scheduled>,
    every: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let runs = async {
        loop {
            ticks.tick().await;
            for task in Task::ALL {
                if let Err(e) = thanotopolis_fn_scheduled::run(&scheduled, task).await {
                    tracing::warn!(task = task.name(), error = %e, "scheduled task failed");
                }
            }
        }
    };
    tokio::select! {
        () = runs => {}
        () = stop => {}
    }
}

/// `POST /_scheduled/{task}`: runs a scheduled task now and answers its report (loopback
/// management port only, like `@connections`).
fn scheduled_router(scheduled: Arc<Scheduled>) -> axum::Router {
    async fn run_now(
        axum::extract::State(scheduled): axum::extract::State<Arc<Scheduled>>,
        axum::extract::Path(name): axum::extract::Path<String>,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let Some(task) = Task::named(&name) else {
            let detail = format!("Unknown scheduled task {name:?}");
            return (
                axum::http::StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({ "detail": detail })),
            )
                .into_response();
        };
        match thanotopolis_fn_scheduled::run(&scheduled, task).await {
            Ok(report) => axum::Json(report).into_response(),
            Err(e) => thanotopolis_service::ApiError::from(e).into_response(),
        }
    }
    axum::Router::new()
        .route("/_scheduled/{task}", axum::routing::post(run_now))
        .with_state(scheduled)
}

/// Records each request's TCP peer as the functions read it (API Gateway's `sourceIp` in AWS).
async fn record_peer(
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    req.extensions_mut()
        .insert(thanotopolis_service::PeerAddress(peer.ip()));
    next.run(req).await
}

/// How long API Gateway lets a WebSocket connection idle, and live at most.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// Token settings for a local run: `JWT_SECRET_KEY` when set; otherwise a random secret kept in
/// `secret_file` (created on first run, readable only by its owner), so sessions survive
/// restarts without anyone having to invent a secret.
pub fn local_auth_settings(secret_file: &std::path::Path) -> anyhow::Result<AuthSettings> {
    if thanotopolis_service::config::env("JWT_SECRET_KEY").is_some() {
        return AuthSettings::from_env().map_err(anyhow::Error::msg);
    }
    let secret = match std::fs::read(secret_file) {
        Ok(bytes) => {
            refuse_if_shared(secret_file)?;
            bytes
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = secret_file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut bytes = [0u8; 48];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            write_private(secret_file, hex.as_bytes())?;
            hex.into_bytes()
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", secret_file.display())),
    };
    AuthSettings::with_secret(secret).map_err(anyhow::Error::msg)
}

/// A signing key that others can read is no secret: refuse it rather than use it.
fn refuse_if_shared(path: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "{} can be read by other users (mode {:o}); make it private with `chmod 600 {}` \
                 (and treat the key as leaked), or delete it to get a new one",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    Ok(())
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}
