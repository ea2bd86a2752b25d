//! Payout use cases: profiles, drafting, approval, and dispatch through
//! processor ports.
//!
//! Drafting reads balances from the projection, which lags the events. Two
//! things keep it from reserving the same money twice:
//! - every drafted batch is registered in the tenant's `payout-drafts`
//!   stream, in the same transaction, at the sequence number the projection
//!   says it has applied. If a drafted batch is not projected yet, or
//!   another draft registered first, the append fails on the stream
//!   version and nothing is written;
//! - within one run, each (affiliate, currency) is read once.
//!
//! Nor from balances that miss an event: while the projection has parked
//! one of the tenant's events (could not project it and set it aside, see
//! `PayoutReads::parked_events`), drafting refuses with
//! `AppError::ProjectionParked`.
//!
//! Dispatch never pays an item twice: an item already submitted is not
//! submitted again, every processor call carries the item's idempotency
//! key, and an unknown outcome (timeout, 5xx) is resolved by asking the
//! processor before any retry.

use async_trait::async_trait;
use event_store::{AppendRequest, EventStore, PayoutReads, StoreError, StreamId};
use ledger_domain::events::{
    AggregateRef, ApprovalAuthority, DraftedItem, EventBody, PayoutRunSkipped, SkippedPayee,
    stream_name,
};
use ledger_domain::payout::{ItemStatus, PAYOUT_ITEMS_PER_BATCH_MAX};
use ledger_domain::{
    AffiliateId, ApprovalLimits, CommandContext, Currency, Event, ItemOutcome, Money, OutcomeFacts,
    PayoutBatch, PayoutBatchCommand, PayoutBatchId, PayoutItemId, PayoutMethod, PayoutRunId,
    Planned, ProfileAggregate, ProfileChange, TenantId, plan_payout,
};
use serde::{Deserialize, Serialize};

use crate::{AppError, COMMAND_ATTEMPTS_MAX, Executed, load};

/// Skip records per `payout_run.skipped` event.
pub const SKIPS_PER_EVENT_MAX: usize = 500;
/// Candidates read per page while drafting.
const CANDIDATES_PER_PAGE: usize = 1000;

/// Runs a change against an affiliate's payout profile.
pub async fn change_profile<S: EventStore + ?Sized>(
    store: &S,
    affiliate_id: &AffiliateId,
    change: ProfileChange,
    ctx: &CommandContext,
) -> Result<Vec<Event>, AppError> {
    let stream = StreamId::new(stream_name(
        &ctx.tenant_id,
        AggregateRef::PayoutProfile(affiliate_id),
    ))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let history = load(store, &stream).await?;
        let aggregate = ProfileAggregate::from_events(&history);
        let events = aggregate.handle(affiliate_id, change.clone(), ctx)?;
        if events.is_empty() {
            return Ok(events);
        }
        let request = AppendRequest::from_domain(aggregate.version(), &events)?;
        match store.append(request).await {
            Ok(_) => return Ok(events),
            Err(StoreError::VersionConflict { .. }) if attempt < COMMAND_ATTEMPTS_MAX => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// An affiliate's payout profile, from its events (the source of truth).
pub async fn load_profile<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
    affiliate_id: &AffiliateId,
) -> Result<ProfileAggregate, AppError> {
    let stream = StreamId::new(stream_name(
        tenant_id,
        AggregateRef::PayoutProfile(affiliate_id),
    ))?;
    Ok(ProfileAggregate::from_events(&load(store, &stream).await?))
}

/// One payout batch, from its events.
pub async fn load_batch<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
    batch_id: &PayoutBatchId,
) -> Result<PayoutBatch, AppError> {
    let stream = StreamId::new(stream_name(tenant_id, AggregateRef::PayoutBatch(batch_id)))?;
    Ok(PayoutBatch::from_events(&load(store, &stream).await?))
}

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

