//! How an account, session or organization operation fails, in the domain's terms; the
//! wording is what the frontend shows. `http.rs` is the one place these become HTTP statuses.
//! (The request extractor answers in HTTP terms itself: refusing a request is what it is for.)

use thanotopolis_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("User not found")]
    UserNotFound,
    #[error("Invalid role")]
    InvalidRole,
    /// Unknown, expired, reused outside its grace window, or of a revoked family.
    #[error("Invalid refresh token")]
    InvalidRefreshToken,
    #[error("User not found or inactive")]
    UserInactive,
    #[error("Organization is inactive")]
    TenantInactive,
    #[error("Too many failed login attempts; try again in {retry_after} seconds")]
    TooManyAttempts { retry_after: u64 },
    /// The password-hashing threads failed (never the password itself).
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Denied(#[from] crate::policy::Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type AuthResult<T> = Result<T, AuthError>;
