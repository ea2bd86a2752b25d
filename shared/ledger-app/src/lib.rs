//! Use cases: load an aggregate from its stream, let it decide, append what
//! it decided at the version it was loaded at, and project balances from the
//! store's global order. Generic over the event store port, so the same code
//! runs on the embedded store and on DynamoDB.

pub mod adjustments;
mod maturity;
pub mod payouts;
pub mod reports;

pub use maturity::{
    MATURE_CONCURRENCY, MATURE_FAILED_MAX, MATURE_PER_RUN_MAX, MatureReport, mature_due,
    mature_until,
};

use chrono::{DateTime, Utc};
use event_store::{
    AppendRequest, Appended, EventStore, IdempotencyKey, IdempotencyRecord, IdempotencyScope, Once,
    Operation, READ_LIMIT_MAX, StoreError, StreamId, fingerprint,
};
use ledger_domain::events::{AggregateRef, stream_name};
use ledger_domain::{
    BalanceOverflow, Balances, CommandContext, Commission, CommissionCommand, CommissionError,
    CommissionId, Event, PayoutBatch, PayoutBatchCommand, PayoutBatchError, PayoutBatchId,
    PostingError, journal_entry,
};

/// How often a command is decided in all when it keeps losing the race
/// for its stream (each loss waits [`after_conflict`] first).
pub const COMMAND_ATTEMPTS_MAX: u32 = 5;

/// The first wait after a command lost the race for its stream; it doubles
/// per attempt, with a random part, so the dispatchers of one batch's
/// items do not all decide again at the same instant.
pub const CONFLICT_BACKOFF_BASE: std::time::Duration = std::time::Duration::from_millis(10);

/// Waits before deciding again after losing race number `attempt` (1 for
/// the first) for a stream.
pub(crate) async fn after_conflict(attempt: u32) {
    tokio::time::sleep(event_store::retry_delay(
        CONFLICT_BACKOFF_BASE,
        attempt.saturating_sub(1),
    ))
    .await;
}

/// The longest stream a use case loads (a batch of 500 items with a few
/// outcomes each stays far below).
pub const STREAM_EVENTS_MAX: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Commission(#[from] CommissionError),
    #[error(transparent)]
    PayoutBatch(#[from] PayoutBatchError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Posting(#[from] PostingError),
    #[error(transparent)]
    Overflow(#[from] BalanceOverflow),
    #[error(transparent)]
    Profile(#[from] ledger_domain::ProfileError),
    #[error(transparent)]
    Id(#[from] ledger_domain::IdError),
    #[error(
        "the payout draft sequence moved past the {applied} drafted batches the balances projection has applied: an earlier draft is not projected yet or another draft ran; retry shortly"
    )]
    DraftSequenceMoved { applied: u64 },
    #[error(
        "the balances projection parked {count} event(s) of tenant {tenant} it could not project, the first {stream} version {version}: the balances miss them, so drafting refuses until an operator projects them (`ledger-admin projection parked --tenant {tenant}`, then `ledger-admin projection retry --tenant {tenant}`)"
    )]
    ProjectionParked {
        tenant: String,
        stream: String,
        version: u64,
        count: usize,
    },
    #[error("stream {stream} has more than {max} events")]
    StreamTooLong { stream: String, max: usize },
}

/// What a command did.
#[derive(Debug, Clone)]
pub struct Executed {
    pub events: Vec<Event>,
    pub appended: Appended,
}

/// [`load`] for several streams at once, in the order named (one round
/// trip where the store can).
pub async fn load_many<S: EventStore + ?Sized>(
    store: &S,
    streams: &[StreamId],
) -> Result<Vec<Vec<Event>>, AppError> {
    let read = store.read_streams(streams, STREAM_EVENTS_MAX + 1).await?;
    streams
        .iter()
        .zip(read)
        .map(|(stream, stored)| {
            if stored.len() > STREAM_EVENTS_MAX {
                return Err(AppError::StreamTooLong {
                    stream: stream.to_string(),
                    max: STREAM_EVENTS_MAX,
                });
            }
            stored
                .iter()
                .map(|e| e.decode().map_err(AppError::from))
                .collect()
        })
        .collect()
}

