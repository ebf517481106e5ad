//! Tenant scoping and authentication, shared by every Thanotopolis function.
//!
//! - [`keys`]: the one module that builds single-table keys. Tenant-owned keys take a
//!   [`TenantScope`], which only this crate can create: from a verified caller ([`Caller`]), from
//!   a tenant looked up by subdomain or access code, or for a tenant being created. An id from a
//!   URL therefore cannot name another tenant's item: it reads as absent (404).
//! - [`Caller`]: the request-auth extractor (one store round trip: the caller's user and tenant).
//! - [`Role`] and [`policy`]: the role ladder and every permission rule, in one place.
//! - [`password`] (argon2id, off the async runtime) and [`tokens`] (JWT access tokens, opaque
//!   refresh tokens stored only as hashes), [`sessions`] (issue, rotate, revoke).
//! - [`records`]: users and tenants as stored, and their JSON response shapes.
//! - [`validate`]: parsing raw input into valid values at the edge.

pub mod accounts;
pub mod audit;
mod caller;
pub mod creation;
mod error;
mod hs256;
mod http;
pub mod keys;
pub mod login_limits;
pub mod operator;
pub mod password;
pub mod policy;
pub mod records;
mod role;
mod scope;
pub mod sessions;
pub mod tenants;
pub mod tokens;
pub mod usage_tags;
pub mod validate;

pub use caller::{active_users, Caller, TokenCaller};
pub use error::{AuthError, AuthResult};
pub use records::{TenantRecord, UserRecord};
pub use role::Role;
pub use scope::TenantScope;

/// Current UTC time as RFC 3339 with `Z`, the format of every stored and returned timestamp.
pub fn now_rfc3339() -> String {
    format_rfc3339(time::OffsetDateTime::now_utc())
}

pub fn format_rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("an OffsetDateTime in UTC always formats as RFC 3339")
}

/// Seconds since the Unix epoch.
pub fn now_epoch() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes
}
