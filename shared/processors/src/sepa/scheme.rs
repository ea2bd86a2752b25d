//! What the pain.001 writer and the readers of the files it wrote share:
//! the scheme's identifier rule and the file store's failures as the
//! processor port words them.

use ledger_app::payouts::ProcessorError;
use ledger_domain::profile::is_sepa_text;
use sha2::{Digest, Sha256};

/// The longest identifier (MsgId, PmtInfId, EndToEndId) the scheme allows.
pub const SEPA_ID_LEN_MAX: usize = 35;

/// A scheme identifier: the value itself if it fits, else a stable digest.
pub fn sepa_id(value: &str) -> String {
    if value.len() <= SEPA_ID_LEN_MAX && is_sepa_text(value) && !value.contains(' ') {
        value.to_owned()
    } else {
        hex::encode(Sha256::digest(value.as_bytes()))[..SEPA_ID_LEN_MAX].to_owned()
    }
}

/// A file store failure: the outcome is unknown, so the caller retries.
pub(super) fn store_error(e: file_store::FileStoreError) -> ProcessorError {
    ProcessorError::Unknown(e.to_string())
}
