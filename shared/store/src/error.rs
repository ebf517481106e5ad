use thiserror::Error;

pub type StoreResult<T> = Result<T, StoreError>;

/// What can go wrong in storage, typed so callers never parse messages.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum StoreError {
    /// A single write's condition did not hold.
    #[error("condition failed")]
    ConditionFailed,
    /// A transaction was cancelled because the conditions of these writes (indexes into the
    /// submitted list) did not hold. Nothing was written.
    #[error("transaction cancelled: conditions failed for writes {failed:?}")]
    TransactionCanceled { failed: Vec<usize> },
    /// A concurrent transaction touched the same items; nothing was written, retrying may succeed.
    #[error("transaction conflict")]
    TransactionConflict,
    /// An item is over DynamoDB's 400 KB limit.
    #[error("item too large: {bytes} bytes")]
    TooLarge { bytes: usize },
    /// An attribute nests lists and maps deeper than DynamoDB's 32 levels.
    #[error("item nested too deeply: {depth} levels")]
    TooDeep { depth: usize },
    /// A query cursor that this query did not issue (malformed, or another query's).
    #[error("invalid cursor")]
    BadCursor,
    /// The table (or index) does not exist.
    #[error("table not found: {0}")]
    NotFound(String),
    /// The request itself is malformed: bad cursor, too many writes, a key that is not a string.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The backend cannot be reached or is throttling; retrying later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored item does not read as the record it should be (written by an older version,
    /// or damaged).
    #[error("unreadable stored record: {0}")]
    Unreadable(String),
}
