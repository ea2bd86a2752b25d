//! A status file checked against the pain.001 it answers and turned into
//! notices for the ledger, or quarantined whole with the rule it broke
//! (see [`super::status`]).

use std::collections::{BTreeMap, BTreeSet};

use ledger_app::payouts::ProcessorNotice;
use ledger_domain::{ItemOutcome, Money, Processor};
use serde::Serialize;

use super::issued::IssuedMessage;
use super::status::{StatusFile, StatusFileRejection, StatusKind};

/// What a status says happened to a transfer; `None`: nothing to record yet.
fn outcome(
    kind: StatusKind,
    status: &str,
    returned: bool,
    end_to_end_id: &str,
) -> Result<Option<ItemOutcome>, StatusFileRejection> {
    Ok(match (kind, status, returned) {
        (_, _, true) => Some(ItemOutcome::Returned),
        (StatusKind::Pain002, "RJCT", _) => Some(ItemOutcome::Failed),
        (StatusKind::Pain002, "ACSC", _) => Some(ItemOutcome::Paid),
        // Accepted, not settled: nothing to record yet.
        (StatusKind::Pain002, "ACCP" | "ACSP" | "ACWC" | "ACTC" | "PDNG" | "RCVD", _) => None,
        (StatusKind::Camt054, "BOOK" | "", _) => Some(ItemOutcome::Paid),
        (StatusKind::Camt054, _, _) => None,
        (StatusKind::Pain002, other, _) => {
            return Err(StatusFileRejection::UnknownStatus {
                end_to_end_id: end_to_end_id.to_owned(),
                status: other.to_owned(),
            });
        }
    })
}

