//! SEPA status files from the bank: pain.002 customer payment status
//! reports and camt.054 debit notifications. They come through the bank's
//! channel with no signature, so a file is believed only where it answers
//! a pain.001 this system wrote:
//!
//! - every original message id it names (`OrgnlMsgId`; camt.054
//!   `Refs/MsgId` or the batch's `MsgId`) is a message this system issued,
//!   read back from the payment files ([`crate::sepa::issued_message`]);
//! - every end-to-end id is a transfer of that message;
//! - every amount given matches the transfer's amount and currency (a
//!   camt.054 must give one; a pain.002 where it does), as do the
//!   original group's number of transactions and control sum, and the
//!   creditor IBAN where the file names it.
//!
//! A file that breaks any of these is rejected whole with the rule
//! ([`StatusFileRejection`]): nothing in it is recorded. Tenant and batch
//! come from the issued file, never from the status file's own text.
//!
//! Statuses: pain.002 `ACSC` paid, `RJCT` failed (reason code kept),
//! `ACCP`/`ACSP`/`ACWC` accepted (nothing to record yet); a group or
//! payment-information status `RJCT` fails every transfer the file does
//! not list on its own. camt.054: booked entries paid; entries with return
//! information returned; pending ones nothing yet.
//!
//! This file reads a status file; [`super::notices`] checks it against the
//! issued message and turns it into notices.

use std::collections::BTreeSet;

use ledger_domain::Money;
use serde::Serialize;

use super::issued::{currency_attribute, ends_with};

/// The largest status file read.
pub const STATUS_FILE_BYTES_MAX: usize = 20 * 1024 * 1024;

/// Which kind of status file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StatusKind {
    #[serde(rename = "pain.002")]
    Pain002,
    #[serde(rename = "camt.054")]
    Camt054,
}

/// One transaction as a status file reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusLine {
    /// The original message it answers.
    pub message_id: Option<String>,
    pub end_to_end_id: Option<String>,
    /// `TxSts` (pain.002) or the entry's `Sts` (camt.054).
    pub status: Option<String>,
    pub reason: Option<String>,
    /// camt.054: the transaction has return information.
    pub returned: bool,
    /// The amount given and its currency code, as written.
    pub amount: Option<(String, String)>,
    /// The creditor IBAN the file names (pain.002 `OrgnlTxRef/CdtrAcct`).
    pub creditor_iban: Option<String>,
}

/// The original group of a pain.002 (`OrgnlGrpInfAndSts`) and its payment
/// information status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginalGroup {
    pub message_id: Option<String>,
    pub number_of_transactions: Option<String>,
    pub control_sum: Option<String>,
    /// `GrpSts`, or `PmtInfSts` when the group gives none.
    pub status: Option<String>,
    pub reason: Option<String>,
}

/// A status file read whole, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFile {
    pub kind: StatusKind,
    pub group: OriginalGroup,
    pub lines: Vec<StatusLine>,
}

impl StatusFile {
    /// Every original message id the file names, sorted, once each.
    pub fn message_ids(&self) -> BTreeSet<String> {
        self.lines
            .iter()
            .filter_map(|l| l.message_id.clone())
            .chain(self.group.message_id.clone())
            .collect()
    }
}

