//! Settings from the environment. Names are part of the operator interface (README).

use std::path::PathBuf;

/// `THANOTOPOLIS_TABLE`: the single table's name.
pub const DEFAULT_TABLE: &str = "thanotopolis";
/// `THANOTOPOLIS_CONNECTIONS_TABLE`: the WebSocket connections table's name.
pub const DEFAULT_CONNECTIONS_TABLE: &str = "thanotopolis-connections";
/// `THANOTOPOLIS_DATA_DIR` default for the embedded store, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = ".thanotopolis/data";

/// Where items live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreBackend {
    /// SQLite file `thanotopolis.db` under this directory.
    Embedded { data_dir: PathBuf },
    /// Amazon DynamoDB (or any DynamoDB API); `endpoint` overrides the SDK's default.
    Dynamodb { endpoint: Option<String> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSettings {
    pub backend: StoreBackend,
    pub table: String,
    pub connections_table: String,
    /// Create missing tables at start (local runs and tests; deployments use the template).
    pub create_tables: bool,
}

impl StoreSettings {
    /// Reads `THANOTOPOLIS_STORE` (`dynamodb`, the default, or `embedded`),
    /// `THANOTOPOLIS_DATA_DIR`, `THANOTOPOLIS_TABLE`, `THANOTOPOLIS_CONNECTIONS_TABLE` and
    /// `AWS_ENDPOINT_URL_DYNAMODB`.
    pub fn from_env() -> Result<Self, String> {
        let backend = match env("THANOTOPOLIS_STORE").as_deref() {
            None | Some("dynamodb") => StoreBackend::Dynamodb {
                endpoint: env("AWS_ENDPOINT_URL_DYNAMODB"),
            },
            Some("embedded") => StoreBackend::Embedded {
                data_dir: env("THANOTOPOLIS_DATA_DIR")
                    .unwrap_or_else(|| DEFAULT_DATA_DIR.into())
                    .into(),
            },
            Some(other) => {
                return Err(format!(
                    "THANOTOPOLIS_STORE must be `dynamodb` or `embedded`, not {other:?}"
                ))
            }
        };
        Ok(StoreSettings {
            backend,
            table: env("THANOTOPOLIS_TABLE").unwrap_or_else(|| DEFAULT_TABLE.into()),
            connections_table: env("THANOTOPOLIS_CONNECTIONS_TABLE")
                .unwrap_or_else(|| DEFAULT_CONNECTIONS_TABLE.into()),
            create_tables: false,
        })
    }
}

/// A non-empty environment variable.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The store flags of the operator binaries (`thanotopolis-local`, `thanotopolis-admin`), each
/// also readable from the environment variable the functions use.
#[cfg(feature = "cli")]
#[derive(Clone, Debug, clap::Args)]
pub struct StoreArgs {
    /// Where items live: an embedded SQLite file, or DynamoDB.
    #[arg(long, env = "THANOTOPOLIS_STORE", default_value = "embedded", value_parser = ["embedded", "dynamodb"])]
    pub store: String,
    /// Directory of the embedded store (created if missing).
    #[arg(long, env = "THANOTOPOLIS_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// DynamoDB endpoint (e.g. http://127.0.0.1:5000 for a local DynamoDB API).
    #[arg(long, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    pub dynamodb_endpoint: Option<String>,
    /// Name of the single table.
    #[arg(long, env = "THANOTOPOLIS_TABLE", default_value = DEFAULT_TABLE)]
    pub table: String,
    /// Name of the WebSocket connections table.
    #[arg(long, env = "THANOTOPOLIS_CONNECTIONS_TABLE", default_value = DEFAULT_CONNECTIONS_TABLE)]
    pub connections_table: String,
}

#[cfg(feature = "cli")]
impl StoreArgs {
    /// Settings for a local run: missing DynamoDB tables are created.
    pub fn settings(&self) -> StoreSettings {
        let backend = if self.store == "dynamodb" {
            StoreBackend::Dynamodb {
                endpoint: self.dynamodb_endpoint.clone(),
            }
        } else {
            StoreBackend::Embedded {
                data_dir: self.data_dir.clone(),
            }
        };
        StoreSettings {
            backend,
            table: self.table.clone(),
            connections_table: self.connections_table.clone(),
            create_tables: true,
        }
    }
}

/// Token settings: `JWT_SECRET_KEY` (at least 32 bytes), `ACCESS_TOKEN_EXPIRE_MINUTES`
/// (default 15) and `REFRESH_TOKEN_EXPIRE_DAYS` (default 7).
#[derive(Clone)]
pub struct AuthSettings {
    pub jwt_secret: Vec<u8>,
    pub access_ttl: std::time::Duration,
    pub refresh_ttl: std::time::Duration,
    /// How long after a rotation the rotated refresh token may be presented again (a client
    /// that lost the response) before that counts as reuse and revokes the session.
    pub refresh_reuse_grace: std::time::Duration,
    pub login_limits: LoginLimits,
    /// Messages one user may post a minute (`MESSAGES_PER_USER_PER_MINUTE`, default 30), so one
    /// account cannot burn its organization's AI budget in a loop.
    pub messages_per_minute: u64,
}

/// How many failed logins are tolerated per window before the next attempt is refused
/// without a password check: `LOGIN_FAILURES_PER_EMAIL` (10), `LOGIN_FAILURES_PER_ADDRESS`
/// (100), `LOGIN_FAILURE_WINDOW_SECONDS` (900).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLimits {
    pub per_email: u64,
    pub per_address: u64,
    pub window: std::time::Duration,
}

