use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use thanotopolis_store::StoreError;

pub type ApiResult<T> = Result<T, ApiError>;

/// One problem with one input field, as listed in a 422 response's `errors`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldError {
    /// A machine-readable kind, e.g. `missing` or `string_too_long`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// Where: `["body", "email"]`, `["query", "page_size"]`, `["path", "id"]`.
    pub loc: Vec<String>,
    /// For people.
    pub msg: String,
}

impl FieldError {
    pub fn new(loc: &[&str], kind: &'static str, msg: impl Into<String>) -> Self {
        FieldError {
            kind,
            loc: loc.iter().map(|s| s.to_string()).collect(),
            msg: msg.into(),
        }
    }
}

/// Every way an HTTP request can fail. The `detail` strings are what the frontend shows users,
/// so they follow the contract word for word.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// 401 with `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("validation error")]
    Validation(Vec<FieldError>),
    /// A 422 with a plain `detail` (where the contract words it so).
    #[error("{0}")]
    Unprocessable(String),
    /// 429 with `Retry-After` (seconds).
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: u64 },
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    ServiceUnavailable(String),
    /// Anything unexpected; logged here, masked in the response.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::BadRequest(detail.into())
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::NotFound(detail.into())
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Forbidden(detail.into())
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError::Unauthorized(detail.into())
    }

    /// A single-field validation failure.
    pub fn invalid(loc: &[&str], msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(loc, "value_error", msg)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Validation(_) | ApiError::Unprocessable(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TooLarge { .. } => {
                ApiError::PayloadTooLarge("Request too large to store".into())
            }
            StoreError::TransactionConflict => {
                ApiError::Conflict("The resource was changed concurrently; please retry".into())
            }
            StoreError::Unavailable(_) => {
                tracing::error!(error = %e, "store unavailable");
                ApiError::ServiceUnavailable("Storage temporarily unavailable".into())
            }
            StoreError::TooDeep { .. } => {
                ApiError::Unprocessable("Input nested too deeply to store".into())
            }
            StoreError::BadCursor => ApiError::invalid(&["query", "cursor"], "Invalid cursor"),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Validation(errors) => {
                serde_json::json!({ "detail": "Validation error", "errors": errors })
            }
            ApiError::Internal(cause) => {
                // The one place unexpected errors are logged; the client sees a masked body.
                tracing::error!(%cause, "internal error");
                serde_json::json!({ "detail": "Internal server error", "type": "internal_error" })
            }
            other => serde_json::json!({ "detail": other.to_string() }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}
