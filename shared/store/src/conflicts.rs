//! DynamoDB's transaction conflicts: the embedded store's emulation of them, and the one retry
//! policy both backends apply.
//!
//! DynamoDB refuses a transaction that touches an item another in-flight transaction holds
//! (`TransactionConflict`), and a single write to an item a transaction holds. Nothing is
//! written, so retrying is safe. The embedded store would never notice (SQLite serializes
//! everything), which would make concurrency tests pass locally that fail on AWS; so it keeps
//! the same in-flight set and refuses the same writes.

#[cfg(feature = "embedded")]
use crate::Key;
use crate::{StoreError, StoreResult};
#[cfg(feature = "embedded")]
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(feature = "embedded")]
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Attempts of one write before a persisting conflict is returned to the caller.
const ATTEMPTS: u32 = 8;
/// Backoff before the n-th retry: up to `BASE << n`, at most `CAP`, uniformly jittered (AWS's
/// "full jitter"), so racing writers spread out instead of colliding again in step.
const BASE: Duration = Duration::from_millis(5);
const CAP: Duration = Duration::from_millis(400);

/// Runs `attempt` until it does not conflict, counting each conflict in `conflicts`.
pub(crate) async fn retrying<T, F, Fut>(conflicts: &AtomicU64, mut attempt: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let mut n = 0;
    loop {
        match attempt().await {
            Err(StoreError::TransactionConflict) if n + 1 < ATTEMPTS => {
                conflicts.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(jitter((BASE * (1 << n)).min(CAP))).await;
                n += 1;
            }
            Err(StoreError::TransactionConflict) => {
                conflicts.fetch_add(1, Ordering::Relaxed);
                return Err(StoreError::TransactionConflict);
            }
            other => return other,
        }
    }
}

fn jitter(max: Duration) -> Duration {
    // A fresh `RandomState` is randomly keyed: enough randomness for spreading retries.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_micros(random % (max.as_micros() as u64).max(1))
}

#[cfg(feature = "embedded")]
#[derive(Default)]
struct Holds {
    transactions: u32,
    single_writes: u32,
}

/// The items held by in-flight writes of one embedded store.
#[cfg(feature = "embedded")]
#[derive(Clone, Default)]
pub(crate) struct InFlight(Arc<Mutex<HashMap<Key, Holds>>>);

/// Releases what a write held when it finishes (or is dropped).
#[cfg(feature = "embedded")]
pub(crate) struct Held {
    in_flight: InFlight,
    keys: Vec<Key>,
    transaction: bool,
}

#[cfg(feature = "embedded")]
impl InFlight {
    /// Holds `keys` for a transaction, or refuses with `TransactionConflict` when another
    /// in-flight write holds one of them.
    pub(crate) fn transaction(&self, keys: Vec<Key>) -> StoreResult<Held> {
        self.hold(keys, true)
    }

    /// Holds `key` for a single write, or refuses when an in-flight transaction holds it
    /// (single writes to one item do not conflict with each other).
    pub(crate) fn single_write(&self, key: Key) -> StoreResult<Held> {
        self.hold(vec![key], false)
    }

    /// Holds `keys` for a batch of single writes (each refused like [`InFlight::single_write`]).
    pub(crate) fn single_writes(&self, keys: Vec<Key>) -> StoreResult<Held> {
        self.hold(keys, false)
    }

    fn hold(&self, keys: Vec<Key>, transaction: bool) -> StoreResult<Held> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let conflicts = keys.iter().any(|k| {
            held.get(k)
                .is_some_and(|h| h.transactions > 0 || (transaction && h.single_writes > 0))
        });
        if conflicts {
            return Err(StoreError::TransactionConflict);
        }
        for k in &keys {
            let h = held.entry(k.clone()).or_default();
            if transaction {
                h.transactions += 1;
            } else {
                h.single_writes += 1;
            }
        }
        Ok(Held {
            in_flight: self.clone(),
            keys,
            transaction,
        })
    }
}

#[cfg(feature = "embedded")]
impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.in_flight.0.lock().unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            if let Some(h) = held.get_mut(k) {
                if self.transaction {
                    h.transactions -= 1;
                } else {
                    h.single_writes -= 1;
                }
                if h.transactions == 0 && h.single_writes == 0 {
                    held.remove(k);
                }
            }
        }
    }
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;

    #[test]
    fn transactions_conflict_with_any_holder_and_single_writes_only_with_transactions() {
        let in_flight = InFlight::default();
        let a = Key::new("P", "a");
        let single = in_flight.single_write(a.clone()).unwrap();
        assert!(in_flight.single_write(a.clone()).is_ok());
        assert_eq!(
            in_flight.transaction(vec![a.clone()]).err(),
            Some(StoreError::TransactionConflict)
        );
        drop(single);
        let tx = in_flight.transaction(vec![a.clone()]).unwrap();
        assert_eq!(
            in_flight.single_write(a.clone()).err(),
            Some(StoreError::TransactionConflict)
        );
        assert!(in_flight.transaction(vec![Key::new("P", "b")]).is_ok());
        drop(tx);
        assert!(in_flight.transaction(vec![a]).is_ok(), "released on drop");
    }
}
