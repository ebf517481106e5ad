//! Failed-login limits, kept in the store so they hold across every Lambda instance: per
//! e-mail address (counted whether or not an account has it, so the limit reveals nothing) and
//! per client address, in fixed windows whose counters expire with the window (TTL). Over a
//! limit, a login is refused before any password check, a right password included, until the
//! window passes.

use crate::keys;
use crate::validate::EmailAddress;
use crate::{AuthError, AuthResult};
use sha2::{Digest, Sha256};
use thanotopolis_service::config::LoginLimits;
use thanotopolis_service::AppState;
use thanotopolis_store::{Key, Update};

/// The counters one login attempt is measured against.
pub struct Attempt {
    counters: Vec<(Key, u64)>,
    window_end: i64,
}

impl Attempt {
    /// Refuses the attempt (429 with `Retry-After`) when a counter of the current window is at
    /// its limit. One batch read.
    pub async fn check(
        state: &AppState,
        email: &EmailAddress,
        client: Option<&str>,
    ) -> AuthResult<Attempt> {
        let limits: LoginLimits = state.auth.login_limits;
        let window_secs = limits.window.as_secs().max(1) as i64;
        let now = crate::now_epoch();
        let window = now / window_secs;
        let mut counters = vec![(
            keys::login_failures(&email_subject(email), window),
            limits.per_email,
        )];
        if let Some(address) = client {
            counters.push((
                keys::login_failures(&format!("ADDRESS#{address}"), window),
                limits.per_address,
            ));
        }
        let attempt = Attempt {
            counters,
            window_end: (window + 1) * window_secs,
        };
        let keys: Vec<Key> = attempt.counters.iter().map(|(k, _)| k.clone()).collect();
        let items = thanotopolis_store::by_key(
            &thanotopolis_store::schema::MAIN_TABLE,
            state.stores.main.batch_get(&keys).await?,
        );
        let over = attempt.counters.iter().any(|(key, limit)| {
            items
                .get(key)
                .and_then(|item| item.get("failures").and_then(|v| v.as_u64()))
                .is_some_and(|failures| failures >= *limit)
        });
        if over {
            let retry_after = (attempt.window_end - now).max(1) as u64;
            return Err(AuthError::TooManyAttempts { retry_after });
        }
        Ok(attempt)
    }

    /// Counts a failed attempt against every counter (atomic adds, in parallel).
    pub async fn failed(self, state: &AppState) -> AuthResult<()> {
        let writes = self.counters.into_iter().map(|(key, _)| {
            let update = Update::new()
                .add("failures", 1)
                .set("expires_at", self.window_end);
            async move { state.stores.main.update(&key, update, None).await }
        });
        for result in futures::future::join_all(writes).await {
            result?;
        }
        Ok(())
    }
}

/// The subject of an address's failed-login counters: its SHA-256, so no address is stored.
pub fn email_subject(email: &EmailAddress) -> String {
    format!("EMAIL#{}", hex(&Sha256::digest(email.as_str().as_bytes())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