/// Why a status file is quarantined: nothing in it is recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum StatusFileRejection {
    #[error("the file is {bytes} bytes; the largest accepted is {max}")]
    TooLarge { bytes: usize, max: usize },
    #[error("the file cannot be read: {reason}")]
    Unreadable { reason: String },
    #[error("the file names no original message id (OrgnlMsgId, Refs/MsgId)")]
    NoMessageId,
    #[error("original message {message_id:?} is not a pain.001 this system issued")]
    UnknownMessage { message_id: String },
    #[error("a transaction of message {message_id:?} has no end-to-end id")]
    NoEndToEndId { message_id: String },
    #[error("end-to-end id {end_to_end_id:?} is not a transfer of message {message_id:?}")]
    UnknownEndToEndId {
        message_id: String,
        end_to_end_id: String,
    },
    #[error(
        "end-to-end id {end_to_end_id:?}: the file gives no amount (a camt.054 must, per transaction or entry)"
    )]
    NoAmount { end_to_end_id: String },
    #[error(
        "end-to-end id {end_to_end_id:?}: the file says {reported:?}, the transfer issued was {issued}"
    )]
    AmountMismatch {
        end_to_end_id: String,
        issued: Money,
        reported: String,
    },
    #[error(
        "end-to-end id {end_to_end_id:?}: the file says currency {reported:?}, the transfer issued was in {issued}"
    )]
    CurrencyMismatch {
        end_to_end_id: String,
        issued: String,
        reported: String,
    },
    #[error("end-to-end id {end_to_end_id:?}: the file names another creditor account")]
    AccountMismatch { end_to_end_id: String },
    #[error(
        "message {message_id:?}: the file says {field} {reported:?}, the message issued has {issued:?}"
    )]
    GroupMismatch {
        message_id: String,
        field: &'static str,
        issued: String,
        reported: String,
    },
    #[error("end-to-end id {end_to_end_id:?}: unknown transaction status {status:?}")]
    UnknownStatus {
        end_to_end_id: String,
        status: String,
    },
}

fn text_of(t: &quick_xml::events::BytesText<'_>) -> Result<String, StatusFileRejection> {
    t.decode()
        .map(|s| s.into_owned())
        .map_err(|e| StatusFileRejection::Unreadable {
            reason: e.to_string(),
        })
}

/// A camt.054 entry being read: its amount, status, batch message id and
/// transactions.
#[derive(Default)]
struct Entry {
    amount: Option<(String, String)>,
    status: Option<String>,
    batch_message_id: Option<String>,
    lines: Vec<StatusLine>,
}

/// The amounts a camt.054 transaction may give, best first: the original
/// instructed amount, the transaction's own, the amount details' one.
#[derive(Default)]
struct TxAmounts {
    instructed: Option<(String, String)>,
    own: Option<(String, String)>,
    detail: Option<(String, String)>,
}

