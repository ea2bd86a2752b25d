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
use serde::{Deserialize, Serialize};

use super::xml::{Account, Amount, AmountDetails, EntryStatus, ReasonInfo, read_document};

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

/// The two documents a status file may be; names are the schema's.
#[derive(Deserialize)]
struct StatusDocument {
    #[serde(rename = "CstmrPmtStsRpt")]
    pain002: Option<PaymentStatusReport>,
    #[serde(rename = "BkToCstmrDbtCdtNtfctn")]
    camt054: Option<Notifications>,
}

/// pain.002: the original group, then each original payment information.
#[derive(Deserialize)]
struct PaymentStatusReport {
    #[serde(rename = "OrgnlGrpInfAndSts")]
    group: Option<GroupStatus>,
    #[serde(rename = "OrgnlPmtInfAndSts", default)]
    payments: Vec<PaymentStatus>,
}

#[derive(Deserialize)]
struct GroupStatus {
    #[serde(rename = "OrgnlMsgId")]
    message_id: Option<String>,
    #[serde(rename = "OrgnlNbOfTxs")]
    number_of_transactions: Option<String>,
    #[serde(rename = "OrgnlCtrlSum")]
    control_sum: Option<String>,
    #[serde(rename = "GrpSts")]
    status: Option<String>,
    #[serde(rename = "StsRsnInf", default)]
    reasons: Vec<ReasonInfo>,
}

#[derive(Deserialize)]
struct PaymentStatus {
    #[serde(rename = "PmtInfSts")]
    status: Option<String>,
    #[serde(rename = "StsRsnInf", default)]
    reasons: Vec<ReasonInfo>,
    #[serde(rename = "TxInfAndSts", default)]
    transactions: Vec<TransactionStatus>,
}

#[derive(Deserialize)]
struct TransactionStatus {
    #[serde(rename = "OrgnlEndToEndId")]
    end_to_end_id: Option<String>,
    #[serde(rename = "TxSts")]
    status: Option<String>,
    #[serde(rename = "StsRsnInf", default)]
    reasons: Vec<ReasonInfo>,
    #[serde(rename = "OrgnlTxRef")]
    original: Option<OriginalTransaction>,
}

#[derive(Deserialize)]
struct OriginalTransaction {
    #[serde(rename = "Amt")]
    amount: Option<InstructedAmount>,
    #[serde(rename = "CdtrAcct")]
    creditor_account: Option<Account>,
}

#[derive(Deserialize)]
struct InstructedAmount {
    #[serde(rename = "InstdAmt")]
    instructed: Option<Amount>,
}

/// camt.054: notifications, their entries, the entries' transactions.
#[derive(Deserialize)]
struct Notifications {
    #[serde(rename = "Ntfctn", default)]
    notifications: Vec<Notification>,
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Ntry", default)]
    entries: Vec<NotificationEntry>,
}

#[derive(Deserialize)]
struct NotificationEntry {
    #[serde(rename = "Amt")]
    amount: Option<Amount>,
    #[serde(rename = "Sts")]
    status: Option<EntryStatus>,
    #[serde(rename = "NtryDtls", default)]
    details: Vec<NotificationDetails>,
}

#[derive(Deserialize)]
struct NotificationDetails {
    #[serde(rename = "Btch")]
    batch: Option<Batch>,
    #[serde(rename = "TxDtls", default)]
    transactions: Vec<NotificationTransaction>,
}

