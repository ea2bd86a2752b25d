//! SEPA: everything this system exchanges with the bank, one file per job.
//!
//! - [`pain001`]: the pain.001.001.03 credit transfer file written per
//!   batch and currency (the payout adapter, [`SepaFiles`]);
//! - [`issued`]: those files read back (end-to-end ids, transfers, the
//!   message a status file names);
//! - [`status`]: the bank's pain.002 status reports and camt.054 debit
//!   notifications, read;
//! - [`notices`]: a status file checked against the message it answers and
//!   turned into notices, or quarantined whole;
//! - [`report`]: the camt.053 statement, the settlement report reconciled;
//! - `scheme`: the identifier rule the writer and the readers share;
//! - `xml`: the ISO 20022 element shapes the readers deserialize with serde.

pub mod issued;
pub mod notices;
pub mod pain001;
pub mod report;
mod scheme;
pub mod status;
mod xml;

pub use issued::{
    IssuedMessage, IssuedTransfer, batch_of_key, end_to_end_ids, issued_message, message_id_of,
    message_index_key, read_pain_001,
};
pub use pain001::{
    Debtor, FileStore, PAIN_001_NAMESPACE, Pain001, SEPA_ID_LEN_MAX, SepaFiles, pain_001, sepa_id,
};
pub use report::{Camt053Statement, parse_camt053};
