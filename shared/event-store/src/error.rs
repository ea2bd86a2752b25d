//! The store's errors, as business facts.

/// Everything that can go wrong with the store, as business facts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("stream {stream} is at version {actual}, not the expected {expected}")]
    VersionConflict {
        stream: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "idempotency key {key:?} of {stream} was used for another request (stored hash {stored_hash}, this request {request_hash})"
    )]
    IdempotencyConflict {
        /// The stream the key belongs to, or for a request's key its scope
        /// (`tenant/operation`).
        stream: String,
        key: String,
        stored_hash: String,
        request_hash: String,
    },
    #[error("{what} is {got}; the limit is {limit}")]
    LimitExceeded {
        what: String,
        got: usize,
        limit: usize,
    },
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("event {stream}@{version} cannot be read: {reason}")]
    CorruptEvent {
        stream: String,
        version: u64,
        reason: String,
    },
    #[error("cursor {cursor:?} is not valid for this store: {reason}")]
    InvalidCursor { cursor: String, reason: String },
    #[error("the store is busy (throttled or contended) after {attempts} attempts: {detail}")]
    Busy { attempts: u32, detail: String },
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store cannot do this at all in this build or configuration;
    /// retrying does not help.
    #[error("not supported by this store: {0}")]
    Unsupported(String),
}

impl StoreError {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Busy { .. } | StoreError::Unavailable(_))
    }
}