fn normalized_iban(iban: &str) -> String {
    iban.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Checks a reported amount against the issued transfer.
fn check_amount(
    end_to_end_id: &str,
    reported: &(String, String),
    issued: Money,
) -> Result<(), StatusFileRejection> {
    let (text, code) = reported;
    let code = code.trim().to_ascii_uppercase();
    if code != issued.currency().code() {
        return Err(StatusFileRejection::CurrencyMismatch {
            end_to_end_id: end_to_end_id.to_owned(),
            issued: issued.currency().code().to_owned(),
            reported: code.chars().take(12).collect(),
        });
    }
    match Money::parse(text, issued.currency()) {
        Ok(amount) if amount == issued => Ok(()),
        _ => Err(StatusFileRejection::AmountMismatch {
            end_to_end_id: end_to_end_id.to_owned(),
            issued,
            reported: text.chars().take(40).collect(),
        }),
    }
}

/// The notices of a status file, once every line is checked against the
/// messages this system issued (`issued`, by message id); or the first
/// rule the file breaks, and then nothing of it is to be recorded.
pub fn status_notices(
    file_key: &str,
    file: &StatusFile,
    issued: &BTreeMap<String, IssuedMessage>,
) -> Result<Vec<ProcessorNotice>, StatusFileRejection> {
    let known = |message_id: &str| {
        issued
            .get(message_id)
            .ok_or_else(|| StatusFileRejection::UnknownMessage {
                message_id: message_id.chars().take(80).collect(),
            })
    };
    let group_message = match (&file.kind, &file.group.message_id) {
        (StatusKind::Pain002, None) => return Err(StatusFileRejection::NoMessageId),
        (StatusKind::Pain002, Some(id)) => Some(known(id)?),
        (StatusKind::Camt054, _) => None,
    };
    if file.kind == StatusKind::Camt054 && file.lines.is_empty() {
        return Err(StatusFileRejection::NoMessageId);
    }
    if let Some(message) = group_message {
        let mismatch = |field, issued: String, reported: &String| {
            Err(StatusFileRejection::GroupMismatch {
                message_id: message.message_id.clone(),
                field,
                issued,
                reported: reported.chars().take(40).collect(),
            })
        };
        if let Some(reported) = &file.group.number_of_transactions {
            let count = message.transfers.len().to_string();
            if reported.trim() != count {
                return mismatch("OrgnlNbOfTxs", count, reported);
            }
        }
        if let Some(reported) = &file.group.control_sum {
            let sum = message.control_sum();
            let same = sum.is_some_and(|sum| {
                Money::parse(reported, sum.currency()).is_ok_and(|given| given == sum)
            });
            if !same {
                let issued = sum.map(|s| s.amount().to_string()).unwrap_or_default();
                return mismatch("OrgnlCtrlSum", issued, reported);
            }
        }
    }
    let mut notices = Vec::new();
    let mut listed = BTreeSet::new();
    for line in &file.lines {
        let Some(message_id) = &line.message_id else {
            return Err(StatusFileRejection::NoMessageId);
        };
        let message = known(message_id)?;
        let Some(end_to_end_id) = &line.end_to_end_id else {
            return Err(StatusFileRejection::NoEndToEndId {
                message_id: message_id.clone(),
            });
        };
        let Some(transfer) = message.transfer(end_to_end_id) else {
            return Err(StatusFileRejection::UnknownEndToEndId {
                message_id: message_id.clone(),
                end_to_end_id: end_to_end_id.chars().take(80).collect(),
            });
        };
        match &line.amount {
            Some(reported) => check_amount(end_to_end_id, reported, transfer.amount)?,
            None if file.kind == StatusKind::Camt054 => {
                return Err(StatusFileRejection::NoAmount {
                    end_to_end_id: end_to_end_id.clone(),
                });
            }
            None => {}
        }
        if let Some(iban) = &line.creditor_iban {
            if normalized_iban(iban) != normalized_iban(&transfer.iban) {
                return Err(StatusFileRejection::AccountMismatch {
                    end_to_end_id: end_to_end_id.clone(),
                });
            }
        }
        listed.insert((message_id.clone(), end_to_end_id.clone()));
        let status = line.status.clone().unwrap_or_default();
        let Some(outcome) = outcome(file.kind, &status, line.returned, end_to_end_id)? else {
            continue;
        };
        notices.push(notice(
            file_key,
            message,
            end_to_end_id,
            &status,
            outcome,
            line.reason.as_deref(),
        ));
    }
    // A rejected group or payment information: every transfer not listed
    // on its own is rejected with it.
    if let Some(message) = group_message {
        if file.group.status.as_deref() == Some("RJCT") {
            for transfer in &message.transfers {
                let key = (message.message_id.clone(), transfer.end_to_end_id.clone());
                if !listed.contains(&key) {
                    notices.push(notice(
                        file_key,
                        message,
                        &transfer.end_to_end_id,
                        "RJCT",
                        ItemOutcome::Failed,
                        file.group.reason.as_deref(),
                    ));
                }
            }
        }
    }
    Ok(notices)
}

fn notice(
    file_key: &str,
    message: &IssuedMessage,
    end_to_end_id: &str,
    status: &str,
    outcome: ItemOutcome,
    reason: Option<&str>,
) -> ProcessorNotice {
    ProcessorNotice {
        processor: Processor::Sepa,
        event_id: format!("{file_key}#{end_to_end_id}#{status}"),
        outcome,
        tenant_id: Some(message.tenant_id.to_string()),
        batch_id: Some(message.batch_id.to_string()),
        item_id: Some(end_to_end_id.to_owned()),
        reference: Some(end_to_end_id.to_owned()),
        account: None,
        amount: None,
        reason: reason.map(|r| format!("SEPA reason {r}")),
    }
}

/// The record of a quarantined status file, written where finance looks
/// (`sepa-quarantine/` beside the payment files), like a quarantined
/// reconciliation report: the file, its hash, and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedStatusFile {
    pub format: &'static str,
    /// `quarantined`.
    pub status: &'static str,
    /// The status file's key and SHA-256.
    pub source: String,
    pub source_sha256: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub kind: Option<StatusKind>,
    /// The original message ids the file names.
    pub message_ids: Vec<String>,
    pub rejection: StatusFileRejection,
}

impl QuarantinedStatusFile {
    pub fn new(
        source: &str,
        bytes: &[u8],
        file: Option<&StatusFile>,
        rejection: StatusFileRejection,
        received_at: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        use sha2::Digest;
        QuarantinedStatusFile {
            format: "sepa-status-quarantine/1",
            status: "quarantined",
            source: source.chars().take(300).collect(),
            source_sha256: hex::encode(sha2::Sha256::digest(bytes)),
            received_at,
            kind: file.map(|f| f.kind),
            message_ids: file
                .map(|f| {
                    f.message_ids()
                        .into_iter()
                        .map(|m| m.chars().take(80).collect())
                        .take(100)
                        .collect()
                })
                .unwrap_or_default(),
            rejection,
        }
    }

    /// Where it is kept: one record per file content, so a retried event
    /// finds it written.
    pub fn key(&self) -> String {
        let name: String = self
            .source
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .take(80)
            .collect();
        format!(
            "sepa-quarantine/sq-{}-{}.json",
            &self.source_sha256[..16],
            name.trim_matches('-')
        )
    }
}
