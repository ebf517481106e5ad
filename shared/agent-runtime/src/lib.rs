//! The live side of conversations, shared by the WebSocket function (`functions/realtime`) and
//! the REST conversations function (a message posted over REST is answered the same way):
//!
//! - [`pipeline`]: which agent answers a message, its reply streamed token by token to every
//!   socket, stored once, its model usage metered;
//! - [`fanout`]: frames to a conversation's live sockets (never to an inactive user), through
//!   the management API's [`Poster`];
//! - [`frames`]: the WebSocket protocol's frames, both ways.
//!
//! It knows sockets only as connection rows and management-API posts; API Gateway events are
//! the WebSocket function's business.

mod error;
pub mod fanout;
pub mod frames;
pub mod guard;
pub mod memory;
pub mod pipeline;
pub mod routing;
pub mod stream;
pub mod tools;

pub use error::ReplyError;
pub use fanout::MAX_IN_FLIGHT;
pub use thanotopolis_sockets::{ManagementEndpoint, PostError, Poster};

use thanotopolis_conversations as conversations;
use thanotopolis_service::AppState;
use thanotopolis_tenant_auth::Caller;

/// API Gateway's largest WebSocket message.
pub const MAX_FRAME_BYTES: usize = 128 * 1024;

/// What the live side needs, built once per cold start.
pub struct RealtimeState {
    pub app: AppState,
    pub poster: Poster,
    /// The language model, when one is configured.
    pub llm: Option<thanotopolis_llm::LlmClient>,
    pub agents: AgentSettings,
}

/// How agents reply: their tools' services and the pipeline's time limits.
#[derive(Clone, Debug)]
pub struct AgentSettings {
    pub tools: tools::ToolSettings,
    /// How long the moderator may take before the keyword fallback routes instead.
    pub moderator_timeout: std::time::Duration,
    /// How long a supporting agent may take before the reply goes on without it.
    pub supporting_timeout: std::time::Duration,
    /// At most one `token` frame per socket this often (the first goes at once).
    pub token_interval: std::time::Duration,
}

impl Default for AgentSettings {
    /// No tool services; the documented limits (5 s, 30 s, 50 ms).
    fn default() -> Self {
        AgentSettings {
            tools: tools::ToolSettings::default(),
            moderator_timeout: std::time::Duration::from_secs(5),
            supporting_timeout: std::time::Duration::from_secs(30),
            token_interval: std::time::Duration::from_millis(50),
        }
    }
}

impl AgentSettings {
    /// The defaults, with the tool services configured in the environment (`TAVILY_API_KEY`,
    /// `TAVILY_BASE_URL`) and `THANOTOPOLIS_TOKEN_INTERVAL_MS` (10 to 2,000; the cadence of
    /// token frames, which sets the @connections posts per reply: docs/capacity.md).
    pub fn from_env() -> Self {
        let defaults = AgentSettings::default();
        let token_interval = thanotopolis_service::config::env("THANOTOPOLIS_TOKEN_INTERVAL_MS")
            .and_then(|ms| match ms.parse::<u64>() {
                Ok(ms @ 10..=2000) => Some(std::time::Duration::from_millis(ms)),
                _ => {
                    tracing::warn!(value = %ms, "THANOTOPOLIS_TOKEN_INTERVAL_MS is not 10 to 2000; using 50");
                    None
                }
            })
            .unwrap_or(defaults.token_interval);
        AgentSettings {
            tools: tools::ToolSettings::from_env(),
            token_interval,
            ..defaults
        }
    }
}

impl RealtimeState {
    pub fn new(
        app: AppState,
        sdk: &aws_types::SdkConfig,
        endpoint: ManagementEndpoint,
        llm: Option<thanotopolis_llm::LlmClient>,
    ) -> Self {
        RealtimeState {
            app,
            poster: Poster::new(sdk, endpoint),
            llm,
            agents: AgentSettings::from_env(),
        }
    }

    /// The same state with other agent settings.
    pub fn with_agents(mut self, agents: AgentSettings) -> Self {
        self.agents = agents;
        self
    }
}

/// The API Gateway domain and stage an event came through (where to post answers).
pub struct EventEndpoint {
    domain: Option<String>,
    stage: Option<String>,
}

impl EventEndpoint {
    /// The endpoint of an event that came through `domain` and `stage`.
    pub fn new(domain: Option<String>, stage: Option<String>) -> Self {
        EventEndpoint { domain, stage }
    }

    pub fn as_pair(&self) -> (Option<&str>, Option<&str>) {
        (self.domain.as_deref(), self.stage.as_deref())
    }
}

/// Whether `caller` may post a message now (REST and WebSocket alike, before it is stored):
/// within the user's message rate, and, since every message asks the agents for an answer,
/// with the organization's AI budget not spent. Refused: nothing is stored.
pub async fn admit_message(
    app: &thanotopolis_service::AppState,
    caller: &Caller,
) -> Result<(), thanotopolis_usage::limits::LimitError> {
    thanotopolis_usage::limits::admit_message(
        app.stores.main.as_ref(),
        &caller.scope(),
        caller.tenant(),
        caller.user_id(),
        app.auth.messages_per_minute,
    )
    .await
}

/// Runs the agent pipeline for a message stored outside a WebSocket event (the REST
/// `POST …/messages`): frames go to the conversation's open sockets through the configured
/// management endpoint, and the reply is stored either way.
pub async fn reply_to_message(
    state: &RealtimeState,
    caller: &Caller,
    conversation: &conversations::ConversationRecord,
    message: &conversations::MessageRecord,
    mention: Option<String>,
) {
    let endpoint = EventEndpoint::new(None, None);
    pipeline::respond(state, &endpoint, caller, conversation, message, mention).await;
}
