//! How a conversation operation fails, in the conversation's own terms; the wording is what
//! the frontend shows. `http.rs` is the one place these become HTTP statuses.

use thanotopolis_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    /// Absent, or another organization's (which reads as absent).
    #[error("Conversation not found")]
    NotFound,
    /// In the caller's organization, but the caller is not an active member.
    #[error("Access denied")]
    NotMember,
    /// The caller is a member, but neither its creator nor an org_admin; says what was refused
    /// ("delete it").
    #[error("Only the conversation's creator or an organization admin can {0}")]
    NotManager(&'static str),
    #[error("Message not found")]
    MessageNotFound,
    /// Not a member of the conversation (the user id of a removal).
    #[error("Member not found")]
    MemberNotFound,
    /// A client-chosen message id that another author's message already has.
    #[error("Message id already used")]
    MessageIdTaken,
    /// Changed concurrently, and still losing the race after retries.
    #[error("The conversation was changed concurrently; please retry")]
    Conflict,
    /// Input refused: which body field, and why.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type ConversationResult<T> = Result<T, ConversationError>;
