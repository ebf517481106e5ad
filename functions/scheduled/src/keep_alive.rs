//! Keeping idle sockets open. API Gateway closes a WebSocket after 10 minutes without a
//! message either way, and the frontend neither pings nor reconnects: a tab left open would
//! silently stop receiving. A message from the server restarts the idle timer, so every
//! socket that has not had a keep-alive for `every` (9 minutes in AWS) gets a small `ping`
//! frame, which clients ignore (contract: the frontend ignores `ping`). Sockets end anyway at
//! API Gateway's 2-hour maximum; their rows expire then, and they get nothing more.

use serde_json::json;
use std::time::Duration;
use thanotopolis_conversations::presence;
use thanotopolis_service::AppState;
use thanotopolis_sockets::{PostError, Poster};
use thanotopolis_store::StoreResult;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What a run did.
#[derive(Debug, Default, PartialEq, serde::Serialize)]
pub struct KeepAliveReport {
    /// Live sockets looked at.
    pub sockets: usize,
    /// Sockets sent a keep-alive.
    pub pinged: usize,
    /// Sockets found gone (their rows deleted).
    pub gone: usize,
    /// Posts that failed otherwise (retried next run).
    pub failed: usize,
}

fn parse(at: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(at, &Rfc3339).ok()
}

/// Sends a keep-alive to every live socket that has had none (or been open without one) for
/// `every`. One query per tenant, one post and one row update per socket due.
pub async fn run(app: &AppState, poster: &Poster, every: Duration) -> StoreResult<KeepAliveReport> {
    let store = app.stores.main.as_ref();
    let tenants = thanotopolis_tenant_auth::tenants::all(store).await?;
    let now = OffsetDateTime::now_utc();
    let mut report = KeepAliveReport::default();
    for (scope, _) in tenants {
        for socket in presence::of_tenant(app, scope.tenant_id()).await? {
            report.sockets += 1;
            let last = socket
                .kept_alive_at
                .as_deref()
                .unwrap_or(&socket.connected_at);
            if parse(last).is_some_and(|at| now - at < every) {
                continue;
            }
            let at = thanotopolis_tenant_auth::now_rfc3339();
            let frame = json!({ "type": "ping", "timestamp": at });
            match poster
                .post((None, None), &socket.connection_id, &frame)
                .await
            {
                Ok(()) => {
                    report.pinged += 1;
                    presence::kept_alive(app, &socket.connection_id, &at).await?;
                }
                Err(PostError::Gone) => {
                    report.gone += 1;
                    presence::forget(app, &socket.connection_id).await?;
                }
                Err(PostError::Failed(e)) => {
                    report.failed += 1;
                    tracing::warn!(connection_id = %socket.connection_id, error = %e, "keep-alive post failed");
                }
            }
        }
    }
    Ok(report)
}
