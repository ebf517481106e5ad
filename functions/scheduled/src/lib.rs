//! Work that runs on a clock, not on a request: the usage rollup (with the super_admin
//! dashboard's snapshot) and the sockets' keep-alive.
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
}

/// A scheduled task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Recomputes the all-tenant usage aggregates from the tenants' own, then snapshots the
    /// super_admin dashboard.
    UsageRollup,
    /// Posts a keep-alive to sockets that would otherwise reach API Gateway's idle limit.
    KeepAlive,
}

impl Task {
    pub const ALL: [Task; 2] = [Task::UsageRollup, Task::KeepAlive];

    /// The name schedules and the local management API use.
    pub fn name(self) -> &'static str {
        match self {
            Task::UsageRollup => "usage-rollup",
            Task::KeepAlive => "keep-alive",
        }
    }

    pub fn named(name: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Runs `task` once and reports what it did.
pub async fn run(state: &Scheduled, task: Task) -> StoreResult<Value> {
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
    };
    tracing::info!(task = task.name(), elapsed_ms = started.elapsed().as_millis() as u64, report = %report, "scheduled task done");
    Ok(report)
}

fn json(report: impl serde::Serialize) -> StoreResult<Value> {
    serde_json::to_value(report).map_err(|e| StoreError::Invalid(e.to_string()))
}
