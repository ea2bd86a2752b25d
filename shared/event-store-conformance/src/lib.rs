//! The one conformance suite for event store adapters.
//!
//! Each check takes a fresh store and asserts the port's semantics. An
//! adapter runs all of them, unchanged, with:
//!
//! ```ignore
//! event_store_conformance::conformance_suite!(my_adapter_factory().await);
//! ```

pub mod webhooks;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use event_store::{
    AppendRequest, Cursor, EVENT_ITEM_BYTES_MAX, EventStore, IDEMPOTENCY_ANSWER_BYTES_MAX,
    IdempotencyKey, IdempotencyRecord, IdempotencyScope, NewEvent, Once, Operation, StoreError,
    StreamId, TRANSACTION_ITEMS_MAX, fingerprint,
};
use ledger_domain::{
    Actor, ActorKind, CommandContext, Commission, CommissionCommand, CommissionId, Currency, Money,
    TenantId,
};

/// Expands to one `#[tokio::test]` per check, each with a fresh store built
/// by the given expression (evaluated inside the test's runtime).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@tests $make;
            new_stream_reads_back_in_order,
            first_event_of_a_stream_is_guarded,
            wrong_expected_version_conflicts_and_writes_nothing,
            concurrent_appenders_exactly_one_wins_per_version,
            idempotent_replay_returns_the_original_result,
            idempotency_key_with_other_events_is_a_conflict,
            concurrent_idempotent_replays_write_once,
            concurrent_identical_requests_get_the_original_answer,
            request_key_with_other_facts_is_a_conflict,
            request_keys_are_scoped_to_tenant_and_operation,
            request_is_all_or_nothing_and_its_record_is_an_item,
            stream_over_one_megabyte_reads_back_whole,
            global_order_is_consistent_with_every_stream,
            cursor_resumes_and_checkpoints_persist,
            oversized_event_is_refused_before_any_write,
            transaction_of_100_items_lands_and_101_is_refused,
            transaction_is_all_or_nothing,
            transaction_reports_replays_as_duplicates,
            corrupt_or_unknown_payloads_name_stream_and_version,
            bad_reads_are_refused,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make;
                $crate::$name(std::sync::Arc::new(store)).await;
            }
        )+
    };
}

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_780_000_000 + seconds, 123_456_000)
        .single()
        .unwrap()
}

fn raw(n: u32) -> NewEvent {
    NewEvent::raw(
        "test.happened",
        1,
        format!("{{\"n\":{n}}}"),
        t(i64::from(n)),
    )
}

fn stream(name: &str) -> StreamId {
    StreamId::new(format!("conformance/{name}")).unwrap()
}

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).unwrap()
}

/// A request's scope: tenant, operation, key.
fn scope(tenant: &str, operation: &str, k: &str) -> IdempotencyScope {
    IdempotencyScope::new(
        TenantId::new(tenant).unwrap(),
        Operation::new(operation).unwrap(),
        key(k),
    )
}

/// A request's record: its scope, the fingerprint of its facts, its answer.
fn record(scope: &IdempotencyScope, facts: &str, answer: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        scope: scope.clone(),
        request_hash: fingerprint(facts.as_bytes()),
        answer: answer.to_owned(),
    }
}

