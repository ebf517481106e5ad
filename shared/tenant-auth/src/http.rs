//! The one mapping of account and session errors to HTTP responses.

use crate::policy::Denied;
use crate::AuthError;
use thanotopolis_service::ApiError;

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let detail = e.to_string();
        match e {
            AuthError::UserNotFound => ApiError::NotFound(detail),
            AuthError::InvalidRole => ApiError::BadRequest(detail),
            AuthError::InvalidRefreshToken
            | AuthError::UserInactive
            | AuthError::TenantInactive => ApiError::Unauthorized(detail),
            AuthError::TooManyAttempts { retry_after } => ApiError::TooManyRequests {
                detail,
                retry_after,
            },
            AuthError::Hashing(cause) => ApiError::Internal(cause),
            AuthError::Denied(e) => e.into(),
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<Denied> for ApiError {
    fn from(e: Denied) -> Self {
        match e {
            Denied::Role(detail) => ApiError::Forbidden(detail),
            Denied::OnSelf(detail) => ApiError::BadRequest(detail),
        }
    }
}
