//! The WebSocket side of Thanotopolis, as API Gateway WebSocket routes.
//!
//! API Gateway holds the sockets; this function only sees events: `$connect` (may refuse the
//! handshake by answering non-200), `$disconnect` (best effort: AWS may never send it) and
//! `$default` (one client frame). It answers clients by posting through the API Gateway
//! management API ([`Poster`]). Every live socket has a row in the connections table with a TTL,
//! so nothing depends on `$disconnect` arriving.

mod connections;
mod frames;
mod poster;

pub use frames::{ClientFrame, ServerFrame};
pub use poster::{ManagementEndpoint, PostError, Poster};

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use thanotopolis_service::AppState;

/// API Gateway's largest WebSocket message.
pub const MAX_FRAME_BYTES: usize = 128 * 1024;

/// What the WebSocket routes need, built once per cold start.
pub struct RealtimeState {
    pub app: AppState,
    pub poster: Poster,
}

impl RealtimeState {
    pub fn new(app: AppState, sdk: &aws_config::SdkConfig, endpoint: ManagementEndpoint) -> Self {
        RealtimeState {
            app,
            poster: Poster::new(sdk, endpoint),
        }
    }
}

/// Handles one API Gateway WebSocket event. Never fails: errors become status codes (for
/// `$connect`) or `error` frames (for client frames), and are logged here.
pub async fn handle(
    state: &RealtimeState,
    event: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let ctx = &event.request_context;
    let Some(connection_id) = ctx.connection_id.clone() else {
        return response(400, "missing connection id");
    };
    let route = ctx.route_key.as_deref().unwrap_or("$default");
    match route {
        "$connect" => match connections::register(&state.app, &connection_id).await {
            Ok(()) => response(200, ""),
            Err(e) => {
                tracing::error!(%connection_id, error = %e, "cannot register connection");
                response(500, "")
            }
        },
        "$disconnect" => {
            if let Err(e) = connections::forget(&state.app, &connection_id).await {
                tracing::warn!(%connection_id, error = %e, "cannot delete connection row");
            }
            response(200, "")
        }
        _ => {
            let reply = match frames::parse(event.body.as_deref()) {
                Ok(ClientFrame::Ping) => ServerFrame::pong(),
                Ok(ClientFrame::Unknown) => ServerFrame::error("Unknown message type"),
                Err(detail) => ServerFrame::error(detail),
            };
            let endpoint = (ctx.domain_name.as_deref(), ctx.stage.as_deref());
            match state.poster.post(endpoint, &connection_id, &reply).await {
                Ok(()) => {}
                Err(PostError::Gone) => {
                    if let Err(e) = connections::forget(&state.app, &connection_id).await {
                        tracing::warn!(%connection_id, error = %e, "cannot delete gone connection");
                    }
                }
                Err(PostError::Failed(e)) => {
                    tracing::warn!(%connection_id, error = %e, "post to connection failed");
                }
            }
            response(200, "")
        }
    }
}

fn response(status: i64, body: &str) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = status;
    if !body.is_empty() {
        r.body = Some(Body::Text(body.to_string()));
    }
    r
}
