//! Drafting: runs walking the payout candidates, planning each one and
//! recording the affiliates left out; one explicit batch; the writes at the
//! tenant's draft sequence.

use event_store::{AppendRequest, EventStore, PayoutReads, StoreError, StreamId};
use ledger_domain::events::{
    AggregateRef, DraftedItem, EventBody, PayoutRunSkipped, SkippedPayee, stream_name,
};
use ledger_domain::payout::PAYOUT_ITEMS_PER_BATCH_MAX;
use ledger_domain::{
    AffiliateId, CommandContext, Currency, Event, Money, PayoutBatch, PayoutBatchCommand,
    PayoutBatchId, PayoutItemId, PayoutRunId, Planned, TenantId, plan_payout,
};
use serde::Serialize;

use crate::{AppError, load};

/// Skip records per `payout_run.skipped` event.
pub const SKIPS_PER_EVENT_MAX: usize = 500;
/// Candidates read per page while drafting.
const CANDIDATES_PER_PAGE: usize = 1000;

/// What a drafting run is asked to do.
#[derive(Debug, Clone)]
pub struct DraftOptions {
    pub run_id: PayoutRunId,
    /// Only this currency, if set.
    pub currency: Option<Currency>,
    /// Minimums for affiliates whose profile sets none.
    pub default_minimums: Vec<Money>,
    /// Resume after this token (the `next` of an earlier run).
    pub after: Option<String>,
    /// Stop after this many batches; `next` says where to resume.
    pub max_batches: usize,
    /// Items per batch (at most `PAYOUT_ITEMS_PER_BATCH_MAX`).
    pub items_per_batch: usize,
}

impl DraftOptions {
    pub fn new(run_id: PayoutRunId) -> Self {
        DraftOptions {
            run_id,
            currency: None,
            default_minimums: Vec::new(),
            after: None,
            max_batches: 20,
            items_per_batch: PAYOUT_ITEMS_PER_BATCH_MAX,
        }
    }
}

/// One batch a run drafted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DraftedBatchSummary {
    pub batch_id: PayoutBatchId,
    pub sequence: u64,
    pub items: usize,
    /// Total per currency.
    pub totals: Vec<Money>,
}

/// What a drafting run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DraftReport {
    pub run_id: PayoutRunId,
    pub batches: Vec<DraftedBatchSummary>,
    pub items: usize,
    /// Affiliates left out (each with its reason in the run's skip records).
    pub skipped: usize,
    /// Where to resume; `None` when every candidate was considered.
    pub next: Option<String>,
}

pub(super) struct Pending {
    pub(super) items: Vec<DraftedItem>,
    pub(super) skipped: Vec<SkippedPayee>,
    /// Where to resume after the last candidate considered: the resume
    /// token given, or (affiliate, currency), formatted only when needed.
    pub(super) resume: Option<String>,
    pub(super) last: Option<(AffiliateId, Currency)>,
    /// The id of the batch being filled.
    pub(super) batch_id: Option<PayoutBatchId>,
}

impl Pending {
    pub(super) fn token(&self, tenant_id: &TenantId) -> Option<String> {
        match &self.last {
            Some((affiliate, currency)) => Some(format!(
                "{tenant_id}/affiliate/{affiliate} {}",
                currency.code()
            )),
            None => self.resume.clone(),
        }
    }
}

