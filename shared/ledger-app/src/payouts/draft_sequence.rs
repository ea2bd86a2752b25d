//! Drafting at the tenant's draft sequence: one explicit batch, a drafting
//! run's batches, and reading how far the sequence is.

use event_store::{AppendRequest, EventStore, StoreError, StreamId};
use ledger_domain::events::{AggregateRef, DraftedItem, EventBody, stream_name};
use ledger_domain::{
    CommandContext, Event, Money, PayoutBatch, PayoutBatchCommand, PayoutBatchId, TenantId,
};

use super::draft::{DraftOptions, DraftReport, DraftedBatchSummary, Pending, skip_request};
use crate::AppError;

/// Drafts one batch of explicit items at draft sequence `after_sequence`
/// (the number of the tenant's drafted batches the caller's balances
/// include: `PayoutReads::batches_drafted` for projected balances). Fails
/// with `DraftSequenceMoved`, writing nothing, if the sequence moved on.
pub async fn draft_batch<S: EventStore + ?Sized>(
    store: &S,
    ctx: &CommandContext,
    batch_id: &PayoutBatchId,
    items: Vec<DraftedItem>,
    after_sequence: u64,
) -> Result<Vec<Event>, AppError> {
    let events = PayoutBatch::default().handle(
        PayoutBatchCommand::Draft {
            batch_id: batch_id.clone(),
            items,
            sequence: after_sequence + 1,
            run_id: None,
        },
        ctx,
    )?;
    let [drafted, registered] = &events[..] else {
        unreachable!("a draft decides the batch and its registration");
    };
    let requests = vec![
        AppendRequest::from_domain(0, std::slice::from_ref(drafted))?,
        AppendRequest::from_domain(after_sequence, std::slice::from_ref(registered))?,
    ];
    match store.append_transaction(requests).await {
        Ok(_) => Ok(events),
        Err(StoreError::VersionConflict { stream, .. }) if stream.ends_with("/payout-drafts") => {
            Err(AppError::DraftSequenceMoved {
                applied: after_sequence,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// How many batches the tenant has drafted, from its `payout-drafts` stream
/// (the source of truth; drafting compares it with the projection).
pub async fn drafts_sequence<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
) -> Result<u64, AppError> {
    let stream = StreamId::new(stream_name(tenant_id, AggregateRef::PayoutDrafts))?;
    let mut from = 1;
    loop {
        let page = store
            .read_stream(&stream, from, event_store::READ_LIMIT_MAX)
            .await?;
        from += page.len() as u64;
        if page.len() < event_store::READ_LIMIT_MAX {
            return Ok(from - 1);
        }
    }
}

/// Batch ids follow the tenant's draft sequence, so two drafts racing for
/// the same sequence also race for the same batch stream.
pub(super) fn batch_id_for(sequence: u64) -> Result<PayoutBatchId, AppError> {
    Ok(PayoutBatchId::new(format!("pb-{sequence:06}"))?)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn flush_batch<S: EventStore + ?Sized>(
    store: &S,
    ctx: &CommandContext,
    options: &DraftOptions,
    drafts_stream: &StreamId,
    run_stream: &StreamId,
    run_version: &mut u64,
    sequence: &mut u64,
    pending: &mut Pending,
    report: &mut DraftReport,
) -> Result<(), AppError> {
    let next = *sequence + 1;
    let batch_id = match pending.batch_id.take() {
        Some(id) => id,
        None => batch_id_for(next)?,
    };
    let items = std::mem::replace(
        &mut pending.items,
        Vec::with_capacity(options.items_per_batch),
    );
    let events = PayoutBatch::default().handle(
        PayoutBatchCommand::Draft {
            batch_id: batch_id.clone(),
            items,
            sequence: next,
            run_id: Some(options.run_id.clone()),
        },
        ctx,
    )?;
    let [drafted, registered] = &events[..] else {
        unreachable!("a draft decides the batch and its registration");
    };
    let mut requests = vec![
        AppendRequest::from_domain(0, std::slice::from_ref(drafted))?,
        AppendRequest::from_domain(*sequence, std::slice::from_ref(registered))?,
    ];
    let skipped = std::mem::take(&mut pending.skipped);
    let skipped_n = skipped.len();
    if !skipped.is_empty() {
        requests.push(skip_request(
            ctx,
            options,
            run_stream,
            *run_version,
            skipped,
        )?);
    }
    debug_assert_eq!(requests[1].stream.as_str(), drafts_stream.as_str());
    match store.append_transaction(requests).await {
        Ok(_) => {}
        Err(StoreError::VersionConflict { .. }) => {
            return Err(AppError::DraftSequenceMoved { applied: *sequence });
        }
        Err(e) => return Err(e.into()),
    }
    if skipped_n > 0 {
        *run_version += 1;
    }
    *sequence = next;
    let EventBody::PayoutBatchDrafted(drafted) = drafted.body() else {
        unreachable!("the first event of a draft is the drafted batch");
    };
    let items = &drafted.items;
    let mut totals: Vec<Money> = Vec::new();
    for item in items {
        match totals
            .iter_mut()
            .find(|t| t.currency() == item.amount.currency())
        {
            Some(t) => {
                *t = t
                    .checked_add(&item.amount)
                    .map_err(ledger_domain::PayoutBatchError::from)?
            }
            None => totals.push(item.amount),
        }
    }
    report.items += items.len();
    report.skipped += skipped_n;
    report.batches.push(DraftedBatchSummary {
        batch_id,
        sequence: next,
        items: items.len(),
        totals,
    });
    report.next = pending.token(&ctx.tenant_id);
    Ok(())
}
