//! Structured logs. Inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) every line is JSON so
//! CloudWatch Logs Insights can query fields; elsewhere they are human-readable.
//! `RUST_LOG` filters by level and target (`warn`, `info,thanotopolis_store=debug`; default
//! `info`). Never log secrets, tokens or passwords.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `RUST_LOG` as level and target directives. `Targets` rather than `EnvFilter`: the same
/// syntax for levels and targets without a regex engine in every function's binary.
fn filter() -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

pub fn init() {
    let registry = tracing_subscriber::registry().with(filter());
    let result = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .without_time()
                    .with_ansi(false),
            )
            .try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer()).try_init()
    };
    // A second initialisation (tests, or a host that set its own subscriber) keeps the first.
    drop(result);
}

/// Gives a request without an id (no Lambda context, no `X-Request-ID`) a new one in its
/// `X-Request-ID` header, before [`request_spans`]: its log span and its audit entries then
/// name the same id. Layered outside the spans.
pub async fn ensure_request_id(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let has_id = req.extensions().get::<lambda_http::Context>().is_some()
        || req.headers().contains_key("x-request-id");
    if !has_id {
        if let Ok(id) = axum::http::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            req.headers_mut().insert("x-request-id", id);
        }
    }
    next.run(req).await
}

/// One span per HTTP request, carrying `request_id` (Lambda's, else `x-request-id`, else a new
/// one), method and path; the auth extractor records `tenant_id` and `user_id` into it once the
/// caller is known, so every log line of the request carries them. Completion is logged once,
/// with status and latency.
pub fn request_spans() -> tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    impl Fn(&axum::http::Request<axum::body::Body>) -> tracing::Span + Clone,
> {
    tower_http::trace::TraceLayer::new_for_http().make_span_with(
        |req: &axum::http::Request<axum::body::Body>| {
            let request_id = crate::request_id(req.extensions(), req.headers()).unwrap_or_default();
            tracing::info_span!(
                "request",
                %request_id,
                method = %req.method(),
                path = %req.uri().path(),
                tenant_id = tracing::field::Empty,
                user_id = tracing::field::Empty,
            )
        },
    )
}
