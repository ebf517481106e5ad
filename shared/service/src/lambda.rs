//! Entry points for REST functions: build state once per cold start, then serve the router
//! through `lambda_http` (API Gateway REST events in, responses out).

use crate::config::{AuthSettings, StoreSettings};
use crate::{AppState, Stores};

/// Builds the shared state from the environment; a missing or bad setting stops the cold start
/// with a clear message instead of failing requests later.
pub async fn state_from_env() -> Result<AppState, lambda_http::Error> {
    crate::telemetry::init();
    let auth = AuthSettings::from_env()?;
    let settings = StoreSettings::from_env()?;
    let stores = Stores::open(&settings).await?;
    Ok(AppState::new(stores, auth))
}

/// Serves `router` as this Lambda function's handler, with the contract's 404/405 answers
/// and CORS.
pub async fn serve(router: axum::Router) -> Result<(), lambda_http::Error> {
    let app = crate::with_fallbacks(router)
        .layer(crate::cors()?)
        .layer(crate::telemetry::request_spans())
        .layer(axum::middleware::from_fn(
            crate::telemetry::ensure_request_id,
        ));
    lambda_http::run(app).await
}