/// A real domain event: a commission recorded at `at`.
fn commission_event(id: &str, amount_minor: i64, at: DateTime<Utc>) -> ledger_domain::Event {
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

async fn versions<S: EventStore + ?Sized>(store: &S, s: &StreamId) -> Vec<u64> {
    store
        .read_stream(s, 1, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect()
}

async fn read_everything<S: EventStore + ?Sized>(
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

pub async fn new_stream_reads_back_in_order<S: EventStore + 'static>(store: Arc<S>) {
    let s = stream("read-back");
    let appended = store
        .append(AppendRequest::new(
            s.clone(),
            0,
            vec![raw(1), raw(2), raw(3)],
        ))
        .await
        .unwrap();
    assert_eq!(
        (
            appended.first_version,
            appended.last_version,
            appended.duplicate
        ),
        (1, 3, false)
    );
    let events = store.read_stream(&s, 1, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(events[1].payload, "{\"n\":2}");
    assert_eq!(events[1].event_type, "test.happened");
    assert_eq!(events[1].recorded_at, t(2));
    assert_eq!(events[1].payload_hash, raw(2).payload_hash);
    assert_eq!(store.read_stream(&s, 3, 100).await.unwrap().len(), 1);
    assert_eq!(store.read_stream(&s, 1, 2).await.unwrap().len(), 2);
    assert!(
        store
            .read_stream(&stream("never-written"), 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A domain event survives the round trip exactly.
    let event = commission_event("c-read", 1234, t(9));
    let c = StreamId::of(&event).unwrap();
    store
        .append(AppendRequest::from_domain(0, std::slice::from_ref(&event)).unwrap())
        .await
        .unwrap();
    let back = store.read_stream(&c, 1, 10).await.unwrap();
    assert_eq!(back[0].decode().unwrap(), event);
}

pub async fn first_event_of_a_stream_is_guarded<S: EventStore + 'static>(store: Arc<S>) {
    let s = stream("first-guard");
    store
        .append(AppendRequest::new(s.clone(), 0, vec![raw(1)]))
        .await
        .unwrap();
    let err = store
        .append(AppendRequest::new(s.clone(), 0, vec![raw(2)]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::VersionConflict {
            stream: s.to_string(),
            expected: 0,
            actual: 1
        }
    );
    assert_eq!(versions(&*store, &s).await, vec![1]);
}

pub async fn wrong_expected_version_conflicts_and_writes_nothing<S: EventStore + 'static>(
    store: Arc<S>,
) {
    let s = stream("expected");
    store
        .append(AppendRequest::new(s.clone(), 0, vec![raw(1), raw(2)]))
        .await
        .unwrap();
    for expected in [1, 3, 5] {
        let err = store
            .append(AppendRequest::new(s.clone(), expected, vec![raw(9)]))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            StoreError::VersionConflict {
                stream: s.to_string(),
                expected,
                actual: 2
            },
            "expected {expected}"
        );
    }
    // Appending to a stream that does not exist at a later version leaves no gap.
    let empty = stream("expected-empty");
    let err = store
        .append(AppendRequest::new(empty.clone(), 4, vec![raw(1)]))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::VersionConflict {
            expected: 4,
            actual: 0,
            ..
        }
    ));
    assert_eq!(versions(&*store, &s).await, vec![1, 2]);
    assert!(versions(&*store, &empty).await.is_empty());
    let ok = store
        .append(AppendRequest::new(s.clone(), 2, vec![raw(3)]))
        .await
        .unwrap();
    assert_eq!(ok.last_version, 3);
}

pub async fn concurrent_appenders_exactly_one_wins_per_version<S: EventStore + 'static>(
    store: Arc<S>,
) {
    let s = stream("race");
    for round in 0..3u64 {
        let mut tasks = Vec::new();
        for writer in 0..12u32 {
            let store = Arc::clone(&store);
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .append(AppendRequest::new(s, round, vec![raw(writer)]))
                    .await
            }));
        }
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(a) => {
                    assert_eq!(a.first_version, round + 1);
                    wins += 1;
                }
                Err(StoreError::VersionConflict { expected, .. }) => assert_eq!(expected, round),
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        assert_eq!(wins, 1, "round {round}: exactly one writer wins");
    }
    assert_eq!(versions(&*store, &s).await, vec![1, 2, 3]);
}