/// Reads a status file whole (nothing checked against the issued files
/// yet). A file that is neither kind, or not well-formed XML, is refused.
pub fn read_status_file(xml: &[u8]) -> Result<StatusFile, StatusFileRejection> {
    use quick_xml::events::Event;
    if xml.len() > STATUS_FILE_BYTES_MAX {
        return Err(StatusFileRejection::TooLarge {
            bytes: xml.len(),
            max: STATUS_FILE_BYTES_MAX,
        });
    }
    let unreadable = |reason: String| StatusFileRejection::Unreadable { reason };
    let mut reader = quick_xml::Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut kind = None;
    let mut group = OriginalGroup::default();
    let mut payment_status = None;
    let mut lines = Vec::new();
    let mut entry: Option<Entry> = None;
    let mut current: Option<(StatusLine, TxAmounts)> = None;
    let mut currency = None::<String>;
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| unreadable(e.to_string()))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match name.as_str() {
                    "CstmrPmtStsRpt" => kind = Some(StatusKind::Pain002),
                    "BkToCstmrDbtCdtNtfctn" => kind = Some(StatusKind::Camt054),
                    "TxInfAndSts" | "TxDtls" => {
                        current = Some((StatusLine::default(), TxAmounts::default()))
                    }
                    "Ntry" => entry = Some(Entry::default()),
                    "RtrInf" => {
                        if let Some((line, _)) = current.as_mut() {
                            line.returned = true;
                        }
                    }
                    _ => {}
                }
                currency = currency_attribute(&e);
                path.push(name);
            }
            Event::End(_) => match path.pop().as_deref() {
                Some("TxInfAndSts" | "TxDtls") => {
                    if let Some((mut line, amounts)) = current.take() {
                        line.amount = amounts.instructed.or(amounts.own).or(amounts.detail);
                        match entry.as_mut() {
                            Some(entry) => entry.lines.push(line),
                            None => lines.push(line),
                        }
                    }
                }
                Some("Ntry") => {
                    if let Some(entry) = entry.take() {
                        let single = entry.lines.len() == 1;
                        for mut line in entry.lines {
                            line.status = line.status.or(entry.status.clone());
                            line.message_id = line.message_id.or(entry.batch_message_id.clone());
                            if single && line.amount.is_none() {
                                line.amount = entry.amount.clone();
                            }
                            lines.push(line);
                        }
                    }
                }
                _ => {}
            },
            Event::Text(t) => {
                let text = text_of(&t)?;
                let at = |suffix: &[&str]| ends_with(&path, suffix);
                let amount = || Some((text.clone(), currency.clone().unwrap_or_default()));
                if let Some((line, amounts)) = current.as_mut() {
                    if at(&["TxInfAndSts", "OrgnlEndToEndId"]) || at(&["Refs", "EndToEndId"]) {
                        line.end_to_end_id = Some(text);
                    } else if at(&["TxDtls", "Refs", "MsgId"]) {
                        line.message_id = Some(text);
                    } else if at(&["TxInfAndSts", "TxSts"]) {
                        line.status = Some(text);
                    } else if at(&["StsRsnInf", "Rsn", "Cd"]) || at(&["RtrInf", "Rsn", "Cd"]) {
                        line.reason = Some(text);
                    } else if at(&["OrgnlTxRef", "Amt", "InstdAmt"])
                        || at(&["AmtDtls", "InstdAmt", "Amt"])
                    {
                        amounts.instructed = amount();
                    } else if at(&["TxDtls", "Amt"]) {
                        amounts.own = amount();
                    } else if at(&["AmtDtls", "TxAmt", "Amt"]) {
                        amounts.detail = amount();
                    } else if at(&["OrgnlTxRef", "CdtrAcct", "Id", "IBAN"]) {
                        line.creditor_iban = Some(text);
                    }
                } else if let Some(entry) = entry.as_mut() {
                    if at(&["Ntry", "Amt"]) {
                        entry.amount = amount();
                    } else if at(&["Ntry", "Sts"]) || at(&["Ntry", "Sts", "Cd"]) {
                        entry.status = Some(text);
                    } else if at(&["NtryDtls", "Btch", "MsgId"]) {
                        entry.batch_message_id = Some(text);
                    }
                } else if at(&["OrgnlGrpInfAndSts", "OrgnlMsgId"]) {
                    group.message_id = Some(text);
                } else if at(&["OrgnlGrpInfAndSts", "OrgnlNbOfTxs"]) {
                    group.number_of_transactions = Some(text);
                } else if at(&["OrgnlGrpInfAndSts", "OrgnlCtrlSum"]) {
                    group.control_sum = Some(text);
                } else if at(&["OrgnlGrpInfAndSts", "GrpSts"]) {
                    group.status = Some(text);
                } else if at(&["OrgnlPmtInfAndSts", "PmtInfSts"]) {
                    payment_status = Some(text);
                } else if at(&["StsRsnInf", "Rsn", "Cd"]) {
                    group.reason.get_or_insert(text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let Some(kind) = kind else {
        return Err(unreadable(
            "neither a pain.002 status report nor a camt.054 notification".into(),
        ));
    };
    if !path.is_empty() {
        return Err(unreadable("the file is truncated".into()));
    }
    if group.status.as_deref().is_none_or(|s| s == "PART") && payment_status.is_some() {
        group.status = payment_status;
    }
    if kind == StatusKind::Pain002 {
        for line in &mut lines {
            line.message_id = group.message_id.clone();
        }
    }
    Ok(StatusFile { kind, group, lines })
}
