//! How a command fails: a refused or invalid request, or a failure; and
//! the argument checks every command shares.

use ledger_domain::TenantId;

/// A refused or invalid request (exit 2), or a failure (exit 1).
pub(crate) enum Failure {
    Refused(String),
    Failed(String),
}

pub(crate) fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::Failed(e.to_string())
}

pub(crate) fn refused(e: impl std::fmt::Display) -> Failure {
    Failure::Refused(e.to_string())
}

/// `--tenant`, checked.
pub(crate) fn tenant(value: &str) -> Result<TenantId, Failure> {
    TenantId::new(value).map_err(|e| refused(format!("--tenant: {e}")))
}
