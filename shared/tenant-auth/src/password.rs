//! argon2id password hashing with OWASP's parameters (m = 19456 KiB, t = 2, p = 1, the
//! `argon2` crate's defaults), off the async runtime on a few hashing threads of its own, one
//! per core: each hash takes 19 MiB, so a burst of logins queues instead of growing the
//! process by 19 MiB per concurrent request. Dedicated threads (rather than the blocking pool,
//! which grows a thread per waiting task) also keep the freed 19 MiB buffers in a few
//! allocator arenas, where the next hash reuses them, instead of one per pool thread.

use crate::{AuthError, AuthResult};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

/// The queue of the hashing threads (one per core), started on first use.
fn hashers() -> &'static mpsc::Sender<Job> {
    static QUEUE: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..std::thread::available_parallelism().map_or(1, usize::from) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || loop {
                    // The lock is held only to take the next job, not while running it.
                    let job = match rx.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("the OS can start a hashing thread");
        }
        tx
    })
}

/// Runs one argon2 computation on a hashing thread, waiting (without blocking the runtime)
/// for its turn and its result.
async fn bounded<T: Send + 'static>(
    work: impl FnOnce() -> AuthResult<T> + Send + 'static,
) -> AuthResult<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    hashers()
        .send(Box::new(move || {
            let _ = tx.send(work());
        }))
        .map_err(|_| AuthError::Hashing("hashing threads stopped".into()))?;
    rx.await
        .map_err(|_| AuthError::Hashing("a hashing thread dropped its job".into()))?
}

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> AuthResult<String> {
    bounded(move || {
        let salt = SaltString::encode_b64(&crate::random_bytes::<16>())
            .map_err(|e| AuthError::Hashing(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Hashing(format!("hash: {e}")))
    })
    .await
}

/// Checks a password against a stored hash. With no stored hash (unknown account) it checks
/// against a decoy hash with the same parameters, so both cases take the same time and
/// accounts cannot be discovered by timing; the answer is then always `false`.
pub async fn verify(password: String, stored: Option<String>) -> AuthResult<bool> {
    bounded(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| decoy_hash().to_string());
        if is_bcrypt(&phc) {
            return Ok(known && bcrypt::verify(&password, &phc).unwrap_or(false));
        }
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

/// Whether a stored hash is the old backend's bcrypt (`$2a$`, `$2b$`, `$2y$`): [`verify`]
/// checks it, and a login that succeeds with it replaces it with an argon2id hash.
pub fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
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
