use crate::{ApiError, FieldError};
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde::de::DeserializeOwned;

/// The largest JSON body any endpoint accepts.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body, capped at [`MAX_JSON_BODY_BYTES`] (413), with malformed or mistyped
/// input answered by the contract's 422 `{"detail":"Validation error","errors":[...]}`.
/// Unknown fields are ignored. Any `Content-Type` is accepted, as the original server did.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let body = axum::body::to_bytes(req.into_body(), MAX_JSON_BODY_BYTES)
            .await
            .map_err(|_| {
                ApiError::PayloadTooLarge(format!(
                    "Request body exceeds {MAX_JSON_BODY_BYTES} bytes"
                ))
            })?;
        parse(&body).map(Json)
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Data => "value_error",
            _ => "json_invalid",
        };
        ApiError::Validation(vec![FieldError::new(&["body"], kind, e.to_string())])
    })
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}
