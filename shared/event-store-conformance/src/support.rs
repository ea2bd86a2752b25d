//! Helpers the checks share: fixed times, test events, streams, keys and
//! whole-store reads.

use chrono::{DateTime, TimeZone, Utc};
use event_store::{
    Cursor, EventStore, IdempotencyKey, IdempotencyRecord, IdempotencyScope, NewEvent, Operation,
    StreamId, fingerprint,
};
use ledger_domain::{
    Actor, ActorKind, CommandContext, Commission, CommissionCommand, CommissionId, Currency, Money,
    TenantId,
};

pub(crate) fn t(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_780_000_000 + seconds, 123_456_000)
        .single()
        .unwrap()
}

pub(crate) fn raw(n: u32) -> NewEvent {
    NewEvent::raw(
        "test.happened",
        1,
        format!("{{\"n\":{n}}}"),
        t(i64::from(n)),
    )
}

pub(crate) fn stream(name: &str) -> StreamId {
    StreamId::new(format!("conformance/{name}")).unwrap()
}

pub(crate) fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).unwrap()
}

/// A request's scope: tenant, operation, key.
pub(crate) fn scope(tenant: &str, operation: &str, k: &str) -> IdempotencyScope {
    IdempotencyScope::new(
        TenantId::new(tenant).unwrap(),
        Operation::new(operation).unwrap(),
        key(k),
    )
}

/// A request's record: its scope, the fingerprint of its facts, its answer.
pub(crate) fn record(scope: &IdempotencyScope, facts: &str, answer: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        scope: scope.clone(),
        request_hash: fingerprint(facts.as_bytes()),
        answer: answer.to_owned(),
    }
}

/// A real domain event: a commission recorded at `at`.
pub(crate) fn commission_event(
    id: &str,
    amount_minor: i64,
    at: DateTime<Utc>,
) -> ledger_domain::Event {
    let ctx = CommandContext {
        tenant_id: TenantId::new("conformance").unwrap(),
        actor: Actor::new(ActorKind::Service, "tracking").unwrap(),
        now: at,
        effective_at: t(0),
    };
    let command = CommissionCommand::Record {
        commission_id: CommissionId::new(id).unwrap(),
        affiliate_id: ledger_domain::AffiliateId::new("aff-1").unwrap(),
        amount: Money::from_minor(amount_minor, Currency::EUR).unwrap(),
        hold_period_days: 30,
        source_conversion_id: format!("conv-{id}"),
        order_reference: None,
    };
    Commission::default()
        .handle(command, &ctx)
        .unwrap()
        .remove(0)
}

pub(crate) async fn versions<S: EventStore + ?Sized>(store: &S, s: &StreamId) -> Vec<u64> {
    store
        .read_stream(s, 1, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect()
}

pub(crate) async fn read_everything<S: EventStore + ?Sized>(
    store: &S,
    page: usize,
) -> (Vec<event_store::StoredEvent>, Cursor) {
    let mut all = Vec::new();
    let mut cursor: Option<Cursor> = None;
    // Bounded: the suite never writes more than a few thousand events.
    for _ in 0..10_000 {
        let result = store.read_all(cursor.as_ref(), page).await.unwrap();
        let done = result.events.is_empty();
        all.extend(result.events);
        cursor = Some(result.next);
        if done {
            break;
        }
    }
    (all, cursor.unwrap())
}
