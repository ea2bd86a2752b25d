//! The SEPA status files' old path: they are read in [`crate::sepa::status`]
//! and turned into notices in [`crate::sepa::notices`].

pub use crate::sepa::notices::{QuarantinedStatusFile, status_notices};
pub use crate::sepa::status::{
    OriginalGroup, STATUS_FILE_BYTES_MAX, StatusFile, StatusFileRejection, StatusKind, StatusLine,
    read_status_file,
};
