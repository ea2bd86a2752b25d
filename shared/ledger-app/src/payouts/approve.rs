//! Approving payout batches and enqueueing their items for dispatch.

use event_store::{AppendRequest, EventStore, StoreError, StreamId};
use ledger_domain::events::{AggregateRef, ApprovalAuthority, EventBody, stream_name};
use ledger_domain::payout::ItemStatus;
use ledger_domain::{
    ApprovalLimits, CommandContext, Money, PayoutBatch, PayoutBatchCommand, PayoutBatchId, TenantId,
};

use super::batches::load_batch;
use super::ports::{DispatchMessage, DispatchQueue};
use crate::{AppError, COMMAND_ATTEMPTS_MAX, Executed, load};

/// Approves a batch, then asks for every item to be paid.
///
/// The approval and its tally in the approver's day stream are appended
/// in one transaction, each at the version read: the daily limit per
/// approver holds even when one person approves several batches at once.
pub async fn approve_batch<S, Q>(
    store: &S,
    queue: &Q,
    batch_id: &PayoutBatchId,
    authority: ApprovalAuthority,
    limits: &ApprovalLimits,
    ctx: &CommandContext,
) -> Result<(Executed, usize), AppError>
where
    S: EventStore + ?Sized,
    Q: DispatchQueue + ?Sized,
{
    let executed = approve(store, batch_id, authority, limits, ctx).await?;
    let queued = enqueue_awaiting(store, queue, &ctx.tenant_id, batch_id).await?;
    Ok((executed, queued))
}

/// Approves a batch (four eyes, limits, the approver's day), without
/// enqueueing its items.
pub async fn approve<S: EventStore + ?Sized>(
    store: &S,
    batch_id: &PayoutBatchId,
    authority: ApprovalAuthority,
    limits: &ApprovalLimits,
    ctx: &CommandContext,
) -> Result<Executed, AppError> {
    let batch_stream = StreamId::new(stream_name(
        &ctx.tenant_id,
        AggregateRef::PayoutBatch(batch_id),
    ))?;
    let day = ledger_domain::payout::approval_day(ctx.now);
    let tally_stream = StreamId::new(stream_name(
        &ctx.tenant_id,
        AggregateRef::PayoutApprovals(&ctx.actor.id, day),
    ))?;
    let mut attempt = 0;
    let executed = loop {
        attempt += 1;
        let history = load(store, &batch_stream).await?;
        let batch = PayoutBatch::from_events(&history);
        let tallies = load(store, &tally_stream).await?;
        let mut approved_today: Vec<Money> = Vec::new();
        for event in &tallies {
            if let EventBody::PayoutApprovalTallied(t) = event.body() {
                for total in &t.totals {
                    match approved_today
                        .iter_mut()
                        .find(|m| m.currency() == total.currency())
                    {
                        Some(sum) => {
                            *sum = sum
                                .checked_add(total)
                                .map_err(ledger_domain::PayoutBatchError::from)?
                        }
                        None => approved_today.push(*total),
                    }
                }
            }
        }
        let events = batch.handle(
            PayoutBatchCommand::Approve {
                authority,
                limits: limits.clone(),
                approved_today,
            },
            ctx,
        )?;
        let [approved, tallied] = &events[..] else {
            unreachable!("an approval decides the approval and its tally");
        };
        let requests = vec![
            AppendRequest::from_domain(batch.version(), std::slice::from_ref(approved))?,
            AppendRequest::from_domain(tallies.len() as u64, std::slice::from_ref(tallied))?,
        ];
        match store.append_transaction(requests).await {
            Ok(mut appended) => {
                break Executed {
                    events: vec![approved.clone()],
                    appended: appended.remove(0),
                };
            }
            Err(StoreError::VersionConflict { .. }) if attempt < COMMAND_ATTEMPTS_MAX => {
                crate::after_conflict(attempt).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    };
    Ok(executed)
}

/// Enqueues every item of an approved batch not yet sent to its
/// processor. Safe to repeat: the dispatcher pays an item at most once.
pub async fn enqueue_awaiting<S, Q>(
    store: &S,
    queue: &Q,
    tenant_id: &TenantId,
    batch_id: &PayoutBatchId,
) -> Result<usize, AppError>
where
    S: EventStore + ?Sized,
    Q: DispatchQueue + ?Sized,
{
    let batch = load_batch(store, tenant_id, batch_id).await?;
    let Some(state) = batch.state() else {
        return Err(ledger_domain::PayoutBatchError::NotDrafted.into());
    };
    if state.status != ledger_domain::payout::BatchStatus::Approved {
        return Err(ledger_domain::PayoutBatchError::NotApproved(batch_id.clone()).into());
    }
    let messages: Vec<DispatchMessage> = state
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Awaiting)
        .map(|i| DispatchMessage {
            tenant_id: tenant_id.clone(),
            batch_id: batch_id.clone(),
            item_id: i.drafted.item_id.clone(),
        })
        .collect();
    if !messages.is_empty() {
        queue.enqueue(&messages).await?;
    }
    Ok(messages.len())
}
