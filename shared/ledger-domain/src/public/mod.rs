//! Public events: the contract other systems receive (tenant webhooks, the
//! event bus on AWS, the local stack's server-sent events).
//!
//! Internal events are the ledger's own record and change with it; public
//! events are a documented, versioned shape derived from them, with their
//! own types, so an internal change never breaks a receiver. Each public
//! type's `data` has a JSON Schema generated from the structs below
//! (`events/schemas/`), and a change must stay backward compatible or
//! raise [`PUBLIC_EVENT_VERSION`].
//!
//! One internal event gives zero or more public events (a drafted batch
//! that nets clawbacks also gives one `receivable.netted` per item). Each
//! has an id derived from the tenant, stream, version and its index, so
//! the same event always has the same id: receivers deduplicate on it.

mod data;
mod envelope;
mod mapping;

pub use data::{
    Amount, CommissionAdjustedData, CommissionMaturedData, CommissionRecordedData,
    CommissionReversedData, PayoutBatchApprovedData, PayoutBatchDraftedData,
    PayoutBatchRejectedData, PayoutItemData, PayoutItemOutcomeData, PayoutItemSubmittedData,
    ReceivableNettedData, ReceivableOpenedData, ReconciliationMismatchFoundData,
    StatementPublishedData,
};
pub use envelope::{
    PUBLIC_EVENT_TYPES, PUBLIC_EVENT_VERSION, PublicEvent, is_public_type, public_event_id,
};
pub use mapping::public_events;
