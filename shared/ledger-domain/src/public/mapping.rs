//! The mapping from stored events to the public events they give.

use serde::Serialize;

use super::data::{
    CommissionAdjustedData, CommissionMaturedData, CommissionRecordedData, CommissionReversedData,
    PayoutBatchApprovedData, PayoutBatchDraftedData, PayoutBatchRejectedData,
    PayoutItemOutcomeData, PayoutItemSubmittedData, ReceivableNettedData, ReceivableOpenedData,
    ReconciliationMismatchFoundData, StatementPublishedData,
};
use super::envelope::{PUBLIC_EVENT_VERSION, PublicEvent, is_public_type, public_event_id};
use crate::events::{CommissionStage, Event, EventBody, MoneyMovement};

fn stage(s: CommissionStage) -> String {
    match s {
        CommissionStage::Pending => "pending",
        CommissionStage::Matured => "matured",
    }
    .to_owned()
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
