//! AWS SDK configuration, built once per process. TLS goes through one rustls + ring client
//! (aws-lc, the SDK default, costs minutes of C compile on a cold build).

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// The standard AWS configuration chain (region, credentials, `AWS_ENDPOINT_URL_*`) with the
/// shared HTTP client, for callers that adjust it before loading.
pub fn loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https(),
    )
}

/// The standard AWS configuration, loaded once per process: every client built from it (the
/// tables, the WebSocket management API) shares one HTTP client, so one connection pool and
/// one parse of the trusted root certificates per cold start.
pub async fn sdk_config() -> SdkConfig {
    static LOADED: tokio::sync::OnceCell<SdkConfig> = tokio::sync::OnceCell::const_new();
    LOADED.get_or_init(|| loader().load()).await.clone()
}

/// Installs ring as the process's TLS crypto provider for the other HTTP clients (reqwest is
/// built without a bundled one: aws-lc costs minutes of C compile). Every process that builds
/// a reqwest client calls this first; calling it again is harmless (the first provider stays).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
