//! The ground every Thanotopolis function stands on.
//!
//! - [`config`]: settings read from the environment, once, at cold start;
//! - [`AppState`]: the stores and settings handed to every router;
//! - [`ApiError`]: the one error type of the HTTP layer, rendered as `{"detail": ...}` in one place;
//! - [`Json`]: JSON body input with size and depth caps and the contract's 422 shape;
//! - [`Path`] and [`Query`]: path and query input whose rejections are 422 `{"detail"}` too;
//! - [`telemetry`]: structured `tracing` logs (JSON inside Lambda);
//! - [`lambda`]: the two-line `main` of a REST function;
//! - [`openapi`]: what every function's part of the OpenAPI document shares.
//!
//! Domain logic does not live here; this crate only wires and translates.
//!
//! It also picks the memory allocator of every binary that links it (all functions, the local
//! gateway, the operator tool): mimalloc, because glibc's malloc was a fifth of the CPU time
//! of a request under load (profile in `docs/performance.md`).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod aws;
pub mod config;
mod error;
mod extract;
mod json;
pub mod lambda;
pub mod openapi;
mod state;
pub mod telemetry;

pub use error::{ApiError, ApiResult, FieldError};
pub use extract::{
    query_number, request_id, ClientAddress, Path, PeerAddress, Query, RequestOrigin,
};
pub use json::{from_json, json_depth, Json, MAX_JSON_BODY_BYTES, MAX_JSON_DEPTH};
pub use state::{AppState, SocketCloser, Stores};

/// Adds the contract's answers for unknown paths (404 `Not Found`) and methods (405).
pub fn with_fallbacks(router: axum::Router) -> axum::Router {
    router
        .fallback(|| async { ApiError::not_found("Not Found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}

/// Parses a UUID path parameter; a malformed one is a 422 naming the parameter, as the
/// original server answered.
pub fn parse_id(name: &str, raw: &str) -> ApiResult<uuid::Uuid> {
    raw.parse().map_err(|_| {
        ApiError::Validation(vec![FieldError::new(
            &["path", name],
            "uuid_parsing",
            "Input should be a valid UUID",
        )])
    })
}

/// CORS for browser callers (contract §1.1): the origins in `CORS_ORIGINS` (a JSON array,
/// default the frontend's dev server `http://localhost:3000`), credentials allowed, any method
/// and header. A malformed `CORS_ORIGINS` is an error at cold start, not a silent default.
pub fn cors() -> Result<tower_http::cors::CorsLayer, String> {
    use axum::http::HeaderValue;
    use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};
    let origins: Vec<String> = match config::env("CORS_ORIGINS") {
        Some(raw) => serde_json::from_str(&raw)
            .map_err(|e| format!("CORS_ORIGINS must be a JSON array of origins: {e}"))?,
        None => vec!["http://localhost:3000".into()],
    };
    let origins = origins
        .iter()
        .map(|o| HeaderValue::from_str(o.trim_end_matches('/')))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CORS_ORIGINS holds an invalid origin: {e}"))?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(std::time::Duration::from_secs(600)))
}

/// `page` (1 to [`MAX_PAGE`], default 1) and `page_size` (1 to 100, default 20) of the
/// paginated routes (contract §1.5).
/// The highest page number a paginated route serves.
pub const MAX_PAGE: usize = 10_000;

pub struct Pagination {
    pub page: usize,
    pub page_size: usize,
}

impl Pagination {
    pub fn new(page: Option<usize>, page_size: Option<usize>) -> ApiResult<Self> {
        let page_size = page_size.unwrap_or(20);
        if !(1..=100).contains(&page_size) {
            return Err(ApiError::invalid(
                &["query", "page_size"],
                "Input should be from 1 to 100",
            ));
        }
        let page = page.unwrap_or(1).max(1);
        if page > MAX_PAGE {
            return Err(ApiError::invalid(
                &["query", "page"],
                format!("Input should be from 1 to {MAX_PAGE}"),
            ));
        }
        Ok(Pagination { page, page_size })
    }

    /// `{items, total, page, page_size, total_pages}` for this page of `all`.
    pub fn respond<T>(
        &self,
        all: &[T],
        shape: impl Fn(&T) -> serde_json::Value,
    ) -> serde_json::Value {
        let items: Vec<serde_json::Value> = all
            .iter()
            .skip((self.page - 1) * self.page_size)
            .take(self.page_size)
            .map(shape)
            .collect();
        serde_json::json!({
            "items": items,
            "total": all.len(),
            "page": self.page,
            "page_size": self.page_size,
            "total_pages": all.len().div_ceil(self.page_size),
        })
    }
}