#[derive(Deserialize)]
struct Batch {
    #[serde(rename = "MsgId")]
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct NotificationTransaction {
    #[serde(rename = "Refs")]
    refs: Option<References>,
    #[serde(rename = "Amt")]
    amount: Option<Amount>,
    #[serde(rename = "AmtDtls")]
    amount_details: Option<AmountDetails>,
    #[serde(rename = "RtrInf")]
    returned: Option<ReasonInfo>,
}

#[derive(Deserialize)]
struct References {
    #[serde(rename = "MsgId")]
    message_id: Option<String>,
    #[serde(rename = "EndToEndId")]
    end_to_end_id: Option<String>,
}

impl PaymentStatusReport {
    fn read(self) -> (OriginalGroup, Vec<StatusLine>) {
        let group = self.group;
        let first_reason = group
            .iter()
            .flat_map(|g| &g.reasons)
            .chain(self.payments.iter().flat_map(|p| &p.reasons))
            .find_map(ReasonInfo::code);
        let payment_status = self.payments.iter().rev().find_map(|p| p.status.clone());
        let mut group = group
            .map(|g| OriginalGroup {
                message_id: g.message_id,
                number_of_transactions: g.number_of_transactions,
                control_sum: g.control_sum,
                status: g.status,
                reason: None,
            })
            .unwrap_or_default();
        group.reason = first_reason;
        if group.status.as_deref().is_none_or(|s| s == "PART") && payment_status.is_some() {
            group.status = payment_status;
        }
        let lines = self
            .payments
            .into_iter()
            .flat_map(|p| p.transactions)
            .map(|t| {
                let (amount, creditor_iban) = t
                    .original
                    .map(|o| {
                        (
                            o.amount.and_then(|a| a.instructed).map(Amount::pair),
                            o.creditor_account.and_then(Account::iban),
                        )
                    })
                    .unwrap_or_default();
                StatusLine {
                    message_id: group.message_id.clone(),
                    end_to_end_id: t.end_to_end_id,
                    status: t.status,
                    reason: t.reasons.iter().rev().find_map(ReasonInfo::code),
                    returned: false,
                    amount,
                    creditor_iban,
                }
            })
            .collect();
        (group, lines)
    }
}

impl NotificationTransaction {
    /// The amounts a camt.054 transaction may give, best first: the
    /// original instructed amount, the transaction's own, the amount
    /// details' one.
    fn amount(&mut self) -> Option<(String, String)> {
        let details = self.amount_details.take().unwrap_or_default();
        details
            .instructed
            .map(|a| a.amount)
            .or(self.amount.take())
            .or(details.transaction.map(|a| a.amount))
            .map(Amount::pair)
    }
}

impl Notifications {
    fn read(self) -> Vec<StatusLine> {
        let mut lines = Vec::new();
        for entry in self.notifications.into_iter().flat_map(|n| n.entries) {
            let status = entry.status.and_then(EntryStatus::code);
            let batch_message_id = entry
                .details
                .iter()
                .rev()
                .find_map(|d| d.batch.as_ref().and_then(|b| b.message_id.clone()));
            let transactions: Vec<_> = entry
                .details
                .into_iter()
                .flat_map(|d| d.transactions)
                .collect();
            let single = transactions.len() == 1;
            for mut t in transactions {
                let amount = t.amount();
                let refs = t.refs.unwrap_or(References {
                    message_id: None,
                    end_to_end_id: None,
                });
                lines.push(StatusLine {
                    message_id: refs.message_id.or(batch_message_id.clone()),
                    end_to_end_id: refs.end_to_end_id,
                    status: status.clone(),
                    reason: t.returned.as_ref().and_then(ReasonInfo::code),
                    returned: t.returned.is_some(),
                    amount: amount.or(if single {
                        entry.amount.clone().map(Amount::pair)
                    } else {
                        None
                    }),
                    creditor_iban: None,
                });
            }
        }
        lines
    }
}

/// Reads a status file whole (nothing checked against the issued files
/// yet). A file that is neither kind, or not well-formed XML, is refused.
pub fn read_status_file(xml: &[u8]) -> Result<StatusFile, StatusFileRejection> {
    if xml.len() > STATUS_FILE_BYTES_MAX {
        return Err(StatusFileRejection::TooLarge {
            bytes: xml.len(),
            max: STATUS_FILE_BYTES_MAX,
        });
    }
    let unreadable = |reason: String| StatusFileRejection::Unreadable { reason };
    let document: StatusDocument = read_document(xml).map_err(|e| unreadable(e.to_string()))?;
    match (document.pain002, document.camt054) {
        (Some(report), _) => {
            let (group, lines) = report.read();
            Ok(StatusFile {
                kind: StatusKind::Pain002,
                group,
                lines,
            })
        }
        (None, Some(notifications)) => Ok(StatusFile {
            kind: StatusKind::Camt054,
            group: OriginalGroup::default(),
            lines: notifications.read(),
        }),
        (None, None) => Err(unreadable(
            "neither a pain.002 status report nor a camt.054 notification".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camt054_of_a_later_version_with_prefixes_and_a_batch_is_read() {
        let xml = r#"<?xml version="1.0"?>
<n:Document xmlns:n="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><n:BkToCstmrDbtCdtNtfctn>
<n:Ntfctn><n:Ntry><n:Amt Ccy="EUR">30.00</n:Amt><n:Sts><n:Cd>BOOK</n:Cd></n:Sts>
<n:NtryDtls><n:Btch><n:MsgId>MSG-1</n:MsgId></n:Btch>
<n:TxDtls><n:Refs><n:EndToEndId>E2E-1</n:EndToEndId></n:Refs>
<n:AmtDtls><n:TxAmt><n:Amt Ccy="EUR">10.00</n:Amt></n:TxAmt></n:AmtDtls></n:TxDtls>
<n:TxDtls><n:Refs><n:MsgId>MSG-2</n:MsgId><n:EndToEndId>E2E-2</n:EndToEndId></n:Refs>
<n:Amt Ccy="EUR">20.00</n:Amt><n:RtrInf><n:Rsn><n:Cd>AC04</n:Cd></n:Rsn></n:RtrInf></n:TxDtls>
</n:NtryDtls></n:Ntry></n:Ntfctn></n:BkToCstmrDbtCdtNtfctn></n:Document>"#;
        let file = read_status_file(xml.as_bytes()).unwrap();
        assert_eq!(file.kind, StatusKind::Camt054);
        let first = StatusLine {
            message_id: Some("MSG-1".into()),
            end_to_end_id: Some("E2E-1".into()),
            status: Some("BOOK".into()),
            reason: None,
            returned: false,
            amount: Some(("10.00".into(), "EUR".into())),
            creditor_iban: None,
        };
        let second = StatusLine {
            message_id: Some("MSG-2".into()),
            end_to_end_id: Some("E2E-2".into()),
            reason: Some("AC04".into()),
            returned: true,
            amount: Some(("20.00".into(), "EUR".into())),
            ..first.clone()
        };
        assert_eq!(file.lines, [first, second]);
        assert_eq!(
            file.message_ids().into_iter().collect::<Vec<_>>(),
            ["MSG-1", "MSG-2"]
        );
    }

    #[test]
    fn a_pain002_takes_the_payment_status_when_the_group_has_none() {
        let xml = r#"<Document><CstmrPmtStsRpt>
<OrgnlGrpInfAndSts><OrgnlMsgId>MSG-1</OrgnlMsgId><OrgnlNbOfTxs>1</OrgnlNbOfTxs></OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><PmtInfSts>RJCT</PmtInfSts><StsRsnInf><Rsn><Cd>AM04</Cd></Rsn></StsRsnInf>
<TxInfAndSts><OrgnlEndToEndId>E2E-1</OrgnlEndToEndId><TxSts>RJCT</TxSts>
<StsRsnInf><Rsn><Cd>AC01</Cd></Rsn></StsRsnInf>
<OrgnlTxRef><Amt><InstdAmt Ccy="EUR">5.00</InstdAmt></Amt>
<CdtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></CdtrAcct></OrgnlTxRef></TxInfAndSts>
</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>"#;
        let file = read_status_file(xml.as_bytes()).unwrap();
        assert_eq!(file.kind, StatusKind::Pain002);
        assert_eq!(file.group.status.as_deref(), Some("RJCT"));
        assert_eq!(file.group.reason.as_deref(), Some("AM04"));
        assert_eq!(file.group.number_of_transactions.as_deref(), Some("1"));
        let line = &file.lines[0];
        assert_eq!(line.message_id.as_deref(), Some("MSG-1"));
        assert_eq!(line.reason.as_deref(), Some("AC01"));
        assert_eq!(line.amount, Some(("5.00".into(), "EUR".into())));
        assert_eq!(
            line.creditor_iban.as_deref(),
            Some("DE02120300000000202051")
        );
    }

    #[test]
    fn a_foreign_or_broken_file_is_unreadable() {
        for xml in [
            "<Document><Other/></Document>",
            "<Invoice><CstmrPmtStsRpt/></Invoice>",
            "<Document><CstmrPmtStsRpt>",
            "\u{0}\u{1}",
        ] {
            assert!(
                matches!(
                    read_status_file(xml.as_bytes()),
                    Err(StatusFileRejection::Unreadable { .. })
                ),
                "{xml}"
            );
        }
    }
}
