//! Public events: the contract other systems receive (tenant webhooks, the
//! event bus on AWS, the local stack's server-sent events).
//!
//! Internal events are the ledger's own record and change with it; public
//! events are a documented, versioned shape derived from them, with their
//! own types, so an internal change never breaks a receiver. Each public
//! type's `data` has a JSON Schema generated from the structs below
//! (`events/schemas/`), and a change must stay backward compatible or
//! raise [`PUBLIC_EVENT_VERSION`].
//!
//! One internal event gives zero or more public events (a drafted batch
//! that nets clawbacks also gives one `receivable.netted` per item). Each
//! has an id derived from the tenant, stream, version and its index, so
//! the same event always has the same id: receivers deduplicate on it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::events::{CommissionStage, DraftedItem, Event, EventBody, MoneyMovement};
use crate::money::Money;

/// The version of every public event's shape. Raised only for a change a
/// receiver could not read with the previous schema (a field removed,
/// retyped or made required).
pub const PUBLIC_EVENT_VERSION: u32 = 1;

/// Every public event type, in the order the README lists them.
pub const PUBLIC_EVENT_TYPES: &[&str] = &[
    "commission.recorded",
    "commission.matured",
    "commission.reversed",
    "commission.adjusted",
    "payout_batch.drafted",
    "payout_batch.approved",
    "payout_batch.rejected",
    "payout_item.submitted",
    "payout_item.paid",
    "payout_item.failed",
    "payout_item.returned",
    "payout_item.unclaimed",
    "payout_item.reversed",
    "receivable.opened",
    "receivable.netted",
    "reconciliation.mismatch_found",
    "statement.published",
];

/// Whether `name` is a public event type.
pub fn is_public_type(name: &str) -> bool {
    PUBLIC_EVENT_TYPES.contains(&name)
}

/// Money as every public event writes it: the amount as a decimal string
/// (never a JSON number, so no parser turns it into a float) and the ISO
/// 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct Amount {
    /// A decimal string, e.g. `"12.50"`, with the currency's minor digits.
    pub amount: String,
    /// ISO 4217 code, e.g. `"EUR"`.
    pub currency: String,
}

impl From<&Money> for Amount {
    fn from(m: &Money) -> Self {
        Amount {
            amount: m.amount().to_string(),
            currency: m.currency().code().to_owned(),
        }
    }
}

fn stage(s: CommissionStage) -> String {
    match s {
        CommissionStage::Pending => "pending",
        CommissionStage::Matured => "matured",
    }
    .to_owned()
}

/// `commission.recorded`: a conversion earned an affiliate commission, on
/// hold until `matures_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct CommissionRecordedData {
    pub commission_id: String,
    pub affiliate_id: String,
    pub amount: Amount,
    pub hold_period_days: u32,
    pub matures_at: DateTime<Utc>,
    /// The tracking network's conversion id.
    pub source_conversion_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_reference: Option<String>,
}

/// `commission.matured`: the hold period ended; `amount` became payable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct CommissionMaturedData {
    pub commission_id: String,
    pub affiliate_id: String,
    pub amount: Amount,
}

/// `commission.reversed`: a refund, chargeback, fraud or manual reversal
/// took `amount` back. At stage `matured` it is clawed back (see
/// `receivable.opened`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct CommissionReversedData {
    pub commission_id: String,
    pub affiliate_id: String,
    pub amount: Amount,
    /// `refund`, `chargeback`, `fraud` or `manual`.
    pub reason: String,
    /// `pending` or `matured`: where the money sat.
    pub stage: String,
    /// True when this reversal took back everything that was left.
    pub whole: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// `commission.adjusted`: a signed correction of what was earned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct CommissionAdjustedData {
    pub commission_id: String,
    pub affiliate_id: String,
    /// Signed: a positive amount adds, a negative one takes away.
    pub delta: Amount,
    pub stage: String,
    pub reason: String,
}

