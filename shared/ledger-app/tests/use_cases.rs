//! Use cases on the embedded store: commands go through the store with
//! optimistic concurrency, and balances rebuilt from the store equal the
//! balances folded as the events were decided.

use chrono::{Duration, TimeZone, Utc};
use event_store::{EventStore, IdempotencyKey, StoreError, StreamId};
use event_store_sqlite::SqliteEventStore;
use ledger_app::{AppError, rebuild_balances, record_commissions, run_commission};
use ledger_domain::sample::mixed_events;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, Balances, CommandContext, CommissionCommand, CommissionError,
    CommissionId, Currency, Money, TenantId, journal_entry,
};

fn ctx(days: i64) -> CommandContext {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    CommandContext {
        tenant_id: TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::Service, "tracking").unwrap(),
        now: t0 + Duration::days(days),
        effective_at: t0,
    }
}

fn record(id: &str) -> CommissionCommand {
    CommissionCommand::Record {
        commission_id: CommissionId::new(id).unwrap(),
        affiliate_id: AffiliateId::new("aff-1").unwrap(),
        amount: Money::parse("10.00", Currency::EUR).unwrap(),
        hold_period_days: 7,
        source_conversion_id: format!("conv-{id}"),
        order_reference: None,
    }
}

#[tokio::test]
async fn commands_run_against_the_stored_stream() {
    let store = SqliteEventStore::in_memory().unwrap();
    let c1 = CommissionId::new("c1").unwrap();
    let key = || Some(IdempotencyKey::new("conv-c1").unwrap());
    let first = run_commission(&store, &c1, record("c1"), &ctx(0), key())
        .await
        .unwrap();
    assert!(!first.appended.duplicate);
    // The tracking network retries, even a second later: already done.
    let retry = run_commission(&store, &c1, record("c1"), &ctx(0), key())
        .await
        .unwrap();
    assert!(retry.appended.duplicate && retry.events.is_empty());
    // Other facts under the same commission id are refused.
    let mut changed = record("c1");
    if let CommissionCommand::Record { amount, .. } = &mut changed {
        *amount = Money::parse("11.00", Currency::EUR).unwrap();
    }
    let conflict = run_commission(&store, &c1, changed, &ctx(0), key()).await;
    assert!(matches!(
        conflict,
        Err(AppError::Commission(CommissionError::AlreadyRecorded(_)))
    ));
    let too_early = run_commission(&store, &c1, CommissionCommand::Mature, &ctx(6), None).await;
    assert!(matches!(
        too_early,
        Err(AppError::Commission(
            CommissionError::HoldPeriodNotOver { .. }
        ))
    ));
    let matured = run_commission(&store, &c1, CommissionCommand::Mature, &ctx(7), None)
        .await
        .unwrap();
    assert_eq!(matured.appended.first_version, 2);
    let stream = StreamId::new("acme/commission/c1").unwrap();
    assert_eq!(store.read_stream(&stream, 1, 10).await.unwrap().len(), 2);
    let balances = rebuild_balances(&store).await.unwrap();
    let view = balances
        .affiliate(
            &TenantId::new("acme").unwrap(),
            &AffiliateId::new("aff-1").unwrap(),
            Currency::EUR,
        )
        .unwrap();
    assert_eq!(
        (view.pending.amount_minor(), view.available.amount_minor()),
        (0, 1000)
    );
}