pub async fn idempotent_replay_returns_the_original_result<S: EventStore + 'static>(store: Arc<S>) {
    // A new commission: the retry carries the same event recorded later.
    let first = commission_event("c-idem", 500, t(1));
    let retry = commission_event("c-idem", 500, t(60));
    let s = StreamId::of(&first).unwrap();
    let req = |e: &ledger_domain::Event| {
        AppendRequest::from_domain(0, std::slice::from_ref(e))
            .unwrap()
            .with_idempotency_key(key("conv-1"))
    };
    let original = store.append(req(&first)).await.unwrap();
    assert!(!original.duplicate);
    let again = store.append(req(&retry)).await.unwrap();
    assert_eq!(
        (again.first_version, again.last_version, again.duplicate),
        (1, 1, true)
    );
    let stored = store.read_stream(&s, 1, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].recorded_at, t(1), "the original stays as it was");

    // A continuing stream: the replay is recognised with a stale or a fresh
    // expected version alike.
    let c = stream("idem-continue");
    store
        .append(AppendRequest::new(c.clone(), 0, vec![raw(1)]))
        .await
        .unwrap();
    let step = |expected| {
        AppendRequest::new(c.clone(), expected, vec![raw(2), raw(3)])
            .with_idempotency_key(key("step-2"))
    };
    let original = store.append(step(1)).await.unwrap();
    assert_eq!((original.first_version, original.last_version), (2, 3));
    for expected in [1, 3] {
        let replay = store.append(step(expected)).await.unwrap();
        assert_eq!(
            (replay.first_version, replay.last_version, replay.duplicate),
            (2, 3, true)
        );
    }
    assert_eq!(versions(&*store, &c).await, vec![1, 2, 3]);
    // The same key on another stream is another append.
    let other = store
        .append(
            AppendRequest::new(stream("idem-other"), 0, vec![raw(2), raw(3)])
                .with_idempotency_key(key("step-2")),
        )
        .await
        .unwrap();
    assert!(!other.duplicate);
}

pub async fn idempotency_key_with_other_events_is_a_conflict<S: EventStore + 'static>(
    store: Arc<S>,
) {
    let first = commission_event("c-idem-conflict", 500, t(1));
    let changed = commission_event("c-idem-conflict", 501, t(1));
    let s = StreamId::of(&first).unwrap();
    let req = |e: &ledger_domain::Event| {
        AppendRequest::from_domain(0, std::slice::from_ref(e))
            .unwrap()
            .with_idempotency_key(key("conv-2"))
    };
    store.append(req(&first)).await.unwrap();
    let err = store.append(req(&changed)).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::IdempotencyConflict { key, .. } if key == "conv-2"),
        "{err}"
    );

    let c = stream("idem-conflict-continue");
    store
        .append(AppendRequest::new(c.clone(), 0, vec![raw(1)]))
        .await
        .unwrap();
    store
        .append(AppendRequest::new(c.clone(), 1, vec![raw(2)]).with_idempotency_key(key("k")))
        .await
        .unwrap();
    let err = store
        .append(AppendRequest::new(c.clone(), 2, vec![raw(99)]).with_idempotency_key(key("k")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyConflict { .. }),
        "{err}"
    );
    assert_eq!(store.read_stream(&s, 1, 10).await.unwrap().len(), 1);
    assert_eq!(versions(&*store, &c).await, vec![1, 2]);
}

pub async fn concurrent_idempotent_replays_write_once<S: EventStore + 'static>(store: Arc<S>) {
    let s = stream("idem-race");
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = Arc::clone(&store);
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append(AppendRequest::new(s, 0, vec![raw(7)]).with_idempotency_key(key("same")))
                .await
        }));
    }
    let mut originals = 0;
    for task in tasks {
        let appended = task.await.unwrap().unwrap();
        assert_eq!(appended.first_version, 1);
        originals += usize::from(!appended.duplicate);
    }
    assert_eq!(originals, 1);
    assert_eq!(versions(&*store, &s).await, vec![1]);
}