/// One item of a drafted batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PayoutItemData {
    pub item_id: String,
    pub affiliate_id: String,
    /// What the item pays.
    pub amount: Amount,
    /// Clawbacks this payout settles.
    pub receivable_netted: Amount,
    /// `stripe`, `paypal`, `sepa` or `sandbox`.
    pub processor: String,
    /// The approved destination, masked (`sepa DE** **** 3000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

impl From<&DraftedItem> for PayoutItemData {
    fn from(i: &DraftedItem) -> Self {
        PayoutItemData {
            item_id: i.item_id.to_string(),
            affiliate_id: i.affiliate_id.to_string(),
            amount: (&i.amount).into(),
            receivable_netted: (&i.receivable_netted).into(),
            processor: i.processor.as_str().to_owned(),
            destination: i.destination.as_ref().map(|d| d.masked.clone()),
        }
    }
}

/// `payout_batch.drafted`: a batch awaits approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PayoutBatchDraftedData {
    pub batch_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub items: Vec<PayoutItemData>,
}

/// `payout_batch.approved`: the second person approved; dispatch follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PayoutBatchApprovedData {
    pub batch_id: String,
    /// Who approved (the verified subject).
    pub approved_by: String,
}

/// `payout_batch.rejected`: the batch will not be paid; its items' money
/// is available again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PayoutBatchRejectedData {
    pub batch_id: String,
    pub rejected_by: String,
    pub reason: String,
}

/// `payout_item.submitted`: the processor accepted the item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PayoutItemSubmittedData {
    pub batch_id: String,
    pub item_id: String,
    pub affiliate_id: String,
    pub amount: Amount,
    pub processor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_reference: Option<String>,
}

/// `payout_item.paid`, `.failed`, `.returned`, `.unclaimed`, `.reversed`:
/// what the processor said happened to an item, once per outcome that
/// moved its money (a confirmation of an outcome already known is not
/// sent again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PayoutItemOutcomeData {
    pub batch_id: String,
    pub item_id: String,
    pub affiliate_id: String,
    pub amount: Amount,
    pub processor: String,
    /// The processor's own event id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `payout_item.reversed` only: the total reversed so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversed_total: Option<Amount>,
}

/// `receivable.opened`: the affiliate owes money back (a clawback after
/// maturity, or clawbacks a rejected batch had netted), to be netted
/// against later earnings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct ReceivableOpenedData {
    pub affiliate_id: String,
    pub amount: Amount,
    /// `commission_reversed`, `commission_adjusted` or `payout_batch_rejected`.
    pub cause: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
}

/// `receivable.netted`: a drafted payout settles `amount` of clawbacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct ReceivableNettedData {
    pub affiliate_id: String,
    pub amount: Amount,
    pub batch_id: String,
    pub item_id: String,
}

/// `reconciliation.mismatch_found`: a processor's report and the ledger
/// disagree, for finance to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct ReconciliationMismatchFoundData {
    pub run_id: String,
    pub processor: String,
    /// `missing_in_ledger`, `missing_at_processor`, `amount_mismatch`,
    /// `currency_mismatch`, `outside_date_window`, `not_paid_in_ledger`.
    pub kind: String,
    pub report: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_amount: Option<Amount>,
}

/// `statement.published`: a new version of an affiliate's statement of
/// one currency and month was written; fetch it with
/// `GET /v1/affiliates/{affiliate_id}/statements/{currency}/{period}?version=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct StatementPublishedData {
    pub affiliate_id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// `YYYY-MM`, in `time_zone`.
    pub period: String,
    pub time_zone: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// 1 for the first statement of the period; a later version restates
    /// it after late or corrected events and names the one it supersedes.
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<u32>,
    pub reason: String,
    pub closing_available: Amount,
    pub closing_receivable: Amount,
    /// SHA-256 (hex) of the statement's CSV file.
    pub content_sha256: String,
}

