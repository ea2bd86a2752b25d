//! Finance reads of one tenant: its payout batches (awaiting approval
//! first), its liabilities per currency (now, or as of a past instant), and
//! both as CSV exports safe to open in a spreadsheet.
//!
//! | route | who |
//! |---|---|
//! | `GET /v1/payout-batches?status=&limit=&after=` | finance, admin |
//! | `GET /v1/payout-batches/{id}/export.csv` | finance, admin |
//! | `GET /v1/liabilities?as_of=` | finance, admin |
//! | `GET /v1/liabilities/export.csv?as_of=` | finance, admin |
//!
//! The tenant always comes from the verified identity: another tenant's
//! batch is never listed, and exporting it is a 404.

pub(crate) mod batches;
pub(crate) mod exports;
pub(crate) mod liabilities;

pub use batches::{BATCH_PAGE_DEFAULT, BATCH_PAGE_MAX, BATCH_SCAN_MAX};
pub use exports::text_cell;
// The guarded CSV writer, shared with the affiliates' journal export.
pub(crate) use exports::{Cell, csv_bytes, csv_response};

// The router's handlers; the OpenAPI list names each in its own module,
// beside the path item `#[utoipa::path]` generates for it.
pub(crate) use batches::list_batches;
pub(crate) use exports::{export_batch, export_liabilities};
pub(crate) use liabilities::liabilities;
