//! AWS SDK configuration from the environment Lambda gives every function: `AWS_REGION` and
//! the execution role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
//! Not aws-config: its provider chain (profiles, SSO, STS web identity, instance metadata) is
//! code and cold-start work a function never uses. TLS goes through one rustls + ring client
//! (aws-lc, the SDK default, costs minutes of C compile on a cold build), which trusts only the
//! roots AWS endpoints chain to unless an endpoint is overridden: reading and parsing the
//! system's whole CA store was half of a function's cold start (docs/performance.md).

use crate::config::env;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::SystemTimeSource;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_types::sdk_config::RetryConfig;
use aws_types::SdkConfig;

/// The roots AWS service endpoints chain to (Amazon Trust Services and its Starfield
/// cross-signers), from Mozilla's CA store.
const AWS_ROOTS: &str = include_str!("aws-roots.pem");

/// Which certificate authorities the SDK's HTTP client trusts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Roots {
    /// Only those of AWS's own endpoints: what a function talks to in Lambda.
    Aws,
    /// The system's CA store, for endpoints that are not AWS's (overridden ones).
    System,
}

/// An SDK configuration for `region` and `credentials`, with the shared HTTP client.
pub fn sdk_config_with(region: &str, credentials: Credentials, roots: Roots) -> SdkConfig {
    let trust = match roots {
        Roots::Aws => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AWS_ROOTS),
        Roots::System => TrustStore::default(),
    };
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context from a trust store always builds");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .tls_context(tls)
                .build_https(),
        )
        .sleep_impl(TokioSleep::new())
        .time_source(SystemTimeSource::new())
        .retry_config(RetryConfig::standard())
        .build()
}

/// The configuration from the environment trusting `roots`, built once per process: every
/// client made from it (the tables, the WebSocket management API) shares one HTTP client, so
/// one connection pool and one set of trusted roots per cold start. Missing settings are an
/// error here, at cold start, rather than on the first request.
pub fn sdk_config(roots: Roots) -> Result<SdkConfig, String> {
    type Loaded = std::sync::OnceLock<Result<SdkConfig, String>>;
    static AWS: Loaded = std::sync::OnceLock::new();
    static SYSTEM: Loaded = std::sync::OnceLock::new();
    let slot = match roots {
        Roots::Aws => &AWS,
        Roots::System => &SYSTEM,
    };
    slot.get_or_init(|| {
        let region = env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .ok_or("AWS_REGION is not set")?;
        let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(
                "AWS credentials are not set (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, \
                        and AWS_SESSION_TOKEN for temporary ones)"
                    .into(),
            );
        };
        let credentials =
            Credentials::new(key, secret, env("AWS_SESSION_TOKEN"), None, "environment");
        Ok(sdk_config_with(&region, credentials, roots))
    })
    .clone()
}

/// Installs ring as the process's TLS crypto provider for the other HTTP clients (reqwest is
/// built without a bundled one: aws-lc costs minutes of C compile). Every process that builds
/// a reqwest client calls this first; calling it again is harmless (the first provider stays).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    #[test]
    fn the_aws_roots_are_six_valid_trust_anchors() {
        let certs = CertificateDer::pem_slice_iter(AWS_ROOTS.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("valid PEM");
        let mut roots = rustls::RootCertStore::empty();
        let (valid, invalid) = roots.add_parsable_certificates(certs);
        assert_eq!((valid, invalid), (6, 0));
    }
}
