//! Request idempotency (`append_once`): one record per tenant, operation
//! and key, written atomically with the request's appends.

use std::sync::Arc;

use event_store::{
    AppendRequest, EventStore, IDEMPOTENCY_ANSWER_BYTES_MAX, NewEvent, Once, StoreError,
    TRANSACTION_ITEMS_MAX, fingerprint,
};

use crate::support::{key, raw, record, scope, stream, t, versions};

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