impl LoginLimits {
    pub fn from_env() -> Result<Self, String> {
        Ok(LoginLimits {
            per_email: number_env("LOGIN_FAILURES_PER_EMAIL", 10, 1)?,
            per_address: number_env("LOGIN_FAILURES_PER_ADDRESS", 100, 1)?,
            window: std::time::Duration::from_secs(number_env(
                "LOGIN_FAILURE_WINDOW_SECONDS",
                900,
                1,
            )?),
        })
    }
}

/// The shortest HS256 secret accepted: 256 bits, the hash's output size (RFC 7518 §3.2).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwt_secret", &"<redacted>")
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("refresh_reuse_grace", &self.refresh_reuse_grace)
            .field("login_limits", &self.login_limits)
            .field("messages_per_minute", &self.messages_per_minute)
            .finish()
    }
}

impl AuthSettings {
    /// Settings with `secret`, refused when it is shorter than [`MIN_JWT_SECRET_BYTES`];
    /// lifetimes, the refresh grace (`REFRESH_REUSE_GRACE_SECONDS`, default 10) and the login
    /// limits from the environment.
    pub fn with_secret(secret: Vec<u8>) -> Result<Self, String> {
        if secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(format!(
                "JWT_SECRET_KEY must be at least {MIN_JWT_SECRET_BYTES} bytes, got {}",
                secret.len()
            ));
        }
        let minutes = number_env("ACCESS_TOKEN_EXPIRE_MINUTES", 15, 1)?;
        let days = number_env("REFRESH_TOKEN_EXPIRE_DAYS", 7, 1)?;
        Ok(AuthSettings {
            jwt_secret: secret,
            access_ttl: std::time::Duration::from_secs(minutes * 60),
            refresh_ttl: std::time::Duration::from_secs(days * 24 * 60 * 60),
            // 0 is allowed: no grace, every re-presentation of a rotated token is reuse.
            refresh_reuse_grace: std::time::Duration::from_secs(number_env(
                "REFRESH_REUSE_GRACE_SECONDS",
                10,
                0,
            )?),
            login_limits: LoginLimits::from_env()?,
            messages_per_minute: number_env("MESSAGES_PER_USER_PER_MINUTE", 30, 1)?,
        })
    }

    /// Reads `JWT_SECRET_KEY`; missing or short is an error (functions refuse to start).
    pub fn from_env() -> Result<Self, String> {
        let secret = env("JWT_SECRET_KEY").ok_or("JWT_SECRET_KEY is not set")?;
        Self::with_secret(secret.into_bytes())
    }
}

/// A whole number from the environment, at least `min`.
pub fn number_env(name: &str, default: u64, min: u64) -> Result<u64, String> {
    match env(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(format!(
                "{name} must be a whole number of at least {min}, not {v:?}"
            )),
        },
    }
}
