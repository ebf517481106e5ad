//! Work that runs on a clock, not on a request: the usage rollup (with the super_admin
//! dashboard's snapshot), the sockets' keep-alive, and the import of live speech-to-text usage
//! from Deepgram.
//! Each EventBridge schedule in the template invokes this function with `{"task": NAME}`;
//! `thanotopolis-local` runs the same tasks on its own timer and on demand
//! (`POST /_scheduled/{task}` on its loopback management port).

pub mod keep_alive;

use serde_json::Value;
use std::time::Duration;
use thanotopolis_service::AppState;
use thanotopolis_sockets::Poster;
use thanotopolis_store::{StoreError, StoreResult};

/// API Gateway's idle timeout is 10 minutes: a keep-alive every 9 keeps a socket open.
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(9 * 60);

/// What the scheduled tasks need: the stores, and the management API to post keep-alives.
pub struct Scheduled {
    pub app: AppState,
    pub poster: Poster,
    /// How long a socket may go without a keep-alive ([`KEEP_ALIVE_EVERY`] in AWS; the local
    /// gateway scales it to its own idle limit).
    pub keep_alive_every: Duration,
    /// The Deepgram project whose live-streaming usage is imported (`None`: not configured,
    /// and the task says so).
    pub live_stt: Option<thanotopolis_usage::live_stt::DeepgramProject>,
}

/// How a scheduled task fails.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Deepgram(String),
}

impl From<thanotopolis_usage::live_stt::LiveImportError> for TaskError {
    fn from(e: thanotopolis_usage::live_stt::LiveImportError) -> Self {
        match e {
            thanotopolis_usage::live_stt::LiveImportError::Store(e) => TaskError::Store(e),
            other => TaskError::Deepgram(other.to_string()),
        }
    }
}

impl From<TaskError> for thanotopolis_service::ApiError {
    fn from(e: TaskError) -> Self {
        match e {
            TaskError::Store(e) => e.into(),
            TaskError::Deepgram(message) => thanotopolis_service::ApiError::BadGateway(message),
        }
    }
}

/// A scheduled task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Recomputes the all-tenant usage aggregates from the tenants' own, then snapshots the
    /// super_admin dashboard.
    UsageRollup,
    /// Posts a keep-alive to sockets that would otherwise reach API Gateway's idle limit.
    KeepAlive,
    /// Records the live speech-to-text streams Deepgram lists under our signed tags as their
    /// organizations' `stt_seconds`, once per Deepgram request.
    SttUsageImport,
}

impl Task {
    pub const ALL: [Task; 3] = [Task::UsageRollup, Task::KeepAlive, Task::SttUsageImport];

    /// The name schedules and the local management API use.
    pub fn name(self) -> &'static str {
        match self {
            Task::UsageRollup => "usage-rollup",
            Task::KeepAlive => "keep-alive",
            Task::SttUsageImport => "stt-usage-import",
        }
    }

    pub fn named(name: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Runs `task` once and reports what it did.
pub async fn run(state: &Scheduled, task: Task) -> Result<Value, TaskError> {
    let started = std::time::Instant::now();
    let report = match task {
        Task::UsageRollup => {
            let today = time::OffsetDateTime::now_utc().date();
            let store = state.app.stores.main.as_ref();
            let mut report = json(thanotopolis_usage::rollup::roll_up(store, today).await?)?;
            // After the aggregates it reads, so the snapshot shows this run's totals.
            let dashboard = thanotopolis_dashboard::snapshot::snapshot(&state.app).await?;
            report["dashboard"] = json(dashboard)?;
            report
        }
        Task::KeepAlive => {
            json(keep_alive::run(&state.app, &state.poster, state.keep_alive_every).await?)?
        }
        Task::SttUsageImport => match &state.live_stt {
            Some(project) => {
                let store = state.app.stores.main.as_ref();
                let now = time::OffsetDateTime::now_utc();
                json(thanotopolis_usage::live_stt::import(store, project, now).await?)?
            }
            None => serde_json::json!({
                "skipped": "DEEPGRAM_API_KEY and DEEPGRAM_PROJECT_ID are not both set"
            }),
        },
    };
    tracing::info!(task = task.name(), elapsed_ms = started.elapsed().as_millis() as u64, report = %report, "scheduled task done");
    Ok(report)
}

fn json(report: impl serde::Serialize) -> StoreResult<Value> {
    serde_json::to_value(report).map_err(|e| StoreError::Invalid(e.to_string()))
}
