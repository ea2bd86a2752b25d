//! Payout use cases: profiles, drafting, approval, and dispatch through
//! processor ports.
//!
//! Drafting reads balances from the projection, which lags the events. Two
//! things keep it from reserving the same money twice:
//! - every drafted batch is registered in the tenant's `payout-drafts`
//!   stream, in the same transaction, at the sequence number the projection
//!   says it has applied. If a drafted batch is not projected yet, or
//!   another draft registered first, the append fails on the stream
//!   version and nothing is written;
//! - within one run, each (affiliate, currency) is read once.
//!
//! Nor from balances that miss an event: while the projection has parked
//! one of the tenant's events (could not project it and set it aside, see
//! `PayoutReads::parked_events`), drafting refuses with
//! `AppError::ProjectionParked`.
//!
//! Dispatch never pays an item twice: an item already submitted is not
//! submitted again, every processor call carries the item's idempotency
//! key, and an unknown outcome (timeout, 5xx) is resolved by asking the
//! processor before any retry.

mod approve;
mod batches;
mod dispatch;
mod draft;
mod memory_queue;
mod notice;
mod overdue;
mod poll;
mod ports;
mod profile;

pub use approve::{approve, approve_batch, enqueue_awaiting};
pub use batches::load_batch;
pub use dispatch::{DISPATCH_LEASE_SECONDS, DispatchError, Dispatched, dispatch_item};
pub use draft::{
    DraftOptions, DraftReport, DraftedBatchSummary, SKIPS_PER_EVENT_MAX, draft_batch,
    draft_payouts, drafts_sequence,
};
pub use memory_queue::MemoryQueue;
pub use notice::{NoticeRecorded, ProcessorNotice, UNMATCHED_TENANT, record_notice};
pub use overdue::{OverdueItem, business_days_between, overdue_file_items};
pub use poll::{PollReport, poll_stale_items};
pub use ports::{
    DispatchMessage, DispatchQueue, FetchPaymentStatus, PaymentOrder, PaymentStatus,
    ProcessorError, ProcessorPorts, ProcessorRegistry, RegistryRef, SubmitBatchFile, SubmitPayment,
    TenantProcessors,
};
pub use profile::{change_profile, load_profile};
