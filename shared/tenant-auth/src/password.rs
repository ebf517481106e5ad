//! argon2id password hashing with OWASP's parameters (m = 19456 KiB, t = 2, p = 1, the
//! `argon2` crate's defaults), run on the blocking pool so it never stalls the async runtime,
//! and at most one hash per core at a time: each takes 19 MiB, so a burst of logins queues
//! instead of growing the process by 19 MiB per concurrent request.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;
use thanotopolis_service::{ApiError, ApiResult};
use tokio::sync::Semaphore;

/// Permits for concurrent hashes: one per core.
fn hashing() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS
        .get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(1, usize::from)))
}

/// Runs one argon2 computation under a permit, on the blocking pool.
async fn bounded<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let _permit = hashing()
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(format!("hashing permits: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("hash task: {e}")))?
}

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> ApiResult<String> {
    bounded(move || {
        let salt = SaltString::encode_b64(&crate::random_bytes::<16>())
            .map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("hash: {e}")))
    })
    .await
}

/// Checks a password against a stored hash. With no stored hash (unknown account) it checks
/// against a decoy hash with the same parameters, so both cases take the same time and
/// accounts cannot be discovered by timing; the answer is then always `false`.
pub async fn verify(password: String, stored: Option<String>) -> ApiResult<bool> {
    bounded(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| decoy_hash().to_string());
        let ok = match PasswordHash::new(&phc) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(e) => {
                tracing::error!(error = %e, "stored password hash is unreadable");
                false
            }
        };
        Ok(known && ok)
    })
    .await
}

/// A hash of a random secret nobody knows, made once per process.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let secret = crate::random_bytes::<32>();
        let salt = SaltString::encode_b64(&crate::random_bytes::<16>())
            .expect("16 random bytes encode as a salt");
        Argon2::default()
            .hash_password(&secret, &salt)
            .expect("argon2 with default parameters hashes any input")
            .to_string()
    })
}
