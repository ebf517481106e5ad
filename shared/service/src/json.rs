use crate::{ApiError, FieldError};
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// The largest JSON body any endpoint accepts.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// The deepest nesting of arrays and objects any JSON input may have (the body itself is level
/// 1). Stored copies sit a few levels deeper (a message's `metadata` inside a conversation's
/// recent messages), and DynamoDB stores at most 32 levels: 16 leaves room on both backends.
pub const MAX_JSON_DEPTH: usize = 16;

/// How deeply arrays and objects nest in a JSON text (0 for a scalar), read without parsing,
/// so hostile input is measured before anything recurses into it. Brackets inside strings do
/// not count.
pub fn json_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Parses JSON input with the API's rules: nesting beyond [`MAX_JSON_DEPTH`], malformed or
/// mistyped input is the contract's 422 naming `loc`.
pub fn from_json<T: DeserializeOwned>(text: &[u8], loc: &str) -> Result<T, ApiError> {
    if json_depth(text) > MAX_JSON_DEPTH {
        return Err(ApiError::Validation(vec![FieldError::new(
            &[loc],
            "json_too_deep",
            format!("JSON nested more than {MAX_JSON_DEPTH} levels deep"),
        )]));
    }
    serde_json::from_slice(text).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Data => "value_error",
            _ => "json_invalid",
        };
        ApiError::Validation(vec![FieldError::new(&[loc], kind, e.to_string())])
    })
}

/// A JSON request body, capped at [`MAX_JSON_BODY_BYTES`] (413) and [`MAX_JSON_DEPTH`], with
/// malformed or mistyped input answered by the contract's 422 `{"detail":"Validation error","errors":[...]}`.
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
        // Every body is an object: serde would also fill a struct from an array (`[null]`).
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::Validation(vec![FieldError::new(
                &["body"],
                "model_attributes_type",
                "Input should be a JSON object",
            )]));
        }
        from_json(&body, "body").map(Json)
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_nesting_but_not_brackets_in_strings() {
        assert_eq!(json_depth(b"1"), 0);
        assert_eq!(json_depth(br#"{"a": [1, {"b": 2}]}"#), 3);
        assert_eq!(json_depth(br#"{"a": "[[[[{{{{", "b": "\\\"[["}"#), 1);
        let deep = format!("{}{}", "[".repeat(17), "]".repeat(17));
        assert!(from_json::<serde_json::Value>(deep.as_bytes(), "body").is_err());
        let ok = format!("{}{}", "[".repeat(16), "]".repeat(16));
        assert!(from_json::<serde_json::Value>(ok.as_bytes(), "body").is_ok());
    }
}
