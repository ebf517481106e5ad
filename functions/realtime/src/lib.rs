//! The WebSocket side of Thanotopolis, as API Gateway WebSocket routes.
//!
//! API Gateway holds the sockets; this function only sees events: `$connect` (authenticates
//! the `token` and requires active membership of `conversation_id`, else refuses the
//! handshake), `$disconnect` (best effort: AWS may never send it) and `$default` (one client
//! frame). It answers by posting through the API Gateway management API ([`Poster`]). Every
//! live socket has a row in the connections table with a TTL, so nothing depends on
//! `$disconnect` arriving. This crate only routes events; what a message sets off (the agent
//! pipeline, fan-out, the frames) lives in `thanotopolis-agent-runtime`.

pub use thanotopolis_agent_runtime::{
    frames, ManagementEndpoint, PostError, Poster, RealtimeState, MAX_FRAME_BYTES, MAX_IN_FLIGHT,
};
pub use thanotopolis_conversations::presence::CONNECTION_LIFETIME_SECS;

mod client_frames;

use client_frames::on_frame;
use thanotopolis_agent_runtime::{fanout, EventEndpoint};

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use thanotopolis_conversations::presence::{self as connections, Connection, Person};
use thanotopolis_conversations::{self as conversations, ConversationError};
use thanotopolis_service::ApiError;
use thanotopolis_tenant_auth::Caller;
use uuid::Uuid;

/// How many recent messages a `history` request returns.
pub const HISTORY_MESSAGES: u32 = 50;

/// Handles one API Gateway WebSocket event. Never fails: errors become status codes (for
/// `$connect`) or `error` frames (for client frames), and are logged here.
pub async fn handle(
    state: &RealtimeState,
    event: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    use tracing::Instrument;
    let ctx = &event.request_context;
    let span = tracing::info_span!(
        "websocket",
        request_id = ctx.request_id.as_deref().unwrap_or_default(),
        route = ctx.route_key.as_deref().unwrap_or("$default"),
        connection_id = ctx.connection_id.as_deref().unwrap_or_default(),
        tenant_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
    );
    handle_event(state, event).instrument(span).await
}

async fn handle_event(
    state: &RealtimeState,
    event: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let ctx = &event.request_context;
    let Some(connection_id) = ctx.connection_id.clone() else {
        return response(400, "missing connection id");
    };
    let endpoint = EventEndpoint::new(ctx.domain_name.clone(), ctx.stage.clone());
    match ctx.route_key.as_deref().unwrap_or("$default") {
        "$connect" => {
            let param = |name: &str| {
                event
                    .query_string_parameters
                    .first(name)
                    .map(str::to_string)
            };
            match connect(
                state,
                &endpoint,
                &connection_id,
                param("token"),
                param("conversation_id"),
            )
            .await
            {
                Ok(()) => response(200, ""),
                Err(e) => {
                    tracing::info!(%connection_id, reason = %e, "connection refused");
                    response(i64::from(e.status().as_u16()), &e.to_string())
                }
            }
        }
        "$disconnect" => {
            disconnect(state, &endpoint, &connection_id).await;
            response(200, "")
        }
        _ => {
            let body = if event.is_base64_encoded {
                None
            } else {
                event.body.as_deref()
            };
            if let Err(e) = on_frame(state, &endpoint, &connection_id, body).await {
                tracing::warn!(%connection_id, error = %e, "frame failed");
                let content = match &e {
                    ApiError::Internal(_) | ApiError::ServiceUnavailable(_) => {
                        "Failed to process message".to_string()
                    }
                    ApiError::Validation(errors) => errors
                        .first()
                        .map(|f| f.msg.clone())
                        .unwrap_or_else(|| "Invalid message".into()),
                    other => other.to_string(),
                };
                fanout::send(state, &endpoint, &connection_id, &frames::error(&content)).await;
            }
            response(200, "")
        }
    }
}

async fn connect(
    state: &RealtimeState,
    endpoint: &EventEndpoint,
    connection_id: &str,
    token: Option<String>,
    conversation_id: Option<String>,
) -> Result<(), ApiError> {
    let token = token.ok_or_else(|| ApiError::unauthorized("Not authenticated"))?;
    let caller = Caller::from_access_token(&state.app, &token)
        .await
        .map_err(|e| match e {
            ApiError::BadRequest(m) => ApiError::forbidden(m),
            other => other,
        })?;
    let conversation_id: Uuid = conversation_id
        .as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::bad_request("conversation_id is required"))?;
    let conversation =
        conversations::open(state.app.stores.main.as_ref(), &caller, conversation_id)
            .await
            .map_err(|e| match e {
                // Another tenant's conversation, or none: the same refusal as not being a member.
                ConversationError::NotFound => ConversationError::NotMember.into(),
                other => ApiError::from(other),
            })?;
    let person = Person::of(caller.user());
    let now = frames::now();
    let row = Connection {
        connection_id: connection_id.to_string(),
        tenant_id: caller.scope().tenant_id(),
        conversation_id: conversation.id,
        user: person.clone(),
        session_id: caller.session_id(),
        connected_at: now.clone(),
        last_seen_at: now,
        kept_alive_at: None,
        expires_at: thanotopolis_tenant_auth::now_epoch() + CONNECTION_LIFETIME_SECS,
    };
    connections::register(&state.app, &row).await?;
    // API Gateway cannot deliver to the connecting socket inside $connect: tell the others.
    let joined = frames::presence("user_joined", &person);
    fanout::broadcast(
        state,
        endpoint,
        conversation.id,
        Some(connection_id),
        |_| joined.clone(),
    )
    .await?;
    Ok(())
}

async fn disconnect(state: &RealtimeState, endpoint: &EventEndpoint, connection_id: &str) {
    let row = match connections::load(&state.app, connection_id).await {
        Ok(row) => row,
        Err(e) => {
            tracing::warn!(%connection_id, error = %e, "cannot read connection row");
            None
        }
    };
    if let Err(e) = connections::forget(&state.app, connection_id).await {
        tracing::warn!(%connection_id, error = %e, "cannot delete connection row");
    }
    if let Some(row) = row {
        let left = frames::presence("user_left", &row.user);
        if let Err(e) = fanout::broadcast(
            state,
            endpoint,
            row.conversation_id,
            Some(connection_id),
            |_| left.clone(),
        )
        .await
        {
            tracing::warn!(%connection_id, error = %e, "cannot announce user_left");
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
