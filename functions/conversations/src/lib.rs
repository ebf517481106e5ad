//! The conversations API (contract §8, with §8.3 create semantics): conversations in the
//! caller's tenant, their members, agents, e-mail participants and messages. The rules live
//! in `thanotopolis-conversations`; these routes parse and shape.

mod routes;

use axum::routing::{delete, get, post};
use axum::Router;
use routes::{agents, conversations as conv, export, listing, messages, participants, sockets};
use std::sync::Arc;
use thanotopolis_agent_runtime::RealtimeState;
use thanotopolis_conversations::{self as conversations, ConversationRecord, ConversationStatus};
use thanotopolis_service::openapi;
use thanotopolis_service::{ApiResult, AppState};
use thanotopolis_tenant_auth::Caller;
use uuid::Uuid;

/// How many of the newest messages a conversation response carries; the full history is the
/// messages route's job.
pub const RECENT_MESSAGES: u32 = 50;

/// Largest page of the conversation list.
const MAX_PAGE_SIZE: usize = 100;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        components(schemas(ConversationStatus)),
        paths(
            listing::list,
            conv::create,
            listing::search,
            conv::by_id,
            conv::update,
            conv::remove,
            messages::list_messages,
            messages::post_message,
            messages::clear_messages,
            messages::message,
            messages::delete_message,
            agents::agents,
            agents::attach_agent,
            agents::detach_agent,
            participants::add_participant,
            participants::remove_member,
            export::export,
            export::stats,
            sockets::active_users,
            sockets::websocket_stats,
            sockets::ws_stats,
        )
    )]
    struct Doc;
    openapi::part(
        <Doc as utoipa::OpenApi>::openapi(),
        "conversations",
        &[("/api/conversations/", "/api/conversations")],
    )
}

/// The conversations routes. `replies` runs the agent pipeline for messages posted over REST
/// (posting to open sockets); `None` stores messages without replies.
pub fn router(state: AppState, replies: Option<Arc<RealtimeState>>) -> Router {
    Router::new()
        .route("/api/conversations", get(listing::list).post(conv::create))
        .route("/api/conversations/", get(listing::list).post(conv::create))
        .route("/api/conversations/search", get(listing::search))
        .route(
            "/api/conversations/{id}",
            get(conv::by_id).patch(conv::update).delete(conv::remove),
        )
        .route(
            "/api/conversations/{id}/messages",
            get(messages::list_messages)
                .post(messages::post_message)
                .delete(messages::clear_messages),
        )
        .route(
            "/api/conversations/{id}/messages/{message_id}",
            get(messages::message).delete(messages::delete_message),
        )
        .route(
            "/api/conversations/{id}/agents",
            get(agents::agents).post(agents::attach_agent),
        )
        .route(
            "/api/conversations/{id}/agents/{agent_id}",
            delete(agents::detach_agent),
        )
        .route(
            "/api/conversations/{id}/participants",
            post(participants::add_participant),
        )
        .route(
            "/api/conversations/{id}/participants/{user_id}",
            delete(participants::remove_member),
        )
        .route("/api/conversations/{id}/export", get(export::export))
        .route("/api/conversations/{id}/stats", get(export::stats))
        .route(
            "/api/conversations/{id}/active-users",
            get(sockets::active_users),
        )
        .route("/api/websocket/stats", get(sockets::websocket_stats))
        .route("/api/ws/stats", get(sockets::ws_stats))
        .layer(axum::Extension(Replies(replies)))
        .with_state(state)
}

/// The agent pipeline for REST-posted messages, if this deployment has one.
#[derive(Clone)]
pub(crate) struct Replies(pub(crate) Option<Arc<RealtimeState>>);

/// The conversation in the path, if the caller is an active member.
pub(crate) async fn open(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<ConversationRecord> {
    Ok(conversations::open(state.stores.main.as_ref(), caller, id).await?)
}
