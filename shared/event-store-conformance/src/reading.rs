//! Reading: global order, cursors and projection checkpoints, decoding,
//! read limits, and streams larger than one store response.

use std::sync::Arc;

use event_store::{AppendRequest, Cursor, EventStore, NewEvent, StoreError, StreamId};

use crate::support::{raw, read_everything, stream, t};

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

pub async fn several_streams_read_back_in_the_order_named<S: EventStore + 'static>(store: Arc<S>) {
    let (a, b, missing) = (stream("many-a"), stream("many-b"), stream("many-none"));
    store
        .append(AppendRequest::new(a.clone(), 0, (0..3).map(raw).collect()))
        .await
        .unwrap();
    store
        .append(AppendRequest::new(
            b.clone(),
            0,
            (10..12).map(raw).collect(),
        ))
        .await
        .unwrap();
    let read = store
        .read_streams(&[b.clone(), missing.clone(), a.clone()], 10)
        .await
        .unwrap();
    let shape: Vec<Vec<(String, u64)>> = read
        .iter()
        .map(|events| {
            events
                .iter()
                .map(|e| (e.stream.to_string(), e.version))
                .collect()
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            vec![(b.to_string(), 1), (b.to_string(), 2)],
            vec![],
            vec![(a.to_string(), 1), (a.to_string(), 2), (a.to_string(), 3)],
        ]
    );
    assert_eq!(read[0][1].payload, "{\"n\":11}");
    // The first `limit` events of each.
    let first = store.read_streams(&[a.clone(), b], 2).await.unwrap();
    assert_eq!(
        first.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 2],
        "{first:?}"
    );
    assert_eq!(first[0][1].version, 2);
    assert!(store.read_streams(&[], 5).await.unwrap().is_empty());
}
