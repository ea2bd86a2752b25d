//! Limits and transactions: sizes refused before any write, and atomic
//! multi-stream appends.

use std::sync::Arc;

use event_store::{
    AppendRequest, EVENT_ITEM_BYTES_MAX, EventStore, NewEvent, StoreError, TRANSACTION_ITEMS_MAX,
};

use crate::support::{key, raw, stream, t, versions};

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