/// Drafts batches for every affiliate and currency whose available balance
/// reaches its minimum: bounded, resumable, and never twice for the same
/// money (see the module documentation).
pub async fn draft_payouts<S, R>(
    store: &S,
    reads: &R,
    ctx: &CommandContext,
    options: &DraftOptions,
) -> Result<DraftReport, AppError>
where
    S: EventStore + ?Sized,
    R: PayoutReads + ?Sized,
{
    if options.items_per_batch == 0 || options.items_per_batch > PAYOUT_ITEMS_PER_BATCH_MAX {
        return Err(AppError::Store(StoreError::InvalidInput {
            field: "items_per_batch",
            reason: format!("must be 1 to {PAYOUT_ITEMS_PER_BATCH_MAX}"),
        }));
    }
    if options.max_batches == 0 {
        return Err(AppError::Store(StoreError::InvalidInput {
            field: "max_batches",
            reason: "must be at least 1".to_owned(),
        }));
    }
    let tenant_id = &ctx.tenant_id;
    // Balances that miss a parked event would be paid from wrongly.
    let parked = reads.parked_events(tenant_id).await?;
    if let Some(first) = parked.first() {
        return Err(AppError::ProjectionParked {
            tenant: tenant_id.to_string(),
            stream: first.stream.clone(),
            version: first.version,
            count: parked.len(),
        });
    }
    let drafts_stream = StreamId::new(stream_name(tenant_id, AggregateRef::PayoutDrafts))?;
    let run_stream = StreamId::new(stream_name(
        tenant_id,
        AggregateRef::PayoutRun(&options.run_id),
    ))?;
    let mut run_version = load(store, &run_stream).await?.len() as u64;
    let mut sequence = reads.batches_drafted(tenant_id).await?;
    let mut report = DraftReport {
        run_id: options.run_id.clone(),
        batches: Vec::new(),
        items: 0,
        skipped: 0,
        next: options.after.clone(),
    };
    let mut pending = Pending {
        items: Vec::with_capacity(options.items_per_batch),
        skipped: Vec::new(),
        resume: options.after.clone(),
        last: None,
        batch_id: None,
    };
    let mut after = options.after.clone();
    loop {
        let page = reads
            .payout_candidates(tenant_id, after.as_deref(), CANDIDATES_PER_PAGE)
            .await?;
        for candidate in &page.candidates {
            let currency = candidate.available.currency();
            pending.last = Some((candidate.affiliate_id.clone(), currency));
            if options.currency.is_some_and(|c| c != currency) {
                continue;
            }
            let default_minimum = options
                .default_minimums
                .iter()
                .find(|m| m.currency() == currency)
                .copied();
            match plan_payout(candidate, default_minimum) {
                Planned::Nothing => {}
                Planned::Skip(reason) => {
                    pending.skipped.push(SkippedPayee {
                        affiliate_id: candidate.affiliate_id.clone(),
                        available: candidate.available,
                        reason,
                    });
                    if pending.skipped.len() >= SKIPS_PER_EVENT_MAX {
                        record_skips(
                            store,
                            ctx,
                            options,
                            &run_stream,
                            &mut run_version,
                            &mut pending,
                            &mut report,
                        )
                        .await?;
                    }
                }
                Planned::Pay {
                    amount,
                    receivable_netted,
                    processor,
                    destination,
                } => {
                    let batch_id = match &pending.batch_id {
                        Some(id) => id,
                        None => pending.batch_id.insert(batch_id_for(sequence + 1)?),
                    };
                    let item_id =
                        PayoutItemId::new(format!("{batch_id}.{}", pending.items.len() + 1))?;
                    pending.items.push(DraftedItem {
                        item_id,
                        affiliate_id: candidate.affiliate_id.clone(),
                        amount,
                        receivable_netted,
                        processor,
                        destination: Some(destination),
                    });
                    if pending.items.len() >= options.items_per_batch {
                        let flushed = flush_batch(
                            store,
                            ctx,
                            options,
                            &drafts_stream,
                            &run_stream,
                            &mut run_version,
                            &mut sequence,
                            &mut pending,
                            &mut report,
                        )
                        .await?;
                        if flushed == Flushed::SequenceMoved
                            || report.batches.len() >= options.max_batches
                        {
                            return Ok(report);
                        }
                    }
                }
            }
        }
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    if !pending.items.is_empty() {
        let flushed = flush_batch(
            store,
            ctx,
            options,
            &drafts_stream,
            &run_stream,
            &mut run_version,
            &mut sequence,
            &mut pending,
            &mut report,
        )
        .await?;
        if flushed == Flushed::SequenceMoved {
            return Ok(report);
        }
    }
    if !pending.skipped.is_empty() {
        record_skips(
            store,
            ctx,
            options,
            &run_stream,
            &mut run_version,
            &mut pending,
            &mut report,
        )
        .await?;
    }
    report.next = None;
    Ok(report)
}

pub(super) fn skip_request(
    ctx: &CommandContext,
    options: &DraftOptions,
    run_stream: &StreamId,
    run_version: u64,
    skipped: Vec<SkippedPayee>,
) -> Result<AppendRequest, AppError> {
    let event = Event::new(
        ctx.tenant_id.clone(),
        ctx.actor.clone(),
        ctx.now,
        ctx.effective_at,
        EventBody::PayoutRunSkipped(PayoutRunSkipped {
            run_id: options.run_id.clone(),
            skipped,
        }),
    );
    debug_assert_eq!(event.stream_name(), run_stream.as_str());
    Ok(AppendRequest::from_domain(run_version, &[event])?)
}

async fn record_skips<S: EventStore + ?Sized>(
    store: &S,
    ctx: &CommandContext,
    options: &DraftOptions,
    run_stream: &StreamId,
    run_version: &mut u64,
    pending: &mut Pending,
    report: &mut DraftReport,
) -> Result<(), AppError> {
    let skipped = std::mem::take(&mut pending.skipped);
    let n = skipped.len();
    let request = skip_request(ctx, options, run_stream, *run_version, skipped)?;
    store.append(request).await?;
    *run_version += 1;
    report.skipped += n;
    Ok(())
}

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

/// What drafting a run's pending batch came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flushed {
    Landed,
    /// A later batch of the run lost the draft sequence to a concurrent
    /// draft: the run stops here, resumable from what landed. (The run's
    /// first batch losing it is the caller's `DraftSequenceMoved`.)
    SequenceMoved,
}

/// Drafts the pending batch, with the skips noted so far, in one write.
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
) -> Result<Flushed, AppError> {
    let first = report.batches.is_empty();
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
        Err(StoreError::VersionConflict { .. }) if !first => return Ok(Flushed::SequenceMoved),
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
    Ok(Flushed::Landed)
}
