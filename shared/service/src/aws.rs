//! AWS SDK configuration from the environment Lambda gives every function: `AWS_REGION` and
//! the execution role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
//! Not aws-config: its provider chain (profiles, SSO, STS web identity, instance metadata) is
//! code and cold-start work a function never uses. TLS goes through one rustls + ring client
//! (aws-lc, the SDK default, costs minutes of C compile on a cold build).

use crate::config::env;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::SystemTimeSource;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_types::sdk_config::RetryConfig;
use aws_types::SdkConfig;

/// An SDK configuration for `region` and `credentials`, with the shared HTTP client.
pub fn sdk_config_with(region: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        )
        .sleep_impl(TokioSleep::new())
        .time_source(SystemTimeSource::new())
        .retry_config(RetryConfig::standard())
        .build()
}

/// The configuration from the environment, built once per process: every client made from it
/// (the tables, the WebSocket management API) shares one HTTP client, so one connection pool
/// and one parse of the trusted root certificates per cold start. Missing settings are an
/// error here, at cold start, rather than on the first request.
pub fn sdk_config() -> Result<SdkConfig, String> {
    static LOADED: std::sync::OnceLock<Result<SdkConfig, String>> = std::sync::OnceLock::new();
    LOADED
        .get_or_init(|| {
            let region = env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .ok_or("AWS_REGION is not set")?;
            let (Some(key), Some(secret)) =
                (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
            else {
                return Err(
                    "AWS credentials are not set (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, \
                            and AWS_SESSION_TOKEN for temporary ones)"
                        .into(),
                );
            };
            let credentials =
                Credentials::new(key, secret, env("AWS_SESSION_TOKEN"), None, "environment");
            Ok(sdk_config_with(&region, credentials))
        })
        .clone()
}

/// Installs ring as the process's TLS crypto provider for the other HTTP clients (reqwest is
/// built without a bundled one: aws-lc costs minutes of C compile). Every process that builds
/// a reqwest client calls this first; calling it again is harmless (the first provider stays).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