pub async fn global_order_is_consistent_with_every_stream<S: EventStore + 'static>(store: Arc<S>) {
    let streams: Vec<StreamId> = (0..3).map(|i| stream(&format!("order-{i}"))).collect();
    let mut expected_per_stream = [0u64; 3];
    for n in 0..30u32 {
        let i = (n as usize * 7) % 3;
        let s = &streams[i];
        store
            .append(AppendRequest::new(
                s.clone(),
                expected_per_stream[i],
                vec![raw(n)],
            ))
            .await
            .unwrap();
        expected_per_stream[i] += 1;
    }
    let (all, _) = read_everything(&*store, 7).await;
    for s in &streams {
        let seen: Vec<u64> = all
            .iter()
            .filter(|e| &e.stream == s)
            .map(|e| e.version)
            .collect();
        assert_eq!(
            seen,
            (1..=10).collect::<Vec<_>>(),
            "{s} in order, each once"
        );
    }
    // Sequential appends appear in the order they were acknowledged.
    let ours: Vec<&str> = all
        .iter()
        .filter(|e| streams.contains(&e.stream))
        .map(|e| e.payload.as_str())
        .collect();
    let expected: Vec<String> = (0..30).map(|n| format!("{{\"n\":{n}}}")).collect();
    assert_eq!(
        ours,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

pub async fn cursor_resumes_and_checkpoints_persist<S: EventStore + 'static>(store: Arc<S>) {
    let s = stream("cursor");
    store
        .append(AppendRequest::new(s.clone(), 0, (0..5).map(raw).collect()))
        .await
        .unwrap();
    let (first_pass, cursor) = read_everything(&*store, 2).await;
    assert!(first_pass.iter().filter(|e| e.stream == s).count() == 5);
    assert_eq!(
        store
            .load_checkpoint("conformance-projector")
            .await
            .unwrap(),
        None
    );
    store
        .save_checkpoint("conformance-projector", &cursor)
        .await
        .unwrap();
    let saved = store
        .load_checkpoint("conformance-projector")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved, cursor);
    // Nothing new: the page is empty and the cursor does not move backwards.
    let idle = store.read_all(Some(&saved), 10).await.unwrap();
    assert!(idle.events.is_empty());
    store
        .append(AppendRequest::new(s.clone(), 5, vec![raw(5), raw(6)]))
        .await
        .unwrap();
    let resumed = store.read_all(Some(&idle.next), 10).await.unwrap();
    assert_eq!(
        resumed.events.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![6, 7]
    );
    store
        .save_checkpoint("conformance-projector", &resumed.next)
        .await
        .unwrap();
    assert_eq!(
        store
            .load_checkpoint("conformance-projector")
            .await
            .unwrap()
            .unwrap(),
        resumed.next
    );
    let err = store
        .save_checkpoint("bad name!", &resumed.next)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::InvalidInput {
            field: "projection",
            ..
        }
    ));
}

pub async fn oversized_event_is_refused_before_any_write<S: EventStore + 'static>(store: Arc<S>) {
    let s = stream("large");
    let big = NewEvent::raw(
        "test.large",
        1,
        format!("\"{}\"", "x".repeat(EVENT_ITEM_BYTES_MAX)),
        t(0),
    );
    let err = store
        .append(AppendRequest::new(s.clone(), 0, vec![raw(1), big]))
        .await
        .unwrap_err();
    match &err {
        StoreError::LimitExceeded { what, limit, .. } => {
            assert_eq!(*limit, EVENT_ITEM_BYTES_MAX);
            assert!(
                what.contains("event 1 of the append to conformance/large"),
                "{what}"
            );
        }
        other => panic!("expected a limit error, got {other}"),
    }
    assert!(err.to_string().contains("the limit is 400000"), "{err}");
    assert!(versions(&*store, &s).await.is_empty());
    // Just under the limit is accepted.
    let fits = NewEvent::raw(
        "test.large",
        1,
        format!("\"{}\"", "x".repeat(EVENT_ITEM_BYTES_MAX - 2048)),
        t(0),
    );
    store
        .append(AppendRequest::new(s.clone(), 0, vec![fits]))
        .await
        .unwrap();
}

