//! Polling processors about submitted items no notice has settled.

use event_store::{EventStore, StreamId};
use ledger_domain::events::{AggregateRef, EventBody, stream_name};
use ledger_domain::payout::ItemStatus;
use ledger_domain::{
    CommandContext, ItemOutcome, OutcomeFacts, PayoutBatch, PayoutBatchCommand, TenantId,
};
use serde::Serialize;

use super::batches::drafted_batch_ids;
use super::dispatch::order_for;
use super::ports::{
    DispatchMessage, PaymentOrder, PaymentStatus, ProcessorPorts, ProcessorRegistry,
};
use super::profile::load_profile;
use crate::{AppError, load};

/// What one poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PollReport {
    /// Submitted items with no news for longer than asked.
    pub stale: usize,
    /// Of which the processor said they are paid or failed (recorded).
    pub settled: usize,
    /// Of which the processor could not say (left for the next poll).
    pub unknown: usize,
}

/// Asks the processors about items submitted more than `older_than` ago
/// that no notification has settled, so a lost webhook cannot strand
/// money. Only processors with a status flow are asked (SEPA settles by
/// the bank's status files). Bounded: at most `limit` items per call.
pub async fn poll_stale_items<S, P>(
    store: &S,
    processors: &P,
    tenant_id: &TenantId,
    older_than: chrono::Duration,
    limit: usize,
    ctx: &CommandContext,
) -> Result<PollReport, AppError>
where
    S: EventStore + ?Sized,
    P: ProcessorRegistry + ?Sized,
{
    let mut report = PollReport::default();
    let batch_ids = drafted_batch_ids(store, tenant_id).await?;
    // Newest first: stale items are most likely in recent batches.
    for batch_id in batch_ids.into_iter().rev() {
        let stream = StreamId::new(stream_name(tenant_id, AggregateRef::PayoutBatch(&batch_id)))?;
        let events = load(store, &stream).await?;
        let batch = PayoutBatch::from_events(&events);
        let Some(state) = batch.state() else { continue };
        for item in &state.items {
            if report.stale >= limit {
                return Ok(report);
            }
            if item.status != ItemStatus::Submitted {
                continue;
            }
            let submitted_at = events.iter().rev().find_map(|e| match e.body() {
                EventBody::PayoutItemSubmitted(s) if s.item_id == item.drafted.item_id => {
                    Some(e.recorded_at())
                }
                _ => None,
            });
            if submitted_at.is_none_or(|at| ctx.now - at < older_than) {
                continue;
            }
            let Some(ProcessorPorts::Api { status, .. }) = processors.ports(item.drafted.processor)
            else {
                continue;
            };
            report.stale += 1;
            let profile = load_profile(store, tenant_id, &item.drafted.affiliate_id).await?;
            let Some(method) = profile.profile().method.clone() else {
                report.unknown += 1;
                continue;
            };
            let order = PaymentOrder {
                reference: item.reference.clone(),
                ..order_for(tenant_id, &batch_id, &item.drafted, method)
            };
            let (outcome, reference, reason) = match status.status(&order).await {
                Ok(Some(PaymentStatus::Paid { reference })) => (ItemOutcome::Paid, reference, None),
                Ok(Some(PaymentStatus::Failed { reference, reason })) => (
                    ItemOutcome::Failed,
                    reference.unwrap_or_default(),
                    Some(reason),
                ),
                _ => {
                    report.unknown += 1;
                    continue;
                }
            };
            let message = DispatchMessage {
                tenant_id: tenant_id.clone(),
                batch_id: batch_id.clone(),
                item_id: item.drafted.item_id.clone(),
            };
            crate::run_payout_batch(
                store,
                &message.batch_id,
                PayoutBatchCommand::RecordOutcome {
                    item_id: message.item_id.clone(),
                    outcome,
                    processor_event_id: Some(format!("poll:{reference}:{outcome:?}")),
                    reason,
                    // Asked by the item's own key: the answer is about it.
                    facts: OutcomeFacts {
                        processor: Some(item.drafted.processor),
                        ..OutcomeFacts::default()
                    },
                },
                ctx,
                None,
            )
            .await?;
            report.settled += 1;
        }
    }
    Ok(report)
}