#[tokio::test]
async fn concurrent_commands_on_one_commission_are_serialised() {
    let store = std::sync::Arc::new(SqliteEventStore::in_memory().unwrap());
    let c1 = CommissionId::new("c1").unwrap();
    run_commission(&*store, &c1, record("c1"), &ctx(0), None)
        .await
        .unwrap();
    // Three refunds of 4.00 race on a 10.00 commission: two land, the third
    // is re-decided on the fresh stream and refused.
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let store = store.clone();
        let c1 = c1.clone();
        tasks.push(tokio::spawn(async move {
            let command = CommissionCommand::Reverse {
                amount: Money::parse("4.00", Currency::EUR).unwrap(),
                reason: ledger_domain::ReversalReason::Refund,
                reference: None,
            };
            run_commission(&*store, &c1, command, &ctx(1), None).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(AppError::Commission(CommissionError::ReversalExceedsEarned { .. })) => {}
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    assert_eq!(ok, 2);
}

/// Many writers on one stream (the dispatchers of one batch's items, say)
/// all land: each loss of the race waits a growing, random while before
/// deciding again, so the losers do not collide again in lockstep and run
/// out of attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_racing_on_one_stream_all_land() {
    let store = std::sync::Arc::new(SqliteEventStore::in_memory().unwrap());
    let c1 = CommissionId::new("c1").unwrap();
    run_commission(&*store, &c1, record("c1"), &ctx(0), None)
        .await
        .unwrap();
    let writers = 16;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(writers));
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (store, c1, start) = (store.clone(), c1.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let command = CommissionCommand::Reverse {
                amount: Money::parse("0.50", Currency::EUR).unwrap(),
                reason: ledger_domain::ReversalReason::Refund,
                reference: None,
            };
            run_commission(&*store, &c1, command, &ctx(1), None).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stream = StreamId::new("acme/commission/c1").unwrap();
    assert_eq!(
        store.read_stream(&stream, 1, 100).await.unwrap().len(),
        1 + writers
    );
}

#[tokio::test]
async fn balances_rebuilt_from_the_store_equal_the_decided_fold() {
    let store = SqliteEventStore::in_memory().unwrap();
    let events = mixed_events(11, 5_000, 6);
    let mut expected = Balances::new();
    for event in &events {
        expected.apply(&journal_entry(event).unwrap()).unwrap();
        // Streams interleave; append each event at its stream's current version.
        let stream = StreamId::of(event).unwrap();
        let version = store.read_stream(&stream, 1, 1000).await.unwrap().len() as u64;
        store
            .append(
                event_store::AppendRequest::from_domain(version, std::slice::from_ref(event))
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    let rebuilt = rebuild_balances(&store).await.unwrap();
    assert_eq!(rebuilt.snapshot(), expected.snapshot());
    assert_eq!(rebuilt.entries_applied(), 5_000);
}

/// A keyed recording is one request: what the caller left out (the time)
/// is not a fact of it, so a retry a day later is the same request and gets
/// the first answer; the same key with other facts (a stated time, another
/// commission) is a conflict and writes nothing.
#[tokio::test]
async fn a_keyed_recording_is_answered_by_its_request() {
    let store = SqliteEventStore::in_memory().unwrap();
    let k1 = IdempotencyKey::new("post-1").unwrap();
    let first = record_commissions(&store, &ctx(0), &[(record("c1"), None)], Some(&k1))
        .await
        .unwrap();
    assert_eq!((first[0].duplicate, first[0].version), (false, 1));
    // Matured since: the answer is still the first one, as a duplicate.
    run_commission(
        &store,
        &CommissionId::new("c1").unwrap(),
        CommissionCommand::Mature,
        &ctx(7),
        None,
    )
    .await
    .unwrap();
    let retry = record_commissions(&store, &ctx(8), &[(record("c1"), None)], Some(&k1))
        .await
        .unwrap();
    assert_eq!(
        retry,
        vec![ledger_app::Recorded {
            duplicate: true,
            ..first[0].clone()
        }]
    );
    let stated = ctx(0).effective_at;
    for other in [(record("c1"), Some(stated)), (record("c2"), None)] {
        let err = record_commissions(&store, &ctx(8), &[other], Some(&k1))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AppError::Store(StoreError::IdempotencyConflict { key, .. }) if key == "post-1"),
            "{err}"
        );
    }
    let c2 = StreamId::new("acme/commission/c2").unwrap();
    assert!(store.read_stream(&c2, 1, 10).await.unwrap().is_empty());
    // Another key for the recorded commission: a duplicate, and that key is
    // now this request's.
    let k2 = IdempotencyKey::new("post-2").unwrap();
    let again = record_commissions(&store, &ctx(9), &[(record("c1"), None)], Some(&k2))
        .await
        .unwrap();
    assert_eq!((again[0].duplicate, again[0].version), (true, 2));
    assert!(
        record_commissions(&store, &ctx(9), &[(record("c2"), None)], Some(&k2))
            .await
            .is_err()
    );
    assert!(store.read_stream(&c2, 1, 10).await.unwrap().is_empty());
}
