//! Why an agent could not reply. Each is told to the conversation as an `error` frame, in
//! these words; storage failures are told only as "Failed to process message" (the cause is
//! logged).

use thanotopolis_agents::AgentError;
use thanotopolis_conversations::ConversationError;
use thanotopolis_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error(
        "No language model is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL, OPENAI_MODEL)"
    )]
    NoProvider,
    #[error("No agent is available to answer in this conversation")]
    NoAgent,
    /// An explicitly chosen agent that does not serve this conversation.
    #[error("Agent {0} is not available in this conversation")]
    AgentNotAvailable(String),
    /// The language model failed (its own words, which never carry the key).
    #[error("{0}")]
    Provider(String),
    #[error("The language model returned an empty reply")]
    EmptyReply,
    #[error(transparent)]
    Conversation(#[from] ConversationError),
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The organization's AI budget for the month is spent (its words say until when).
    #[error(transparent)]
    Limit(#[from] thanotopolis_usage::limits::LimitError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReplyError {
    /// What the conversation is told.
    pub fn frame_text(&self) -> String {
        match self {
            ReplyError::Store(_)
            | ReplyError::Limit(thanotopolis_usage::limits::LimitError::Store(_))
            | ReplyError::Agent(AgentError::Store(_))
            | ReplyError::Conversation(ConversationError::Store(_)) => {
                "Failed to process message".into()
            }
            other => other.to_string(),
        }
    }
}
