//! The local stack: every function's HTTP handler in one process on
//! 127.0.0.1, on the embedded store (one SQLite file), with the ledger
//! projector running beside them, and a development token issuer.
//!
//! Identity takes the same path as on AWS: a verified token becomes the API
//! Gateway authorizer context the handlers read. Locally the issuer is this
//! stack, signing HS256 tokens with a key it keeps in the data directory.

use std::path::{Path, PathBuf};

mod app;
mod backend;
pub mod events_out;
mod files;
mod inboxes;
mod openapi;
mod projector;
mod queues;
mod sandbox;
mod start;
mod tokens;
pub mod web;
pub use events_out::EventsOut;

pub use backend::{AWS_PROJECTOR_CHECKPOINT, Backend};
pub use files::download_link_secret;
pub use inboxes::{reports_inbox, sepa_status_inbox};
pub use openapi::openapi_document;
pub use projector::{
    MATURE_EVERY_MS, PROJECTOR_BATCH, PROJECTOR_IDLE_MS, PROJECTOR_RETRY_MS, Workers, run_projector,
};
pub use queues::*;
pub use sandbox::sandbox_webhook_secret;
pub use start::{Running, local_processors, start, start_full, start_with};
pub use tokens::{DevClaims, TokenArgs, mint_token, signing_key};

/// Who issues development tokens.
pub const DEV_ISSUER: &str = "local-stack";
/// How long a development token lives, in seconds.
pub const TOKEN_TTL_SECONDS: i64 = 12 * 3600;
/// The roles a development token may carry.
pub const ROLES: [&str; 5] = lambda_edge::authz::role::ALL;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Store(#[from] event_store::StoreError),
    #[error("role {0:?} is not one of {ROLES:?}")]
    UnknownRole(String),
    #[error("the affiliate role needs --affiliate")]
    AffiliateMissing,
    #[error("token: {0}")]
    Token(String),
}

/// Where the stack keeps its data.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ledger.sqlite")
}
