//! Stream idempotency keys: replays, conflicts and concurrent replays.

use std::sync::Arc;

use event_store::{AppendRequest, EventStore, StoreError, StreamId};

use crate::support::{commission_event, key, raw, stream, t, versions};

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