pub async fn transaction_of_100_items_lands_and_101_is_refused<S: EventStore + 'static>(
    store: Arc<S>,
) {
    let make = |prefix: &str, n: usize| -> Vec<AppendRequest> {
        (0..n)
            .map(|i| {
                AppendRequest::new(stream(&format!("{prefix}-{i}")), 0, vec![raw(i as u32)])
                    .with_idempotency_key(key(&format!("k{i}")))
            })
            .collect()
    };
    let results = store
        .append_transaction(make("tx100", TRANSACTION_ITEMS_MAX))
        .await
        .unwrap();
    assert_eq!(results.len(), 100);
    assert!(results.iter().all(|r| r.first_version == 1 && !r.duplicate));
    assert_eq!(versions(&*store, &stream("tx100-99")).await, vec![1]);

    let err = store
        .append_transaction(make("tx101", TRANSACTION_ITEMS_MAX + 1))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::LimitExceeded {
            what: "store items in one transaction".into(),
            got: 101,
            limit: 100
        }
    );
    assert!(versions(&*store, &stream("tx101-0")).await.is_empty());
    // One append of 101 events is refused the same way.
    let err = store
        .append(AppendRequest::new(
            stream("tx101-single"),
            0,
            (0..101).map(raw).collect(),
        ))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::LimitExceeded {
            got: 101,
            limit: 100,
            ..
        }
    ));
    // Continuing streams count their version check and idempotency guard.
    let c = stream("tx-continue");
    store
        .append(AppendRequest::new(c.clone(), 0, vec![raw(0)]))
        .await
        .unwrap();
    let continuing =
        AppendRequest::new(c.clone(), 1, (0..99).map(raw).collect()).with_idempotency_key(key("c"));
    let err = store.append(continuing).await.unwrap_err();
    assert!(
        matches!(err, StoreError::LimitExceeded { got: 101, .. }),
        "{err}"
    );
}

pub async fn transaction_is_all_or_nothing<S: EventStore + 'static>(store: Arc<S>) {
    let taken = stream("atomic-taken");
    store
        .append(AppendRequest::new(taken.clone(), 0, vec![raw(1)]))
        .await
        .unwrap();
    let fresh = stream("atomic-fresh");
    let err = store
        .append_transaction(vec![
            AppendRequest::new(fresh.clone(), 0, vec![raw(1)]),
            AppendRequest::new(taken.clone(), 0, vec![raw(2)]),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::VersionConflict { stream, .. } if stream == taken.as_str()),
        "{err}"
    );
    assert!(
        versions(&*store, &fresh).await.is_empty(),
        "nothing of a failed transaction lands"
    );
    let err = store
        .append_transaction(vec![
            AppendRequest::new(fresh.clone(), 0, vec![raw(1)]),
            AppendRequest::new(fresh.clone(), 1, vec![raw(2)]),
        ])
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::InvalidInput {
            field: "requests",
            ..
        }
    ));
}

pub async fn transaction_reports_replays_as_duplicates<S: EventStore + 'static>(store: Arc<S>) {
    let a = stream("tx-dup-a");
    let b = stream("tx-dup-b");
    let req_a = || AppendRequest::new(a.clone(), 0, vec![raw(1)]).with_idempotency_key(key("a"));
    store.append(req_a()).await.unwrap();
    let results = store
        .append_transaction(vec![
            req_a(),
            AppendRequest::new(b.clone(), 0, vec![raw(2)]).with_idempotency_key(key("b")),
        ])
        .await
        .unwrap();
    assert_eq!(
        results.iter().map(|r| r.duplicate).collect::<Vec<_>>(),
        vec![true, false]
    );
    assert_eq!(versions(&*store, &a).await, vec![1]);
    assert_eq!(versions(&*store, &b).await, vec![1]);
}

pub async fn corrupt_or_unknown_payloads_name_stream_and_version<S: EventStore + 'static>(
    store: Arc<S>,
) {
    let s = stream("corrupt");
    store
        .append(AppendRequest::new(
            s.clone(),
            0,
            vec![
                NewEvent::raw("mystery.happened", 1, "{\"x\":1}".into(), t(0)),
                NewEvent::raw("commission.recorded", 1, "not json".into(), t(0)),
                NewEvent::raw("commission.recorded", 9, "{}".into(), t(0)),
            ],
        ))
        .await
        .unwrap();
    let stored = store.read_stream(&s, 1, 10).await.unwrap();
    assert_eq!(stored.len(), 3, "nothing is silently skipped");
    for (event, version) in stored.iter().zip(1u64..) {
        match event.decode() {
            Err(StoreError::CorruptEvent {
                stream, version: v, ..
            }) => {
                assert_eq!((stream.as_str(), v), (s.as_str(), version));
            }
            other => panic!("expected a corrupt-event error, got {other:?}"),
        }
    }
    assert!(
        stored[2]
            .decode()
            .unwrap_err()
            .to_string()
            .contains("unknown schema version 9")
    );
}