struct Pending {
    items: Vec<DraftedItem>,
    skipped: Vec<SkippedPayee>,
    /// Where to resume after the last candidate considered: the resume
    /// token given, or (affiliate, currency), formatted only when needed.
    resume: Option<String>,
    last: Option<(AffiliateId, Currency)>,
    /// The id of the batch being filled.
    batch_id: Option<PayoutBatchId>,
}

impl Pending {
    fn token(&self, tenant_id: &TenantId) -> Option<String> {
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
                        let first = report.batches.is_empty();
                        match flush_batch(
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
                        .await
                        {
                            Ok(()) => {}
                            // A later batch lost the sequence to a concurrent
                            // draft: stop here, resumable from what landed.
                            Err(AppError::DraftSequenceMoved { .. }) if !first => {
                                return Ok(report);
                            }
                            Err(e) => return Err(e),
                        }
                        if report.batches.len() >= options.max_batches {
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
        let first = report.batches.is_empty();
        match flush_batch(
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
        .await
        {
            Ok(()) => {}
            Err(AppError::DraftSequenceMoved { .. }) if !first => return Ok(report),
            Err(e) => return Err(e),
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
fn batch_id_for(sequence: u64) -> Result<PayoutBatchId, AppError> {
    Ok(PayoutBatchId::new(format!("pb-{sequence:06}"))?)
}

fn skip_request(
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

#[allow(clippy::too_many_arguments)]
async fn flush_batch<S: EventStore + ?Sized>(
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

/// A message asking the dispatcher to pay one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchMessage {
    pub tenant_id: TenantId,
    pub batch_id: PayoutBatchId,
    pub item_id: PayoutItemId,
}

/// Where dispatch messages go (SQS in AWS, an in-process queue locally).
#[async_trait]
pub trait DispatchQueue: Send + Sync {
    async fn enqueue(&self, messages: &[DispatchMessage]) -> Result<(), StoreError>;
}

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
            Err(StoreError::VersionConflict { .. }) if attempt < COMMAND_ATTEMPTS_MAX => continue,
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

/// One payment a processor is asked to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOrder {
    pub tenant_id: TenantId,
    pub batch_id: PayoutBatchId,
    pub item_id: PayoutItemId,
    pub affiliate_id: AffiliateId,
    pub amount: Money,
    pub method: PayoutMethod,
    /// Unique per item across tenants; sent as the processor's idempotency
    /// key on every attempt.
    pub idempotency_key: String,
    /// The processor's reference, once the item was submitted (PayPal's
    /// payout batch id): a status lookup reads it directly.
    pub reference: Option<String>,
}

/// What a processor answered to a submission or a status query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Taken, not settled yet (a webhook or the poller will say more).
    Accepted { reference: String },
    /// Paid.
    Paid { reference: String },
    /// Refused or failed for good: the money comes back.
    Failed {
        reference: Option<String>,
        reason: String,
    },
}

/// A processor call that did not give a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessorError {
    /// Timeout, connection loss or 5xx: the payment may or may not exist.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// This product's request or configuration is wrong (4xx other than a
    /// refusal of the payment itself): retrying will not help.
    #[error("processor refused the request: {0}")]
    Invalid(String),
}

/// Submits a payment. One small trait per flow.
#[async_trait]
pub trait SubmitPayment: Send + Sync {
    async fn submit(&self, order: &PaymentOrder) -> Result<PaymentStatus, ProcessorError>;
}

/// Asks a processor what became of a payment (by its idempotency key or
/// reference). `Ok(None)`: the processor has no such payment.
#[async_trait]
pub trait FetchPaymentStatus: Send + Sync {
    async fn status(&self, order: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError>;
}

/// A processor paid by one file per batch and currency (SEPA credit
/// transfers): the first of the batch's items to be dispatched writes the
/// file for all of them; the others find themselves in it.
#[async_trait]
pub trait SubmitBatchFile: Send + Sync {
    /// Where the file of this batch and currency is kept.
    fn file_key(
        &self,
        tenant_id: &TenantId,
        batch_id: &PayoutBatchId,
        currency: Currency,
    ) -> String;
    /// The payment ids in the file, or `None` if it was not written yet.
    async fn payment_ids(&self, key: &str) -> Result<Option<Vec<String>>, ProcessorError>;
    /// Writes the file for these orders, never replacing an existing one.
    /// Returns the payment ids it holds (those of the file already there,
    /// if another dispatcher wrote it first).
    async fn write(
        &self,
        key: &str,
        orders: &[PaymentOrder],
    ) -> Result<Vec<String>, ProcessorError>;
    /// The id of an order's payment in the file (its end-to-end id).
    fn payment_id(&self, order: &PaymentOrder) -> String;
}

/// A processor's flows.
pub enum ProcessorPorts<'a> {
    /// Paid one payment at a time over an API.
    Api {
        submit: &'a dyn SubmitPayment,
        status: &'a dyn FetchPaymentStatus,
    },
    /// Paid by a file per batch and currency.
    File(&'a dyn SubmitBatchFile),
}

/// The processors configured in this deployment.
pub trait ProcessorRegistry: Send + Sync {
    fn ports(&self, processor: ledger_domain::Processor) -> Option<ProcessorPorts<'_>>;
}

/// What dispatching one item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatched {
    /// Sent (accepted, or already paid by the processor's answer).
    Submitted { reference: String, paid: bool },
    /// The processor refused it, or it cannot be paid as drafted: the
    /// money went back to available.
    Failed { reason: String },
    /// Already sent or settled earlier (a redelivered message), or its
    /// batch is not payable: nothing done.
    AlreadyHandled,
}

/// Why dispatching must be retried later (the message stays queued).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("payment outcome unknown, will ask again: {0}")]
    Unknown(String),
    /// Another dispatcher holds the item (a redelivery racing the first
    /// delivery): left to it; the message comes back after the queue's
    /// visibility timeout and finds the item settled or the lease over.
    #[error("item is being sent by another dispatcher until {0}")]
    InFlight(chrono::DateTime<chrono::Utc>),
    #[error(transparent)]
    App(#[from] AppError),
}

/// Pays one item, exactly once (see the module documentation). `ctx`'s
/// actor is the dispatcher. The processor is always asked first: an
/// earlier attempt (a redelivery, a re-drive, a second message for the same
/// item) may have reached it with an outcome nobody recorded.
pub async fn dispatch_item<S, P>(
    store: &S,
    processors: &P,
    message: &DispatchMessage,
    ctx: &CommandContext,
) -> Result<Dispatched, DispatchError>
where
    S: EventStore + ?Sized,
    P: ProcessorRegistry + ?Sized,
{
    let batch = load_batch(store, &message.tenant_id, &message.batch_id).await?;
    let Some(state) = batch.state() else {
        return Ok(Dispatched::AlreadyHandled);
    };
    if state.status != ledger_domain::payout::BatchStatus::Approved {
        return Ok(Dispatched::AlreadyHandled);
    }
    let Some(item) = state
        .items
        .iter()
        .find(|i| i.drafted.item_id == message.item_id)
    else {
        return Ok(Dispatched::AlreadyHandled);
    };
    if item.status != ItemStatus::Awaiting {
        return Ok(Dispatched::AlreadyHandled);
    }
    let drafted = &item.drafted;
    let profile = load_profile(store, &message.tenant_id, &drafted.affiliate_id).await?;
    let method = match profile.profile().method.clone() {
        Some(method) if method.processor() == drafted.processor => method,
        Some(_) => {
            return fail(
                store,
                message,
                ctx,
                "the payout method changed to another processor after drafting",
            )
            .await;
        }
        None => return fail(store, message, ctx, "the affiliate has no payout method").await,
    };
    // The money goes where the approver saw it go, or nowhere.
    if let Some(destination) = &drafted.destination {
        if method.fingerprint() != destination.fingerprint {
            return fail(
                store,
                message,
                ctx,
                &format!(
                    "the payout method changed after drafting: this item pays only the approved destination {}",
                    destination.masked
                ),
            )
            .await;
        }
    }
    // Take the item before any processor call, so that two deliveries of
    // the same message never both submit.
    let claim_id = claim_id(ctx);
    match claim(store, message, &claim_id, ctx).await {
        Ok(()) => {}
        Err(AppError::PayoutBatch(ledger_domain::PayoutBatchError::Claimed {
            lease_until,
            ..
        })) => {
            return Err(DispatchError::InFlight(lease_until));
        }
        Err(AppError::PayoutBatch(ledger_domain::PayoutBatchError::AlreadySubmitted(_))) => {
            return Ok(Dispatched::AlreadyHandled);
        }
        Err(e) => return Err(e.into()),
    }
    let result = dispatch_claimed(store, processors, message, state, drafted, method, ctx).await;
    if matches!(result, Err(DispatchError::Unknown(_))) {
        // Let the retry take it at once; if this fails, the lease ends.
        let _ = crate::run_payout_batch(
            store,
            &message.batch_id,
            PayoutBatchCommand::Release {
                item_id: message.item_id.clone(),
                claim_id,
            },
            ctx,
            None,
        )
        .await;
    }
    result
}

/// The processor part of a dispatch, once the item is claimed.
async fn dispatch_claimed<S, P>(
    store: &S,
    processors: &P,
    message: &DispatchMessage,
    state: &ledger_domain::payout::DraftedBatch,
    drafted: &DraftedItem,
    method: PayoutMethod,
    ctx: &CommandContext,
) -> Result<Dispatched, DispatchError>
where
    S: EventStore + ?Sized,
    P: ProcessorRegistry + ?Sized,
{
    let Some(ports) = processors.ports(drafted.processor) else {
        return fail(
            store,
            message,
            ctx,
            &format!("processor {} is not configured", drafted.processor.as_str()),
        )
        .await;
    };
    let order = order_for(&message.tenant_id, &message.batch_id, drafted, method);
    let (submit, status) = match ports {
        ProcessorPorts::Api { submit, status } => (submit, status),
        ProcessorPorts::File(file) => {
            return dispatch_by_file(store, file, message, state, &order, ctx).await;
        }
    };
    let ports = ApiPorts { submit, status };
    // A previous attempt may have paid and crashed before recording it:
    // ask first, so a retry never pays twice even without the key.
    let answer = match ports.status.status(&order).await {
        Ok(Some(status)) => status,
        Ok(None) => match ports.submit.submit(&order).await {
            Ok(status) => status,
            Err(ProcessorError::Unknown(detail)) => match ports.status.status(&order).await {
                Ok(Some(status)) => status,
                Ok(None) | Err(ProcessorError::Unknown(_)) => {
                    return Err(DispatchError::Unknown(detail));
                }
                Err(ProcessorError::Invalid(reason)) => {
                    return fail(store, message, ctx, &reason).await;
                }
            },
            Err(ProcessorError::Invalid(reason)) => {
                return fail(store, message, ctx, &reason).await;
            }
        },
        Err(ProcessorError::Unknown(detail)) => return Err(DispatchError::Unknown(detail)),
        Err(ProcessorError::Invalid(reason)) => return fail(store, message, ctx, &reason).await,
    };
    record(store, message, ctx, answer).await
}

struct ApiPorts<'a> {
    submit: &'a dyn SubmitPayment,
    status: &'a dyn FetchPaymentStatus,
}

fn order_for(
    tenant_id: &TenantId,
    batch_id: &PayoutBatchId,
    drafted: &DraftedItem,
    method: PayoutMethod,
) -> PaymentOrder {
    PaymentOrder {
        tenant_id: tenant_id.clone(),
        batch_id: batch_id.clone(),
        item_id: drafted.item_id.clone(),
        affiliate_id: drafted.affiliate_id.clone(),
        amount: drafted.amount,
        method,
        idempotency_key: format!("{tenant_id}:{}", drafted.item_id),
        reference: None,
    }
}

/// The file flow: write the batch's file if nobody has, then record this
/// item as submitted if the file holds it.
async fn dispatch_by_file<S: EventStore + ?Sized>(
    store: &S,
    file: &dyn SubmitBatchFile,
    message: &DispatchMessage,
    state: &ledger_domain::payout::DraftedBatch,
    order: &PaymentOrder,
    ctx: &CommandContext,
) -> Result<Dispatched, DispatchError> {
    let currency = order.amount.currency();
    let key = file.file_key(&message.tenant_id, &message.batch_id, currency);
    let unknown = |e: ProcessorError| match e {
        ProcessorError::Unknown(d) => DispatchError::Unknown(d),
        ProcessorError::Invalid(d) => DispatchError::Unknown(format!("batch file: {d}")),
    };
    let ids = match file.payment_ids(&key).await.map_err(unknown)? {
        Some(ids) => ids,
        None => {
            // Every item of this processor and currency, whatever its state,
            // so that every dispatcher would write the same file.
            let processor = order.method.processor();
            let mut orders = Vec::new();
            for item in &state.items {
                let d = &item.drafted;
                if d.processor != processor || d.amount.currency() != currency {
                    continue;
                }
                let profile = load_profile(store, &message.tenant_id, &d.affiliate_id).await?;
                match profile.profile().method.clone() {
                    Some(method)
                        if method.processor() == processor
                            && d.destination
                                .as_ref()
                                .is_none_or(|dest| dest.fingerprint == method.fingerprint()) =>
                    {
                        orders.push(order_for(&message.tenant_id, &message.batch_id, d, method));
                    }
                    // Left out: its own dispatch fails it (money back).
                    _ => {}
                }
            }
            file.write(&key, &orders).await.map_err(unknown)?
        }
    };
    let id = file.payment_id(order);
    if ids.contains(&id) {
        let reference = format!("{key}#{id}");
        submit(store, message, ctx, &reference).await?;
        Ok(Dispatched::Submitted {
            reference,
            paid: false,
        })
    } else {
        fail(
            store,
            message,
            ctx,
            "not in the batch's payment file (no valid payout method when it was written)",
        )
        .await
    }
}

/// How long a dispatcher holds an item: longer than one dispatch
/// function's run (its timeout), so a live call is never overtaken.
pub const DISPATCH_LEASE_SECONDS: i64 = 300;

/// One id per dispatch attempt: the actor and request, the time and a
/// counter of this process, so two attempts never share a claim.
fn claim_id(ctx: &CommandContext) -> String {
    static ATTEMPTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = ctx.now.timestamp_nanos_opt().unwrap_or_default();
    let id: String = format!(
        "{}:{}:{nanos}:{n}:{}",
        ctx.actor.id,
        ctx.actor.request_id.as_deref().unwrap_or("-"),
        std::process::id()
    );
    id.chars()
        .take(ledger_domain::events::TEXT_LEN_MAX)
        .collect()
}

async fn claim<S: EventStore + ?Sized>(
    store: &S,
    message: &DispatchMessage,
    claim_id: &str,
    ctx: &CommandContext,
) -> Result<(), AppError> {
    crate::run_payout_batch(
        store,
        &message.batch_id,
        PayoutBatchCommand::Claim {
            item_id: message.item_id.clone(),
            claim_id: claim_id.to_owned(),
            lease_until: ctx.now + chrono::Duration::seconds(DISPATCH_LEASE_SECONDS),
        },
        ctx,
        None,
    )
    .await?;
    Ok(())
}

async fn record<S: EventStore + ?Sized>(
    store: &S,
    message: &DispatchMessage,
    ctx: &CommandContext,
    answer: PaymentStatus,
) -> Result<Dispatched, DispatchError> {
    match answer {
        PaymentStatus::Accepted { reference } => {
            submit(store, message, ctx, &reference).await?;
            Ok(Dispatched::Submitted {
                reference,
                paid: false,
            })
        }
        PaymentStatus::Paid { reference } => {
            submit(store, message, ctx, &reference).await?;
            crate::run_payout_batch(
                store,
                &message.batch_id,
                PayoutBatchCommand::RecordOutcome {
                    item_id: message.item_id.clone(),
                    outcome: ItemOutcome::Paid,
                    processor_event_id: None,
                    reason: None,
                    facts: OutcomeFacts::default(),
                },
                ctx,
                None,
            )
            .await?;
            Ok(Dispatched::Submitted {
                reference,
                paid: true,
            })
        }
        PaymentStatus::Failed { reason, .. } => fail(store, message, ctx, &reason).await,
    }
}

async fn submit<S: EventStore + ?Sized>(
    store: &S,
    message: &DispatchMessage,
    ctx: &CommandContext,
    reference: &str,
) -> Result<(), AppError> {
    crate::run_payout_batch(
        store,
        &message.batch_id,
        PayoutBatchCommand::Submit {
            item_id: message.item_id.clone(),
            processor_reference: Some(reference.to_owned()),
        },
        ctx,
        None,
    )
    .await?;
    Ok(())
}

async fn fail<S: EventStore + ?Sized>(
    store: &S,
    message: &DispatchMessage,
    ctx: &CommandContext,
    reason: &str,
) -> Result<Dispatched, DispatchError> {
    let reason: String = reason
        .chars()
        .take(ledger_domain::events::TEXT_LEN_MAX / 4)
        .collect();
    crate::run_payout_batch(
        store,
        &message.batch_id,
        PayoutBatchCommand::RecordOutcome {
            item_id: message.item_id.clone(),
            outcome: ItemOutcome::Failed,
            processor_event_id: None,
            reason: Some(reason.clone()),
            facts: OutcomeFacts::default(),
        },
        ctx,
        None,
    )
    .await?;
    Ok(Dispatched::Failed { reason })
}

/// A dispatch queue in memory: what was enqueued, in order. For tests and
/// tools; nothing consumes it.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    messages: std::sync::Mutex<Vec<DispatchMessage>>,
}

impl MemoryQueue {
    pub fn messages(&self) -> Vec<DispatchMessage> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl DispatchQueue for MemoryQueue {
    async fn enqueue(&self, messages: &[DispatchMessage]) -> Result<(), StoreError> {
        self.messages
            .lock()
            .map_err(|_| StoreError::Unavailable("memory queue poisoned".into()))?
            .extend_from_slice(messages);
        Ok(())
    }
}

/// What a processor said about an item, verified and parsed by its adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorNotice {
    pub processor: ledger_domain::Processor,
    /// The processor's own id of this news: the same id twice is recorded once.
    pub event_id: String,
    pub outcome: ItemOutcome,
    /// Where the item is, as far as the notice says.
    pub tenant_id: Option<String>,
    pub batch_id: Option<String>,
    pub item_id: Option<String>,
    /// The processor's reference (transfer, payout item, end-to-end id).
    /// When the item was submitted with a reference, a notice naming
    /// another one does not move it.
    pub reference: Option<String>,
    /// The destination the notice names (Stripe connected account, PayPal
    /// receiver, IBAN), if it names one: checked against the item's.
    pub account: Option<String>,
    /// The amount the notice states, if any. For a reversal it is the
    /// total reversed so far (Stripe's `amount_reversed`), so a partial
    /// reversal moves only what it says, and a repeat moves nothing more.
    pub amount: Option<Money>,
    pub reason: Option<String>,
}

/// What recording a notice did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeRecorded {
    /// Recorded; the money moved as `movement` says (or not at all).
    Outcome(ledger_domain::MoneyMovement),
    /// This news was recorded before.
    Duplicate,
    /// No such item: recorded for finance to look at, never retried.
    Unmatched,
}

/// The batch an item id of a drafting run belongs to (`pb-000001.7`).
fn batch_of(item_id: &str) -> Option<&str> {
    item_id.rsplit_once('.').map(|(batch, _)| batch)
}

/// Records a verified processor notice against its item, once. A notice
/// moves an item only if it is tied to it: the processor, the item's
/// processor reference, the account and the amount, where the notice names
/// them, must be the item's. Anything else is kept as unmatched, with the
/// reason, for finance; it never moves money and is never retried.
pub async fn record_notice<S: EventStore + ?Sized>(
    store: &S,
    notice: &ProcessorNotice,
    ctx_for: impl Fn(TenantId) -> CommandContext,
) -> Result<NoticeRecorded, AppError> {
    let tenant = notice
        .tenant_id
        .as_deref()
        .and_then(|t| TenantId::new(t).ok());
    let item = notice
        .item_id
        .as_deref()
        .and_then(|i| PayoutItemId::new(i).ok());
    let batch = notice
        .batch_id
        .as_deref()
        .or_else(|| notice.item_id.as_deref().and_then(batch_of))
        .and_then(|b| PayoutBatchId::new(b).ok());
    let mut unmatched_reason = "no payout item of this ledger matches it".to_owned();
    if let (Some(tenant_id), Some(item_id), Some(batch_id)) = (&tenant, &item, &batch) {
        let ctx = ctx_for(tenant_id.clone());
        let found = load_batch(store, tenant_id, batch_id)
            .await?
            .state()
            .is_some_and(|s| s.items.iter().any(|i| &i.drafted.item_id == item_id));
        if found {
            let executed = crate::run_payout_batch(
                store,
                batch_id,
                PayoutBatchCommand::RecordOutcome {
                    item_id: item_id.clone(),
                    outcome: notice.outcome,
                    processor_event_id: Some(notice.event_id.clone()),
                    reason: notice
                        .reason
                        .as_ref()
                        .map(|r| r.chars().take(200).collect()),
                    facts: OutcomeFacts {
                        processor: Some(notice.processor),
                        reference: notice.reference.clone(),
                        account: notice.account.clone(),
                        amount: notice.amount,
                    },
                },
                &ctx,
                None,
            )
            .await;
            match executed {
                Ok(executed) => {
                    return Ok(match executed.events.last().map(Event::body) {
                        None => NoticeRecorded::Duplicate,
                        Some(
                            EventBody::PayoutItemPaid(o)
                            | EventBody::PayoutItemFailed(o)
                            | EventBody::PayoutItemReturned(o)
                            | EventBody::PayoutItemUnclaimed(o)
                            | EventBody::PayoutItemReversed(o),
                        ) => NoticeRecorded::Outcome(o.movement),
                        Some(_) => NoticeRecorded::Outcome(ledger_domain::MoneyMovement::None),
                    });
                }
                Err(AppError::PayoutBatch(ledger_domain::PayoutBatchError::NoticeMismatch {
                    rule,
                    ..
                })) => unmatched_reason = rule,
                Err(e) => return Err(e),
            }
        }
    }
    record_unmatched(store, notice, tenant, &unmatched_reason, ctx_for).await
}

/// Keeps a notice that moved nothing under the tenant it names (or the
/// unmatched tenant), in its own stream keyed by the processor's event id,
/// so a repeat is a duplicate.
async fn record_unmatched<S: EventStore + ?Sized>(
    store: &S,
    notice: &ProcessorNotice,
    tenant: Option<TenantId>,
    reason: &str,
    ctx_for: impl Fn(TenantId) -> CommandContext,
) -> Result<NoticeRecorded, AppError> {
    let tenant_id = tenant.unwrap_or_else(|| {
        TenantId::new(UNMATCHED_TENANT).unwrap_or_else(|_| unreachable!("a valid literal id"))
    });
    let ctx = ctx_for(tenant_id.clone());
    let key: String = notice
        .event_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._:-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    let notice_id = ledger_domain::NoticeId::new(format!(
        "{}-{key}-{}",
        notice.processor.as_str(),
        &event_store_digest(&notice.event_id)[..8]
    ))?;
    let event = Event::new(
        tenant_id,
        ctx.actor.clone(),
        ctx.now,
        ctx.effective_at,
        EventBody::ProcessorNoticeUnmatched(ledger_domain::events::ProcessorNoticeUnmatched {
            notice_id,
            processor: notice.processor,
            processor_event_id: notice.event_id.clone(),
            outcome: format!("{:?}", notice.outcome).to_lowercase(),
            batch_id: notice.batch_id.clone(),
            item_id: notice.item_id.clone(),
            reference: notice.reference.clone(),
            reason: Some(
                reason
                    .chars()
                    .take(ledger_domain::events::TEXT_LEN_MAX / 4)
                    .collect(),
            ),
        }),
    );
    match store.append(AppendRequest::from_domain(0, &[event])?).await {
        Ok(_) => Ok(NoticeRecorded::Unmatched),
        Err(StoreError::VersionConflict { .. }) => Ok(NoticeRecorded::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// The tenant unmatched notices without a readable tenant are kept under.
pub const UNMATCHED_TENANT: &str = "_unmatched";

fn event_store_digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The tenant's batches in the order they were drafted, from its
/// `payout-drafts` stream.
async fn drafted_batch_ids<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
) -> Result<Vec<PayoutBatchId>, AppError> {
    let drafts = StreamId::new(stream_name(tenant_id, AggregateRef::PayoutDrafts))?;
    Ok(load(store, &drafts)
        .await?
        .iter()
        .filter_map(|stored| match stored.body() {
            EventBody::PayoutDraftRegistered(r) => Some(r.batch_id.clone()),
            _ => None,
        })
        .collect())
}

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

/// A submitted item paid by file whose bank has sent no status for longer
/// than allowed: its money is still reserved, and finance must chase it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverdueItem {
    pub batch_id: PayoutBatchId,
    pub item_id: PayoutItemId,
    pub affiliate_id: AffiliateId,
    pub amount: Money,
    pub processor: ledger_domain::Processor,
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    pub business_days: u32,
}

/// TARGET2 business days (Monday to Friday, less 1 January, 1 May, 25 and
/// 26 December) after `from` up to `to`. Easter holidays are not counted
/// out: an item is at worst reported a day early.
pub fn business_days_between(
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> u32 {
    use chrono::Datelike;
    let mut day = from.date_naive();
    let end = to.date_naive();
    let mut count = 0u32;
    // Bounded: a submission older than ten years counts as ten years.
    for _ in 0..3660 {
        if day >= end {
            break;
        }
        day = day.succ_opt().unwrap_or(end);
        let weekday = day.weekday().num_days_from_monday() < 5;
        let closed = matches!(
            (day.month(), day.day()),
            (1, 1) | (5, 1) | (12, 25) | (12, 26)
        );
        if weekday && !closed {
            count += 1;
        }
    }
    count
}

/// The tenant's submitted items of file processors (SEPA) with no status
/// after more than `business_days_max` business days, newest batches first,
/// at most `limit`. Banks answer a pain.001 within a day or two; silence
/// means a file that was never delivered or a status that was lost.
pub async fn overdue_file_items<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
    business_days_max: u32,
    limit: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<OverdueItem>, AppError> {
    let batch_ids = drafted_batch_ids(store, tenant_id).await?;
    let mut overdue = Vec::new();
    for batch_id in batch_ids.into_iter().rev() {
        let batch = load_batch(store, tenant_id, &batch_id).await?;
        let Some(state) = batch.state() else { continue };
        for item in &state.items {
            if overdue.len() >= limit {
                return Ok(overdue);
            }
            // Only file processors: the others are asked by the poller.
            if item.status != ItemStatus::Submitted
                || item.drafted.processor != ledger_domain::Processor::Sepa
            {
                continue;
            }
            let Some(submitted_at) = item.submitted_at else {
                continue;
            };
            let days = business_days_between(submitted_at, now);
            if days > business_days_max {
                overdue.push(OverdueItem {
                    batch_id: batch_id.clone(),
                    item_id: item.drafted.item_id.clone(),
                    affiliate_id: item.drafted.affiliate_id.clone(),
                    amount: item.drafted.amount,
                    processor: item.drafted.processor,
                    submitted_at,
                    business_days: days,
                });
            }
        }
    }
    Ok(overdue)
}
