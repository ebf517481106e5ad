//! Structured logs. Inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) every line is JSON so
//! CloudWatch Logs Insights can query fields; elsewhere they are human-readable.
//! `RUST_LOG` filters (default `info`). Never log secrets, tokens or passwords.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder
            .json()
            .with_current_span(true)
            .without_time()
            .with_ansi(false)
            .try_init()
    } else {
        builder.try_init()
    };
    // A second initialisation (tests, or a host that set its own subscriber) keeps the first.
    drop(result);
}