pub async fn bad_reads_are_refused<S: EventStore + 'static>(store: Arc<S>) {
    let s = stream("bad-reads");
    assert!(matches!(
        store.read_stream(&s, 1, 0).await,
        Err(StoreError::LimitExceeded { .. })
    ));
    assert!(matches!(
        store.read_all(None, 1001).await,
        Err(StoreError::LimitExceeded { .. })
    ));
    let err = store
        .read_all(Some(&Cursor("garbage".into())), 10)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidCursor { .. }), "{err}");
    let err = store
        .append(AppendRequest::new(s, 0, vec![]))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::InvalidInput {
            field: "events",
            ..
        }
    ));
}

/// Identical requests sent at once (each stamping its own event, as a retry
/// does): exactly one writes, every other one gets its answer, none fails.
pub async fn concurrent_identical_requests_get_the_original_answer<S: EventStore + 'static>(
    store: Arc<S>,
) {
    const TASKS: u32 = 16;
    let s = stream("request-race");
    let scope = scope("conformance", "test.record", "same-request");
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (store, s, scope) = (Arc::clone(&store), s.clone(), scope.clone());
        tasks.push(tokio::spawn(async move {
            let stamped = NewEvent::raw(
                "test.recorded",
                1,
                format!("{{\"stamped_by\":{task}}}"),
                t(i64::from(task)),
            );
            let answer = format!("{{\"answered_by\":{task}}}");
            let once = store
                .append_once(
                    vec![AppendRequest::new(s, 0, vec![stamped])],
                    record(&scope, "the same facts", &answer),
                )
                .await;
            (task, answer, once)
        }));
    }
    let mut winners = Vec::new();
    let mut replayed = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (task, answer, Ok(Once::Written(appended))) => {
                assert_eq!(
                    appended
                        .iter()
                        .map(|a| (a.first_version, a.last_version, a.duplicate))
                        .collect::<Vec<_>>(),
                    vec![(1, 1, false)]
                );
                winners.push((task, answer));
            }
            (_, _, Ok(Once::Replayed(answer))) => replayed.push(answer),
            (task, _, Err(e)) => panic!("identical request {task} failed: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of the requests writes");
    let (winner, original) = &winners[0];
    assert_eq!(replayed.len(), TASKS as usize - 1);
    assert!(
        replayed.iter().all(|answer| answer == original),
        "every other request gets the original answer: {replayed:?}"
    );
    let stored = store.read_stream(&s, 1, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].payload, format!("{{\"stamped_by\":{winner}}}"));
    let kept = store.idempotency_record(&scope).await.unwrap().unwrap();
    assert_eq!(
        (kept.request_hash.as_str(), kept.answer.as_str()),
        (fingerprint(b"the same facts").as_str(), original.as_str())
    );
}

