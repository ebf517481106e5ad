//! Health and service information (contract §14). `/health` really reads both tables and
//! reports what it found; nothing here is a constant posing as a measurement.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::time::Instant;
use thanotopolis_service::AppState;
use thanotopolis_store::{Key, Store};

const SERVICE: &str = "thanotopolis-ai-platform";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(health, status, ping, root, api, favicon, robots))]
    struct Doc;
    thanotopolis_service::openapi::part(<Doc as utoipa::OpenApi>::openapi(), "health", &[])
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/ping", get(ping))
        .route("/", get(root))
        .route("/api", get(api))
        .route("/favicon.ico", get(favicon))
        .route("/robots.txt", get(robots))
        .with_state(state)
}

/// Reads one (absent) item from each table: the cheapest request that proves the table is
/// reachable, exists and is readable with this function's permissions.
async fn check(store: &dyn Store, key: Key) -> Value {
    let started = Instant::now();
    match store.get(&key).await {
        Ok(_) => json!({
            "status": "ok",
            "latency_ms": started.elapsed().as_secs_f64() * 1000.0,
        }),
        Err(e) => json!({ "status": "error", "error": e.to_string() }),
    }
}

#[utoipa::path(get, path = "/health", summary = "Reads both tables and reports what it found", security(()), responses(
    (status = 200, description = "Both tables answered: `{status: \"healthy\", service, version, store: {backend, tables}}`", body = Object),
    (status = 503, description = "A table did not answer: `status` is `unhealthy`, `store.tables` says which", body = Object),
))]
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let main = check(state.stores.main.as_ref(), Key::new("HEALTH", "HEALTH")).await;
    let connections = check(state.stores.connections.as_ref(), Key::partition("HEALTH")).await;
    let healthy = main["status"] == "ok" && connections["status"] == "ok";
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "service": SERVICE,
        "version": VERSION,
        "features": { "telephony": false, "websockets": true },
        "store": {
            "backend": state.stores.main.backend(),
            "tables": { "main": main, "connections": connections },
        },
        "timestamp": epoch(),
    });
    (code, Json(body))
}

#[utoipa::path(get, path = "/status", summary = "Liveness with uptime", security(()), responses(
    (status = 200, description = "`{status, service, uptime}` (seconds since this instance started)", body = Object),
))]
async fn status(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "service": "thanotopolis",
        "uptime": state.started.elapsed().as_secs_f64(),
    }))
}

#[utoipa::path(get, path = "/ping", summary = "Liveness", security(()), responses((status = 200, body = Object)))]
async fn ping() -> Json<Value> {
    Json(json!({ "ping": "pong", "timestamp": epoch() }))
}

#[utoipa::path(get, path = "/", summary = "Service name, version and entry points", security(()), responses((status = 200, description = "Service name, version and links", body = Object)))]
async fn root() -> Json<Value> {
    Json(json!({
        "message": "Thanotopolis AI Platform API",
        "version": VERSION,
        "status": "running",
        "health": "/health",
        "endpoints": {
            "auth": { "login": "/api/auth/login", "register": "/api/auth/register", "me": "/api/auth/me" },
            "conversations": { "list": "/api/conversations" },
            "websockets": { "conversation": "/api/ws/conversations/{conversation_id}" },
        },
        "timestamp": epoch(),
    }))
}

#[utoipa::path(get, path = "/api", summary = "API name, version and features", security(()), responses((status = 200, description = "The API's entry points", body = Object)))]
async fn api() -> Json<Value> {
    Json(json!({
        "name": "Thanotopolis AI Platform",
        "version": VERSION,
        "description": "Multi-tenant conversations with AI agents",
        "health": "/health",
        "features": {
            "telephony": false,
            "websockets": true,
            "multi_tenant": true,
        },
    }))
}

/// Browsers ask for it; there is none.
#[utoipa::path(get, path = "/favicon.ico", security(()), responses((status = 204)))]
async fn favicon() -> StatusCode {
    StatusCode::NO_CONTENT
}

#[utoipa::path(get, path = "/robots.txt", summary = "Disallows all crawling", security(()), responses((status = 200, content_type = "text/plain", body = String)))]
async fn robots() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "User-agent: *\nDisallow: /api/\nAllow: /health\nAllow: /docs\n",
    )
}

fn epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
