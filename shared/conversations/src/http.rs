//! The one mapping of conversation errors to HTTP responses.

use crate::ConversationError;
use thanotopolis_service::ApiError;

impl From<ConversationError> for ApiError {
    fn from(e: ConversationError) -> Self {
        let detail = e.to_string();
        match e {
            ConversationError::NotFound
            | ConversationError::MessageNotFound
            | ConversationError::MemberNotFound => ApiError::NotFound(detail),
            ConversationError::NotMember | ConversationError::NotManager(_) => {
                ApiError::Forbidden(detail)
            }
            ConversationError::MessageIdTaken | ConversationError::Conflict => {
                ApiError::Conflict(detail)
            }
            ConversationError::Invalid { field, message } => {
                ApiError::invalid(&["body", field], message)
            }
            ConversationError::Store(e) => e.into(),
        }
    }
}