/// A stream's events, decoded, in order (at most [`STREAM_EVENTS_MAX`]).
pub async fn load<S: EventStore + ?Sized>(
    store: &S,
    stream: &StreamId,
) -> Result<Vec<Event>, AppError> {
    let mut loaded = load_many(store, std::slice::from_ref(stream)).await?;
    Ok(loaded.pop().unwrap_or_default())
}

/// The aggregates the use cases drive.
trait Aggregate: Sized {
    type Command: Clone;
    type Error: Into<AppError>;
    fn rebuild(events: &[Event]) -> Self;
    fn version(&self) -> u64;
    fn decide(
        &self,
        command: Self::Command,
        ctx: &CommandContext,
    ) -> Result<Vec<Event>, Self::Error>;
}

impl Aggregate for Commission {
    type Command = CommissionCommand;
    type Error = CommissionError;
    fn rebuild(events: &[Event]) -> Self {
        Commission::from_events(events)
    }
    fn version(&self) -> u64 {
        Commission::version(self)
    }
    fn decide(
        &self,
        command: CommissionCommand,
        ctx: &CommandContext,
    ) -> Result<Vec<Event>, CommissionError> {
        self.handle(command, ctx)
    }
}

impl Aggregate for PayoutBatch {
    type Command = PayoutBatchCommand;
    type Error = PayoutBatchError;
    fn rebuild(events: &[Event]) -> Self {
        PayoutBatch::from_events(events)
    }
    fn version(&self) -> u64 {
        PayoutBatch::version(self)
    }
    fn decide(
        &self,
        command: PayoutBatchCommand,
        ctx: &CommandContext,
    ) -> Result<Vec<Event>, PayoutBatchError> {
        self.handle(command, ctx)
    }
}

