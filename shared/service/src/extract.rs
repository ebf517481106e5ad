//! Request extractors: path and query input whose rejections are the API's own errors (a
//! malformed query — a negative `page_size`, `hours=1e9`, a repeated key — or path, invalid
//! UTF-8, is a 422 `{"detail": ...}` like every other invalid input, never axum's
//! `400 text/plain`), and the client's address.

use crate::{ApiError, FieldError};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Query-string parameters, deserialized into `T`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Query(q.0))
            .map_err(|e| invalid("query", e.body_text()))
    }
}

/// A whole-number query parameter from `min` to `max`, if given: anything else (`-1`, `1e9`,
/// `abc`, out of range) is a 422 naming it. (Query structs keep such fields as strings so
/// the refusal can say the range, not serde's wording.)
pub fn query_number(
    raw: Option<&str>,
    field: &str,
    min: usize,
    max: usize,
) -> Result<Option<usize>, ApiError> {
    raw.map(|s| match s.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid(
            &["query", field],
            format!("Input should be a whole number from {min} to {max}"),
        )),
    })
    .transpose()
}

/// Path parameters, deserialized into `T` (`Uuid`, or a tuple in the route's order). A value
/// that does not parse is a 422 naming its parameter: `["path", "id"]`, and for ids the
/// contract's `uuid_parsing` / `Input should be a valid UUID`.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        use axum::extract::path::{ErrorKind, RawPathParams};
        use axum::extract::rejection::PathRejection;
        let e = match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(p) => return Ok(Path(p.0)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => e,
            Err(other) => return Err(invalid("path", other.body_text())),
        };
        let names: Vec<String> = match RawPathParams::from_request_parts(parts, state).await {
            Ok(raw) => raw.iter().map(|(name, _)| name.to_string()).collect(),
            Err(_) => Vec::new(),
        };
        let (name, expected) = match e.kind() {
            ErrorKind::ParseErrorAtKey {
                key, expected_type, ..
            } => (Some(key.clone()), *expected_type),
            ErrorKind::ParseErrorAtIndex {
                index,
                expected_type,
                ..
            } => (names.get(*index).cloned(), *expected_type),
            ErrorKind::ParseError { expected_type, .. } => (names.first().cloned(), *expected_type),
            ErrorKind::InvalidUtf8InPathParam { key } => (Some(key.clone()), ""),
            _ => (None, ""),
        };
        let loc: Vec<&str> = std::iter::once("path").chain(name.as_deref()).collect();
        Err(ApiError::Validation(vec![if expected.ends_with("Uuid") {
            FieldError::new(&loc, "uuid_parsing", "Input should be a valid UUID")
        } else {
            FieldError::new(&loc, "value_error", e.body_text())
        }]))
    }
}

fn invalid(loc: &str, message: String) -> ApiError {
    ApiError::Validation(vec![FieldError::new(&[loc], "value_error", message)])
}

/// The id of the request, as its log span carries it: Lambda's request id, else the
/// `X-Request-ID` header (at most 64 characters), which [`crate::telemetry::ensure_request_id`]
/// sets when a client did not.
pub fn request_id(
    extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
) -> Option<String> {
    extensions
        .get::<lambda_http::Context>()
        .map(|c| c.request_id.clone())
        .or_else(|| {
            headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(64).collect())
        })
}

/// Where a request came from, for the audit trail: its id and the client's address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestOrigin {
    pub request_id: Option<String>,
    pub client_address: Option<String>,
}

impl RequestOrigin {
    pub fn of(parts: &Parts) -> RequestOrigin {
        RequestOrigin {
            request_id: request_id(&parts.extensions, &parts.headers),
            client_address: client_address(parts),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestOrigin::of(parts))
    }
}

/// The address the request came from: API Gateway's `sourceIp` inside Lambda, the peer's
/// address locally ([`PeerAddress`]). Never a client-supplied header (`X-Forwarded-For` can
/// say anything).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub Option<String>);

/// The TCP peer of a request, as a server that accepts connections itself (the local
/// gateway) records it in the request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddress(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(client_address(parts)))
    }
}

fn client_address(parts: &Parts) -> Option<String> {
    use lambda_http::request::RequestContext;
    let from_gateway = match parts.extensions.get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.clone(),
        Some(RequestContext::WebSocket(ctx)) => ctx.identity.source_ip.clone(),
        _ => None,
    };
    from_gateway.or_else(|| {
        parts
            .extensions
            .get::<PeerAddress>()
            .map(|p| p.0.to_string())
    })
}
