//! Reports this product writes for people outside it, immutable in S3 (or
//! a local directory): affiliate statements per period, and reconciliation
//! of processor reports against the ledger with a trial balance.
//!
//! - [`statement`]: one statement, built and checked (it must tie to the
//!   ledger), rendered as CSV and JSON;
//! - [`statements`]: generating a tenant's statements for a period, storing
//!   them as immutable versions, listing them;
//! - [`reconcile`]: parsing Stripe, PayPal and camt.053 reports, matching
//!   them with paid payout items, writing the report and recording every
//!   mismatch as an event;
//! - [`trial`]: the trial balance of a tenant per currency.

pub mod fixture;
pub mod reconcile;
pub mod statement;
pub mod statements;
pub mod trial;

/// Why a report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] event_store::StoreError),
    #[error(transparent)]
    Files(#[from] file_store::FileStoreError),
    #[error(transparent)]
    Statement(#[from] statement::StatementError),
    #[error("{0}")]
    Contended(String),
    #[error("{0}")]
    Invalid(String),
}
