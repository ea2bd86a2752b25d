//! Appending: streams read back in order, and optimistic concurrency.

use std::sync::Arc;

use event_store::{AppendRequest, EventStore, StoreError, StreamId};

use crate::support::{commission_event, raw, stream, t, versions};

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
