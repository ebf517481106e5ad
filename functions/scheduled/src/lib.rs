//! Work that runs on a clock, not on a request. Each EventBridge schedule in the template
//! invokes this function with `{"task": NAME}`; `thanotopolis-local` runs the same tasks on its
//! own timer and on demand (`POST /_scheduled/{task}` on its loopback management port).

use serde_json::Value;
use thanotopolis_service::AppState;
use thanotopolis_store::{StoreError, StoreResult};

/// A scheduled task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Recomputes the all-tenant usage aggregates from the tenants' own.
    UsageRollup,
}

impl Task {
    pub const ALL: [Task; 1] = [Task::UsageRollup];

    /// The name schedules and the local management API use.
    pub fn name(self) -> &'static str {
        match self {
            Task::UsageRollup => "usage-rollup",
        }
    }

    pub fn named(name: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Runs `task` once and reports what it did.
pub async fn run(state: &AppState, task: Task) -> StoreResult<Value> {
    let started = std::time::Instant::now();
    let report = match task {
        Task::UsageRollup => {
            let today = time::OffsetDateTime::now_utc().date();
            let report =
                thanotopolis_usage::rollup::roll_up(state.stores.main.as_ref(), today).await?;
            serde_json::to_value(report).map_err(|e| StoreError::Invalid(e.to_string()))?
        }
    };
    tracing::info!(task = task.name(), elapsed_ms = started.elapsed().as_millis() as u64, report = %report, "scheduled task done");
    Ok(report)
}
