//! Reports this product writes for people outside it, immutable in S3 (or
//! a local directory): affiliate statements per period, and reconciliation
//! of processor reports against the ledger with a trial balance.
//!
//! - [`statement`]: one statement, built and checked (it must tie to the
//!   ledger), rendered as CSV and JSON;
//! - [`statements`]: generating a tenant's statements for a period, storing
//!   them as immutable versions, listing them;
//! - [`reconcile`]: matching processor reports (Stripe, PayPal STL,
//!   camt.053, read by the processors' own parsers behind the port of
//!   `ledger_app::reports`) with paid payout items, writing the report and
//!   recording every mismatch as an event;
//! - [`trial`]: the trial balance of a tenant per currency.

/// A small paid ledger for tests and benchmarks; compiled only with the
/// `test-support` feature.
#[cfg(feature = "test-support")]
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

/// A use case's failure, as a report's.
pub(crate) fn app(e: ledger_app::AppError) -> ReportError {
    ReportError::Invalid(e.to_string())
}

/// How long a statement download link works.
pub const DOWNLOAD_LINK_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Where statements and reconciliation reports are kept, how they are
/// downloaded, and each tenant's time zone.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    pub files: file_store::FileStore,
    /// Links for a local directory (the local stack); S3 presigns instead.
    pub links: Option<file_store::LocalLinks>,
    pub time_zones: statement::TimeZones,
}

impl ReportFiles {
    /// S3 when `REPORTS_BUCKET` is set (with `STATEMENT_TIME_ZONE` and
    /// `TENANT_TIME_ZONES`); `None` when it is not. The SDK configuration
    /// is the function's, loaded once.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Option<Self>, String> {
        let Ok(bucket) = std::env::var("REPORTS_BUCKET") else {
            return Ok(None);
        };
        Ok(Some(ReportFiles {
            files: file_store::FileStore::S3 {
                client: file_store::s3_client(config),
                bucket,
            },
            links: None,
            time_zones: statement::TimeZones::from_env()?,
        }))
    }
}
