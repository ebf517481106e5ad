//! How an agent lookup fails, and the one mapping of that to HTTP.

use thanotopolis_service::ApiError;
use thanotopolis_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Absent, or not visible to the caller (which reads as absent).
    #[error("Agent not found")]
    NotFound,
    /// A built-in or free agent has this type, or the organization has an agent of it.
    #[error("Agent type already exists")]
    TypeTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type AgentResult<T> = Result<T, AgentError>;

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::NotFound => ApiError::NotFound(e.to_string()),
            AgentError::TypeTaken => ApiError::bad_request(e.to_string()),
            AgentError::Store(e) => e.into(),
        }
    }
}