/// One public event as it is sent: the envelope and its type's `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PublicEvent {
    /// `evt_` and 32 hex digits; the same event always has the same id,
    /// and ids sort by the time the ledger recorded the event.
    pub id: String,
    /// One of the public event types.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The shape's version ([`PUBLIC_EVENT_VERSION`]).
    pub version: u32,
    pub tenant_id: String,
    /// When the ledger recorded it.
    pub created_at: DateTime<Utc>,
    /// When it happened in the world (a conversion last week).
    pub occurred_at: DateTime<Utc>,
    /// The ledger stream it belongs to, without the tenant
    /// (`payout-batch/b-7`), and its version there: events of one stream
    /// are ordered by `stream_version`, so a receiver that needs order can
    /// restore it.
    pub stream: String,
    pub stream_version: u64,
    /// The type's data (see `events/schemas/`).
    #[cfg_attr(
        feature = "schemas",
        schemars(with = "serde_json::Map<String, serde_json::Value>")
    )]
    pub data: serde_json::Value,
}

impl PublicEvent {
    /// The exact bytes sent and signed.
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and a JSON value: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The public event id of the `index`th public event derived from the
/// event at `version` of `stream` (the full stream name, with the tenant),
/// recorded at `recorded_at`: `evt_`, the recording time in microseconds
/// (14 hex digits, so ids sort by time) and 18 hex digits of a SHA-256 of
/// where it comes from.
pub fn public_event_id(
    stream: &str,
    version: u64,
    index: usize,
    recorded_at: DateTime<Utc>,
) -> String {
    let digest = sha2::Sha256::digest(format!("{stream}@{version}#{index}").as_bytes());
    let micros = recorded_at.timestamp_micros().max(0);
    format!("evt_{micros:014x}{}", &hex::encode(digest)[..18])
}

fn data<T: Serialize>(name: &'static str, value: T) -> (&'static str, serde_json::Value) {
    // The data structs hold strings, numbers and options only.
    (name, serde_json::to_value(value).unwrap_or_default())
}

/// The public events one stored event gives: `stream` is its full stream
/// name (`acme/payout-batch/b-7`) and `version` its version there.
pub fn public_events(stream: &str, version: u64, event: &Event) -> Vec<PublicEvent> {
    let by = || event.actor().id.clone();
    let mut out: Vec<(&'static str, serde_json::Value)> = Vec::new();
    match event.body() {
        EventBody::CommissionRecorded(e) => out.push(data(
            "commission.recorded",
            CommissionRecordedData {
                commission_id: e.commission_id.to_string(),
                affiliate_id: e.affiliate_id.to_string(),
                amount: (&e.amount).into(),
                hold_period_days: e.hold_period_days,
                matures_at: e.matures_at,
                source_conversion_id: e.source_conversion_id.clone(),
                order_reference: e.order_reference.clone(),
            },
        )),
        EventBody::CommissionMatured(e) => out.push(data(
            "commission.matured",
            CommissionMaturedData {
                commission_id: e.commission_id.to_string(),
                affiliate_id: e.affiliate_id.to_string(),
                amount: (&e.amount).into(),
            },
        )),
        EventBody::CommissionReversed(e) => {
            out.push(data(
                "commission.reversed",
                CommissionReversedData {
                    commission_id: e.commission_id.to_string(),
                    affiliate_id: e.affiliate_id.to_string(),
                    amount: (&e.amount).into(),
                    reason: serde_json::to_value(e.reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    stage: stage(e.stage),
                    whole: e.whole,
                    reference: e.reference.clone(),
                },
            ));
            if e.stage == CommissionStage::Matured && !e.amount.is_zero() {
                out.push(data(
                    "receivable.opened",
                    ReceivableOpenedData {
                        affiliate_id: e.affiliate_id.to_string(),
                        amount: (&e.amount).into(),
                        cause: "commission_reversed".into(),
                        commission_id: Some(e.commission_id.to_string()),
                        batch_id: None,
                        item_id: None,
                    },
                ));
            }
        }
        EventBody::CommissionAdjusted(e) => {
            out.push(data(
                "commission.adjusted",
                CommissionAdjustedData {
                    commission_id: e.commission_id.to_string(),
                    affiliate_id: e.affiliate_id.to_string(),
                    delta: (&e.delta).into(),
                    stage: stage(e.stage),
                    reason: e.reason.clone(),
                },
            ));
            if e.stage == CommissionStage::Matured && e.delta.is_negative() {
                out.push(data(
                    "receivable.opened",
                    ReceivableOpenedData {
                        affiliate_id: e.affiliate_id.to_string(),
                        amount: (&e.delta.negated()).into(),
                        cause: "commission_adjusted".into(),
                        commission_id: Some(e.commission_id.to_string()),
                        batch_id: None,
                        item_id: None,
                    },
                ));
            }
        }
        EventBody::PayoutBatchDrafted(e) => {
            out.push(data(
                "payout_batch.drafted",
                PayoutBatchDraftedData {
                    batch_id: e.batch_id.to_string(),
                    run_id: e.run_id.as_ref().map(ToString::to_string),
                    items: e.items.iter().map(Into::into).collect(),
                },
            ));
            for item in e.items.iter().filter(|i| !i.receivable_netted.is_zero()) {
                out.push(data(
                    "receivable.netted",
                    ReceivableNettedData {
                        affiliate_id: item.affiliate_id.to_string(),
                        amount: (&item.receivable_netted).into(),
                        batch_id: e.batch_id.to_string(),
                        item_id: item.item_id.to_string(),
                    },
                ));
            }
        }
        EventBody::PayoutBatchApproved(e) => out.push(data(
            "payout_batch.approved",
            PayoutBatchApprovedData {
                batch_id: e.batch_id.to_string(),
                approved_by: by(),
            },
        )),
        EventBody::PayoutBatchRejected(e) => {
            out.push(data(
                "payout_batch.rejected",
                PayoutBatchRejectedData {
                    batch_id: e.batch_id.to_string(),
                    rejected_by: by(),
                    reason: e.reason.clone(),
                },
            ));
            for item in e.released.iter().filter(|i| !i.receivable_netted.is_zero()) {
                out.push(data(
                    "receivable.opened",
                    ReceivableOpenedData {
                        affiliate_id: item.affiliate_id.to_string(),
                        amount: (&item.receivable_netted).into(),
                        cause: "payout_batch_rejected".into(),
                        commission_id: None,
                        batch_id: Some(e.batch_id.to_string()),
                        item_id: Some(item.item_id.to_string()),
                    },
                ));
            }
        }
        EventBody::PayoutItemSubmitted(e) => out.push(data(
            "payout_item.submitted",
            PayoutItemSubmittedData {
                batch_id: e.batch_id.to_string(),
                item_id: e.item_id.to_string(),
                affiliate_id: e.affiliate_id.to_string(),
                amount: (&e.amount).into(),
                processor: e.processor.as_str().to_owned(),
                processor_reference: e.processor_reference.clone(),
            },
        )),
        EventBody::PayoutItemPaid(e)
        | EventBody::PayoutItemFailed(e)
        | EventBody::PayoutItemReturned(e)
        | EventBody::PayoutItemUnclaimed(e)
        | EventBody::PayoutItemReversed(e)
            // Repeated news of an outcome already recorded (a processor's
            // notice confirming what dispatch already heard) moves nothing
            // and is not sent again: one public event per item outcome.
            if e.movement != MoneyMovement::None =>
        {
            out.push(data(
            event.type_name(),
            PayoutItemOutcomeData {
                batch_id: e.batch_id.to_string(),
                item_id: e.item_id.to_string(),
                affiliate_id: e.affiliate_id.to_string(),
                amount: (&e.amount).into(),
                processor: e.processor.as_str().to_owned(),
                processor_event_id: e.processor_event_id.clone(),
                reason: e.reason.clone(),
                reversed_total: e.reversed_total.as_ref().map(Into::into),
            },
        ))
        }
        EventBody::ReconciliationMismatchFound(e) => out.push(data(
            "reconciliation.mismatch_found",
            ReconciliationMismatchFoundData {
                run_id: e.run_id.to_string(),
                processor: e.processor.as_str().to_owned(),
                kind: e.kind.clone(),
                report: e.report.clone(),
                line: e.line,
                processor_reference: e.processor_reference.clone(),
                batch_id: e.batch_id.clone(),
                item_id: e.item_id.clone(),
                ledger_amount: e.ledger_amount.as_ref().map(Into::into),
                report_amount: e.report_amount.as_ref().map(Into::into),
            },
        )),
        EventBody::StatementPublished(e) => out.push(data(
            "statement.published",
            StatementPublishedData {
                affiliate_id: e.affiliate_id.to_string(),
                currency: e.currency.clone(),
                period: e.period.clone(),
                time_zone: e.time_zone.clone(),
                period_start: e.period_start,
                period_end: e.period_end,
                version: e.version,
                supersedes: e.supersedes,
                reason: e.reason.clone(),
                closing_available: (&e.closing_available).into(),
                closing_receivable: (&e.closing_receivable).into(),
                content_sha256: e.content_sha256.clone(),
            },
        )),
        EventBody::PayoutItemPaid(_)
        | EventBody::PayoutItemFailed(_)
        | EventBody::PayoutItemReturned(_)
        | EventBody::PayoutItemUnclaimed(_)
        | EventBody::PayoutItemReversed(_) => {}
        // Internal bookkeeping (claims, tallies, profiles with payout
        // methods, draft registrations, skipped runs, unmatched notices,
        // resolutions, run lists) is not part of the public contract.
        EventBody::PayoutItemClaimed(_)
        | EventBody::PayoutApprovalTallied(_)
        | EventBody::PayoutProfileChanged(_)
        | EventBody::PayoutDraftRegistered(_)
        | EventBody::PayoutRunSkipped(_)
        | EventBody::ProcessorNoticeUnmatched(_)
        | EventBody::ReconciliationMismatchResolved(_)
        | EventBody::ReconciliationRunRecorded(_) => {}
    }
    let tenant = event.tenant_id().to_string();
    let public_stream = stream
        .strip_prefix(&format!("{tenant}/"))
        .unwrap_or(stream)
        .to_owned();
    out.into_iter()
        .enumerate()
        .map(|(index, (event_type, data))| {
            debug_assert!(is_public_type(event_type), "{event_type} is not listed");
            PublicEvent {
                id: public_event_id(stream, version, index, event.recorded_at()),
                event_type: event_type.to_owned(),
                version: PUBLIC_EVENT_VERSION,
                tenant_id: tenant.clone(),
                created_at: event.recorded_at(),
                occurred_at: event.effective_at(),
                stream: public_stream.clone(),
                stream_version: version,
                data,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_type_is_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for t in PUBLIC_EVENT_TYPES {
            assert!(seen.insert(*t), "{t} listed twice");
        }
        assert!(!is_public_type("payout_item.claimed"));
        assert!(is_public_type("payout_item.paid"));
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        let later = at + chrono::Duration::microseconds(1);
        let a = public_event_id("t1/commission/c-1", 1, 0, at);
        assert_eq!(a, public_event_id("t1/commission/c-1", 1, 0, at));
        assert_ne!(a, public_event_id("t1/commission/c-1", 1, 1, at));
        assert_ne!(a, public_event_id("t2/commission/c-1", 1, 0, at));
        assert!(public_event_id("t0/commission/c-0", 1, 0, later) > a);
        assert_eq!(a.len(), 4 + 32);
    }
}
