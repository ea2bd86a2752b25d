//! Request idempotency: operations, scopes, records and fingerprints.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::{Appended, IdempotencyKey, OPERATION_LEN_MAX, StoreError};

/// The operation a request's idempotency key is scoped to, such as
/// `ingest.commissions`: 1 to [`OPERATION_LEN_MAX`] bytes of lower-case
/// ASCII letters, digits, `.`, `_` and `-`. One key may be used once per
/// operation: the same key on another route is another request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Operation(String);

impl Operation {
    pub fn new(value: impl Into<String>) -> Result<Self, StoreError> {
        let value = value.into();
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
        if value.is_empty() || value.len() > OPERATION_LEN_MAX || !value.chars().all(allowed) {
            return Err(StoreError::InvalidInput {
                field: "operation",
                reason: format!(
                    "{value:?} must be 1 to {OPERATION_LEN_MAX} lower-case ASCII letters, digits, . _ or -"
                ),
            });
        }
        Ok(Operation(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where one request's idempotency record lives: one record per tenant,
/// operation and key. The same key in another tenant, or for another
/// operation, is another request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyScope {
    pub tenant: ledger_domain::TenantId,
    pub operation: Operation,
    pub key: IdempotencyKey,
}

impl IdempotencyScope {
    pub fn new(tenant: ledger_domain::TenantId, operation: Operation, key: IdempotencyKey) -> Self {
        IdempotencyScope {
            tenant,
            operation,
            key,
        }
    }

    /// `tenant#operation#key`: unambiguous, since neither a tenant id nor an
    /// operation can contain `#`.
    pub fn record_id(&self) -> String {
        format!("{}#{}#{}", self.tenant, self.operation, self.key.as_str())
    }
}

/// `tenant/operation`, as conflicts name it.
impl fmt::Display for IdempotencyScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.operation)
    }
}

/// A request's idempotency record: which request (its scope), the
/// fingerprint of its facts, and what the caller answered the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub scope: IdempotencyScope,
    /// [`fingerprint`] of the request's facts, as the caller received them.
    pub request_hash: String,
    /// The caller's answer, opaque to the store (the callers keep a small
    /// JSON document), at most [`IDEMPOTENCY_ANSWER_BYTES_MAX`](crate::IDEMPOTENCY_ANSWER_BYTES_MAX) bytes.
    pub answer: String,
}

impl IdempotencyRecord {
    /// What finding `stored` under this record's scope means: the stored
    /// answer when the facts are the same, a conflict when they are not.
    pub fn replay(&self, stored: &IdempotencyRecord) -> Result<Once, StoreError> {
        if stored.request_hash == self.request_hash {
            return Ok(Once::Replayed(stored.answer.clone()));
        }
        Err(StoreError::IdempotencyConflict {
            stream: self.scope.to_string(),
            key: self.scope.key.as_str().to_owned(),
            stored_hash: stored.request_hash.clone(),
            request_hash: self.request_hash.clone(),
        })
    }
}

/// The fingerprint of a request's facts: SHA-256 (hex) of their canonical
/// serialisation, which the caller defines (the facts it was given, with
/// defaults it filled in from the clock left out).
pub fn fingerprint(canonical: &[u8]) -> String {
    sha256_hex(&[canonical])
}

/// What [`EventStore::append_once`](crate::EventStore::append_once) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Once {
    /// The appends and the record were written together.
    Written(Vec<Appended>),
    /// The same request was written before (or concurrently, and won):
    /// nothing was written now; this is the answer it stored.
    Replayed(String),
}

pub(crate) fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}
