//! The due-queue checks: pending deliveries come due earliest first, leave
//! the queue when saved, and a stale save is a version conflict.

use std::sync::Arc;

use chrono::Duration;
use event_store::StoreError;
use event_store::webhooks::{Delivery, DeliveryStatus, WebhookStore};

use super::fixtures::{attempted, delivery, is_conflict, key, keys, stored, t};

/// Deliveries of two tenants: three due at `t(50)` (at `t(5)`, `t(10)`,
/// `t(20)`), one later (`t(100)`), one delivered and one parked.
async fn due_fixture(store: &dyn WebhookStore) -> Vec<Delivery> {
    let mut ds = vec![
        delivery("acme", "we_000000000000000000000001", 1),
        delivery("globex", "we_000000000000000000000001", 2),
        delivery("acme", "we_000000000000000000000002", 3),
        delivery("acme", "we_000000000000000000000001", 4),
        delivery("globex", "we_000000000000000000000002", 5),
        delivery("acme", "we_000000000000000000000003", 6),
    ];
    ds[0].next_attempt_at = Some(t(10));
    ds[1].next_attempt_at = Some(t(5));
    ds[2].next_attempt_at = Some(t(20));
    ds[3].next_attempt_at = Some(t(100));
    assert_eq!(store.enqueue(&ds).await.unwrap(), 6);
    let delivered = attempted(&ds[4], DeliveryStatus::Delivered, t(6));
    store.save_delivery(&delivered).await.unwrap();
    let parked = attempted(&ds[5], DeliveryStatus::Parked, t(7));
    store.save_delivery(&parked).await.unwrap();
    ds[4] = delivered;
    ds[5] = parked;
    ds
}

pub async fn due_lists_pending_deliveries_earliest_first(store: Arc<dyn WebhookStore>) {
    let ds = due_fixture(&*store).await;
    let due = store.due(t(50), 10).await.unwrap();
    assert_eq!(
        keys(&due),
        keys(&[ds[1].clone(), ds[0].clone(), ds[2].clone()])
    );
    // Whole deliveries, as stored.
    assert_eq!(due[0], ds[1]);
    assert_eq!(due[1], ds[0]);
    assert_eq!(
        keys(&store.due(t(50), 2).await.unwrap()),
        vec![key(&ds[1]), key(&ds[0])]
    );
    assert_eq!(keys(&store.due(t(50), 1).await.unwrap()), vec![key(&ds[1])]);
    assert!(store.due(t(50), 0).await.unwrap().is_empty());
    // Due exactly at its time, not a microsecond before.
    assert_eq!(
        keys(&store.due(t(10), 10).await.unwrap()),
        vec![key(&ds[1]), key(&ds[0])]
    );
    assert_eq!(
        keys(
            &store
                .due(t(10) - Duration::microseconds(1), 10)
                .await
                .unwrap()
        ),
        vec![key(&ds[1])]
    );
    assert!(store.due(t(4), 10).await.unwrap().is_empty());
    assert_eq!(
        keys(&store.due(t(1000), 10).await.unwrap()),
        vec![key(&ds[1]), key(&ds[0]), key(&ds[2]), key(&ds[3])]
    );
}

pub async fn saved_delivery_leaves_the_due_queue(store: Arc<dyn WebhookStore>) {
    let ds = due_fixture(&*store).await;
    let due = store.due(t(50), 10).await.unwrap();
    assert_eq!(due.len(), 3);
    // The worker's outcomes: one delivered, one parked, one retried later.
    let delivered = attempted(&due[0], DeliveryStatus::Delivered, t(50));
    let parked = attempted(&due[1], DeliveryStatus::Parked, t(50));
    let mut later = attempted(&due[2], DeliveryStatus::Pending, t(50));
    later.next_attempt_at = Some(t(60));
    for d in [&delivered, &parked, &later] {
        store.save_delivery(d).await.unwrap();
    }
    assert!(store.due(t(50), 10).await.unwrap().is_empty());
    assert_eq!(store.due(t(60), 10).await.unwrap(), vec![later.clone()]);
    assert_eq!(
        keys(&store.due(t(100), 10).await.unwrap()),
        vec![key(&later), key(&ds[3])]
    );
    assert_eq!(stored(&*store, &delivered).await, Some(delivered.clone()));
    assert_eq!(stored(&*store, &parked).await, Some(parked.clone()));

    // A parked delivery replayed by a person is pending and due again.
    let mut replayed = parked.clone();
    replayed.status = DeliveryStatus::Pending;
    replayed.next_attempt_at = Some(t(70));
    replayed.version += 1;
    store.save_delivery(&replayed).await.unwrap();
    assert_eq!(
        keys(&store.due(t(70), 10).await.unwrap()),
        vec![key(&later), key(&replayed)]
    );
}

pub async fn stale_delivery_save_is_a_conflict(store: Arc<dyn WebhookStore>) {
    let d = delivery("acme", "we_000000000000000000000001", 1);
    store.enqueue(std::slice::from_ref(&d)).await.unwrap();

    // Workers that all read version 1 race to save version 2: one wins.
    let mut tasks = Vec::new();
    for worker in 0..4u64 {
        let store = store.clone();
        let mut mine = attempted(&d, DeliveryStatus::Pending, t(10));
        mine.log[0].latency_ms = worker;
        tasks.push(tokio::spawn(async move {
            let result = store.save_delivery(&mine).await;
            (mine, result)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (mine, result) = task.await.unwrap();
        match result {
            Ok(()) => winners.push(mine),
            Err(StoreError::VersionConflict { expected, .. }) => assert_eq!(expected, 1),
            Err(other) => panic!("a racing save failed with {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one racing save wins");
    assert_eq!(stored(&*store, &d).await, Some(winners[0].clone()));

    // A save built on the old version is refused and changes nothing.
    let stale = attempted(&d, DeliveryStatus::Delivered, t(20));
    assert!(is_conflict(store.save_delivery(&stale).await));
    let mut skipping = attempted(&winners[0], DeliveryStatus::Delivered, t(20));
    skipping.version += 1;
    assert!(is_conflict(store.save_delivery(&skipping).await));
    assert_eq!(stored(&*store, &d).await, Some(winners[0].clone()));
    // The winner's next save goes through.
    let next = attempted(&winners[0], DeliveryStatus::Delivered, t(40));
    store.save_delivery(&next).await.unwrap();
    assert_eq!(stored(&*store, &d).await, Some(next));

    // A delivery that was never queued cannot be saved.
    let never = attempted(
        &delivery("acme", "we_000000000000000000000001", 2),
        DeliveryStatus::Delivered,
        t(3),
    );
    assert!(is_conflict(store.save_delivery(&never).await));
    assert_eq!(stored(&*store, &never).await, None);
}