/// The same key with other facts is a conflict, whichever streams the other
/// request touches (another commission, the same one, or none), and writes
/// nothing; the same facts again get the original answer.
pub async fn request_key_with_other_facts_is_a_conflict<S: EventStore + 'static>(store: Arc<S>) {
    let scope = scope("conformance", "test.record", "reused");
    let a = stream("request-conflict-a");
    let b = stream("request-conflict-b");
    let first = store
        .append_once(
            vec![AppendRequest::new(a.clone(), 0, vec![raw(1)])],
            record(&scope, "facts of a", "answer a"),
        )
        .await
        .unwrap();
    assert!(matches!(first, Once::Written(_)), "{first:?}");
    let others = [
        (
            vec![AppendRequest::new(b.clone(), 0, vec![raw(2)])],
            "facts of b",
        ),
        (
            vec![AppendRequest::new(a.clone(), 1, vec![raw(3)])],
            "facts of a, changed",
        ),
        (vec![], "facts that write nothing"),
    ];
    for (appends, facts) in others {
        let err = store
            .append_once(appends, record(&scope, facts, "another answer"))
            .await
            .unwrap_err();
        match err {
            StoreError::IdempotencyConflict {
                key,
                stored_hash,
                request_hash,
                ..
            } => {
                assert_eq!(key, "reused", "{facts}");
                assert_eq!(stored_hash, fingerprint(b"facts of a"), "{facts}");
                assert_eq!(request_hash, fingerprint(facts.as_bytes()), "{facts}");
            }
            other => panic!("{facts}: expected an idempotency conflict, got {other}"),
        }
    }
    assert!(versions(&*store, &b).await.is_empty());
    assert_eq!(versions(&*store, &a).await, vec![1]);
    // The same facts, whatever the appends would do now: the original answer.
    let again = store
        .append_once(
            vec![AppendRequest::new(b.clone(), 0, vec![raw(4)])],
            record(&scope, "facts of a", "answer now"),
        )
        .await
        .unwrap();
    assert_eq!(again, Once::Replayed("answer a".to_owned()));
    assert!(
        versions(&*store, &b).await.is_empty(),
        "a replay writes nothing"
    );
    assert_eq!(
        store
            .idempotency_record(&scope)
            .await
            .unwrap()
            .unwrap()
            .answer,
        "answer a"
    );
}

/// One key is one request per tenant and operation: the same key in another
/// tenant or for another operation is another request, with its own record.
pub async fn request_keys_are_scoped_to_tenant_and_operation<S: EventStore + 'static>(
    store: Arc<S>,
) {
    let scopes = [
        scope("tenant-a", "test.record", "k-1"),
        scope("tenant-b", "test.record", "k-1"),
        scope("tenant-a", "test.other", "k-1"),
    ];
    for (i, scope) in scopes.iter().enumerate() {
        let s = stream(&format!("request-scope-{i}"));
        let once = store
            .append_once(
                vec![AppendRequest::new(s.clone(), 0, vec![raw(i as u32)])],
                record(scope, &format!("facts {i}"), &format!("answer {i}")),
            )
            .await
            .unwrap();
        assert!(matches!(once, Once::Written(_)), "{scope}: {once:?}");
        assert_eq!(versions(&*store, &s).await, vec![1], "{scope}");
    }
    for (i, scope) in scopes.iter().enumerate() {
        let kept = store.idempotency_record(scope).await.unwrap().unwrap();
        assert_eq!(kept.scope, *scope);
        assert_eq!(
            kept.request_hash,
            fingerprint(format!("facts {i}").as_bytes())
        );
        assert_eq!(kept.answer, format!("answer {i}"));
    }
    assert_eq!(
        store
            .idempotency_record(&scope("tenant-b", "test.other", "k-1"))
            .await
            .unwrap(),
        None
    );
    // A stream's own idempotency keys are another thing: this key on a
    // stream does not answer, and is not answered by, the requests above.
    let keyed = store
        .append(
            AppendRequest::new(stream("request-scope-stream-key"), 0, vec![raw(9)])
                .with_idempotency_key(key("k-1")),
        )
        .await
        .unwrap();
    assert!(!keyed.duplicate);
}