async fn execute<A: Aggregate, S: EventStore + ?Sized>(
    store: &S,
    stream: StreamId,
    command: A::Command,
    ctx: &CommandContext,
    key: Option<IdempotencyKey>,
) -> Result<Executed, AppError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let history = load(store, &stream).await?;
        let aggregate = A::rebuild(&history);
        let events = aggregate.decide(command.clone(), ctx).map_err(Into::into)?;
        if events.is_empty() {
            // Already done (an exact retry): nothing to write.
            let version = aggregate.version();
            return Ok(Executed {
                events,
                appended: Appended {
                    stream,
                    first_version: version,
                    last_version: version,
                    duplicate: true,
                },
            });
        }
        let mut request = AppendRequest::from_domain(aggregate.version(), &events)?;
        if let Some(key) = &key {
            request = request.with_idempotency_key(key.clone());
        }
        match store.append(request).await {
            Ok(appended) => return Ok(Executed { events, appended }),
            // Someone else wrote first: decide again on what they wrote.
            Err(StoreError::VersionConflict { .. }) if attempt < COMMAND_ATTEMPTS_MAX => {
                after_conflict(attempt).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Runs a command against one commission.
pub async fn run_commission<S: EventStore + ?Sized>(
    store: &S,
    commission_id: &CommissionId,
    command: CommissionCommand,
    ctx: &CommandContext,
    key: Option<IdempotencyKey>,
) -> Result<Executed, AppError> {
    let stream = StreamId::new(stream_name(
        &ctx.tenant_id,
        AggregateRef::Commission(commission_id),
    ))?;
    execute::<Commission, S>(store, stream, command, ctx, key).await
}

/// Runs a command against one payout batch.
pub async fn run_payout_batch<S: EventStore + ?Sized>(
    store: &S,
    batch_id: &PayoutBatchId,
    command: PayoutBatchCommand,
    ctx: &CommandContext,
    key: Option<IdempotencyKey>,
) -> Result<Executed, AppError> {
    if matches!(command, PayoutBatchCommand::Draft { .. }) {
        // A draft must take the tenant's draft sequence in the same write.
        return Err(AppError::Store(StoreError::InvalidInput {
            field: "command",
            reason: "drafts go through payouts::draft_batch or payouts::draft_payouts".to_owned(),
        }));
    }
    if let PayoutBatchCommand::Approve {
        authority, limits, ..
    } = &command
    {
        // An approval is tallied in the approver's day stream in the same
        // write.
        return payouts::approve(store, batch_id, *authority, limits, ctx).await;
    }
    let stream = StreamId::new(stream_name(
        &ctx.tenant_id,
        AggregateRef::PayoutBatch(batch_id),
    ))?;
    execute::<PayoutBatch, S>(store, stream, command, ctx, key).await
}

/// Rebuilds every balance from the store's events, in global order.
pub async fn rebuild_balances<S: EventStore + ?Sized>(store: &S) -> Result<Balances, AppError> {
    let mut balances = Balances::new();
    let mut cursor = None;
    loop {
        let page = store.read_all(cursor.as_ref(), READ_LIMIT_MAX).await?;
        if page.events.is_empty() {
            return Ok(balances);
        }
        for stored in &page.events {
            balances.apply(&journal_entry(&stored.decode()?)?)?;
        }
        cursor = Some(page.next);
    }
}

/// The operation commission recordings are scoped to: a key is one
/// recording request per tenant, whether it came over HTTP or the queue.
pub const OPERATION_COMMISSIONS: &str = "ingest.commissions";

/// A commission to record, with when it happened as the caller said it
/// (`None`: the caller did not say; the context's effective time applies).
pub type Recording = (CommissionCommand, Option<DateTime<Utc>>);

/// What recording one commission did. A keyed request keeps the list of
/// them, as JSON, as its answer: fields added later need `#[serde(default)]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    pub commission_id: CommissionId,
    pub stream: StreamId,
    /// True when this commission was already recorded with the same facts,
    /// or this request was answered before.
    pub duplicate: bool,
    pub version: u64,
}

/// Records several commissions atomically: all land, or none does. Each
/// command comes with when it happened in the world (its effective time),
/// or `None` when the caller did not say (then it is `ctx.effective_at`).
/// A commission id already recorded with other facts fails the whole call
/// with `AlreadyRecorded`; one recorded with the same facts is a duplicate.
///
/// With a key, the request is written once per tenant and key
/// ([`OPERATION_COMMISSIONS`]): its idempotency record holds the
/// fingerprint of the commands as given (a left-out time stays left out:
/// the clock's value is not a fact of the request, and two concurrent
/// identical retries stamp different ones) and the answer, and lands in the
/// same transaction as the events. A repeat with the same facts, concurrent
/// or later, is answered with the original result, every commission a
/// duplicate; the same key with other facts, another commission id
/// included, is `IdempotencyConflict`, and nothing is written.
pub async fn record_commissions<S: EventStore + ?Sized>(
    store: &S,
    ctx: &CommandContext,
    commands: &[Recording],
    key: Option<&IdempotencyKey>,
) -> Result<Vec<Recorded>, AppError> {
    let mut record = match key {
        Some(key) => {
            let record = IdempotencyRecord {
                scope: IdempotencyScope::new(
                    ctx.tenant_id.clone(),
                    Operation::new(OPERATION_COMMISSIONS)?,
                    key.clone(),
                ),
                request_hash: fingerprint(&commission_facts(commands)?),
                answer: String::new(),
            };
            // A repeat is answered by its record before anything is decided.
            if let Some(stored) = store.idempotency_record(&record.scope).await? {
                return replayed(record.replay(&stored)?);
            }
            Some(record)
        }
        None => None,
    };
    let mut ids = Vec::with_capacity(commands.len());
    let mut streams = Vec::with_capacity(commands.len());
    for (command, _) in commands {
        let CommissionCommand::Record { commission_id, .. } = command else {
            return Err(AppError::Store(StoreError::InvalidInput {
                field: "commands",
                reason: "only record commands can be recorded in bulk".to_owned(),
            }));
        };
        ids.push(commission_id);
        streams.push(StreamId::new(stream_name(
            &ctx.tenant_id,
            AggregateRef::Commission(commission_id),
        ))?);
    }
    let mut attempt = 0;
    'retry: loop {
        attempt += 1;
        let mut results = Vec::with_capacity(commands.len());
        let mut requests = Vec::new();
        let mut pending_index = Vec::new();
        let loaded = load_many(store, &streams).await?;
        for ((((command, occurred_at), commission_id), stream), history) in
            commands.iter().zip(&ids).zip(&streams).zip(loaded)
        {
            let ctx = CommandContext {
                effective_at: occurred_at.unwrap_or(ctx.effective_at),
                ..ctx.clone()
            };
            let commission = Commission::from_events(&history);
            let events = commission.handle(command.clone(), &ctx)?;
            let version = commission.version();
            if !events.is_empty() {
                pending_index.push(results.len());
                requests.push(AppendRequest::from_domain(version, &events)?);
            }
            results.push(Recorded {
                commission_id: (*commission_id).clone(),
                stream: stream.clone(),
                duplicate: events.is_empty(),
                version: version + events.len() as u64,
            });
        }
        let written = match &mut record {
            None if requests.is_empty() => return Ok(results),
            None => store.append_transaction(requests).await.map(Once::Written),
            // Even a request that records nothing new keeps its answer.
            Some(record) => {
                record.answer =
                    serde_json::to_string(&results).map_err(|e| StoreError::InvalidInput {
                        field: "answer",
                        reason: e.to_string(),
                    })?;
                store.append_once(requests, record.clone()).await
            }
        };
        match written {
            Ok(Once::Written(appended)) => {
                for (index, appended) in pending_index.into_iter().zip(appended) {
                    results[index].duplicate = appended.duplicate;
                    results[index].version = appended.last_version;
                }
                return Ok(results);
            }
            // The same request, concurrently, was written first.
            Ok(once @ Once::Replayed(_)) => return replayed(once),
            // Someone else wrote to one of the commissions: decide again.
            Err(StoreError::VersionConflict { .. }) if attempt < COMMAND_ATTEMPTS_MAX => {
                after_conflict(attempt).await;
                continue 'retry;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The facts of a recording request, canonically: each command's fields and
/// its time as the caller gave it, in order (JSON arrays, so no map order
/// can change the fingerprint).
fn commission_facts(commands: &[Recording]) -> Result<Vec<u8>, AppError> {
    let mut facts = Vec::with_capacity(commands.len());
    for (command, occurred_at) in commands {
        let CommissionCommand::Record {
            commission_id,
            affiliate_id,
            amount,
            hold_period_days,
            source_conversion_id,
            order_reference,
        } = command
        else {
            return Err(AppError::Store(StoreError::InvalidInput {
                field: "commands",
                reason: "only record commands can be recorded in bulk".to_owned(),
            }));
        };
        facts.push(serde_json::json!([
            commission_id.as_str(),
            affiliate_id.as_str(),
            amount.amount_minor().to_string(),
            amount.currency().code(),
            hold_period_days,
            source_conversion_id,
            order_reference,
            occurred_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        ]));
    }
    serde_json::to_vec(&facts).map_err(|e| {
        AppError::Store(StoreError::InvalidInput {
            field: "commands",
            reason: e.to_string(),
        })
    })
}

/// The original answer of a keyed request, every commission a duplicate.
fn replayed(once: Once) -> Result<Vec<Recorded>, AppError> {
    let Once::Replayed(answer) = once else {
        return Err(StoreError::Unavailable("a replay without an answer".to_owned()).into());
    };
    let mut results: Vec<Recorded> = serde_json::from_str(&answer).map_err(|e| {
        StoreError::Unavailable(format!(
            "the stored answer of a recording is unreadable: {e}"
        ))
    })?;
    for recorded in &mut results {
        recorded.duplicate = true;
    }
    Ok(results)
}