/// A request's appends and record land together or not at all, a request
/// that writes no event keeps its answer, and the record is one store item
/// of the transaction; limits are checked before any write.
pub async fn request_is_all_or_nothing_and_its_record_is_an_item<S: EventStore + 'static>(
    store: Arc<S>,
) {
    let taken = stream("request-atomic-taken");
    store
        .append(AppendRequest::new(taken.clone(), 0, vec![raw(1)]))
        .await
        .unwrap();
    let fresh = stream("request-atomic-fresh");
    let atomic = scope("conformance", "test.record", "atomic");
    let err = store
        .append_once(
            vec![
                AppendRequest::new(fresh.clone(), 0, vec![raw(1)]),
                AppendRequest::new(taken.clone(), 0, vec![raw(2)]),
            ],
            record(&atomic, "both", "answer"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::VersionConflict { stream, .. } if stream == taken.as_str()),
        "{err}"
    );
    assert!(versions(&*store, &fresh).await.is_empty());
    assert_eq!(
        store.idempotency_record(&atomic).await.unwrap(),
        None,
        "a request that failed keeps no record"
    );
    // Decided again on what is there, the request lands with its record.
    let once = store
        .append_once(
            vec![
                AppendRequest::new(fresh.clone(), 0, vec![raw(1)]),
                AppendRequest::new(taken.clone(), 1, vec![raw(2)]),
            ],
            record(&atomic, "both", "answer"),
        )
        .await
        .unwrap();
    assert!(
        matches!(&once, Once::Written(a) if a.len() == 2),
        "{once:?}"
    );
    assert_eq!(versions(&*store, &taken).await, vec![1, 2]);

    let quiet = scope("conformance", "test.record", "writes-nothing");
    assert_eq!(
        store
            .append_once(vec![], record(&quiet, "already done", "nothing new"))
            .await
            .unwrap(),
        Once::Written(vec![])
    );
    assert_eq!(
        store
            .append_once(vec![], record(&quiet, "already done", "later"))
            .await
            .unwrap(),
        Once::Replayed("nothing new".to_owned())
    );

    let make = |prefix: &str, n: usize| -> Vec<AppendRequest> {
        (0..n)
            .map(|i| AppendRequest::new(stream(&format!("{prefix}-{i}")), 0, vec![raw(i as u32)]))
            .collect()
    };
    let full = scope("conformance", "test.record", "full");
    let err = store
        .append_once(
            make("request-tx100", TRANSACTION_ITEMS_MAX),
            record(&full, "100", "answer"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::LimitExceeded {
            what: "store items in one transaction".into(),
            got: TRANSACTION_ITEMS_MAX + 1,
            limit: TRANSACTION_ITEMS_MAX
        }
    );
    assert!(
        versions(&*store, &stream("request-tx100-0"))
            .await
            .is_empty()
    );
    let once = store
        .append_once(
            make("request-tx99", TRANSACTION_ITEMS_MAX - 1),
            record(&full, "99", "answer"),
        )
        .await
        .unwrap();
    assert!(
        matches!(&once, Once::Written(a) if a.len() == TRANSACTION_ITEMS_MAX - 1),
        "{once:?}"
    );
    let err = store
        .append_once(
            vec![],
            record(
                &scope("conformance", "test.record", "big-answer"),
                "f",
                &"x".repeat(IDEMPOTENCY_ANSWER_BYTES_MAX + 1),
            ),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LimitExceeded {
                limit: IDEMPOTENCY_ANSWER_BYTES_MAX,
                ..
            }
        ),
        "{err}"
    );
}

/// A stream larger than one read response of any store (DynamoDB stops a
/// query page at 1 MB) is read whole: the requested range, never less.
pub async fn stream_over_one_megabyte_reads_back_whole<S: EventStore + 'static>(store: Arc<S>) {
    const EVENTS: u32 = 6;
    const PAD: usize = 300_000;
    let s = stream("large-history");
    for n in 0..EVENTS {
        let big = NewEvent::raw(
            "test.large",
            1,
            format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(PAD)),
            t(i64::from(n)),
        );
        store
            .append(AppendRequest::new(s.clone(), u64::from(n), vec![big]))
            .await
            .unwrap();
    }
    let all = store.read_stream(&s, 1, 1000).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=u64::from(EVENTS)).collect::<Vec<_>>()
    );
    assert!(all.iter().map(|e| e.payload.len()).sum::<usize>() > 1_500_000);
    for (event, n) in all.iter().zip(0..) {
        assert!(
            event.payload.starts_with(&format!("{{\"n\":{n},")),
            "version {}",
            event.version
        );
        assert_eq!(event.payload.len(), PAD + 16, "version {}", event.version);
    }
    let middle = store.read_stream(&s, 2, 4).await.unwrap();
    assert_eq!(
        middle.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![2, 3, 4, 5]
    );
    let tail = store.read_stream(&s, 5, 1000).await.unwrap();
    assert_eq!(
        tail.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![5, 6]
    );
}
