//! The queueing checks: enqueueing is idempotent per endpoint and event,
//! and tenants' endpoints and deliveries never mix.

use std::sync::Arc;

use event_store::webhooks::{DeliveryStatus, WebhookStore};

use super::fixtures::{attempted, delivery, endpoint, event_id, event_ids, stored, t, tenant};

pub async fn webhook_tenants_are_isolated(store: Arc<dyn WebhookStore>) {
    let id = "we_000000000000000000000001";
    let a = endpoint("acme", id, "https://acme.example/");
    let b = endpoint("globex", id, "https://globex.example/");
    store.create_endpoint(&a).await.unwrap();
    store.create_endpoint(&b).await.unwrap();
    let mut a2 = a.clone();
    a2.url = "https://acme.example/v2".to_owned();
    a2.version = 2;
    store.update_endpoint(&a2).await.unwrap();
    assert_eq!(store.endpoint(&a.tenant_id, id).await.unwrap(), Some(a2));
    assert_eq!(store.endpoint(&b.tenant_id, id).await.unwrap(), Some(b));

    // The same event for the same endpoint id of two tenants: two deliveries.
    let da = delivery("acme", id, 1);
    let db = delivery("globex", id, 1);
    let only_a = delivery("acme", id, 2);
    assert_eq!(
        store
            .enqueue(&[da.clone(), db.clone(), only_a.clone()])
            .await
            .unwrap(),
        3
    );
    let delivered = attempted(&da, DeliveryStatus::Delivered, t(5));
    store.save_delivery(&delivered).await.unwrap();
    assert_eq!(stored(&*store, &da).await, Some(delivered));
    assert_eq!(stored(&*store, &db).await, Some(db.clone()));

    let listed_b = store
        .deliveries(&db.tenant_id, id, None, None, 100)
        .await
        .unwrap();
    assert_eq!(listed_b.deliveries, vec![db.clone()]);
    assert_eq!(listed_b.next, None);
    let listed_a = store
        .deliveries(&da.tenant_id, id, None, None, 100)
        .await
        .unwrap();
    assert_eq!(
        event_ids(&listed_a.deliveries),
        vec![event_id(2), event_id(1)]
    );
    assert!(
        listed_a
            .deliveries
            .iter()
            .all(|d| d.tenant_id == da.tenant_id)
    );
    assert_eq!(
        store
            .delivery(&db.tenant_id, id, &only_a.event_id)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .deliveries(&tenant("initech"), id, None, None, 100)
            .await
            .unwrap()
            .deliveries
            .is_empty()
    );
}

pub async fn enqueue_is_idempotent_per_endpoint_and_event(store: Arc<dyn WebhookStore>) {
    let e1 = "we_000000000000000000000001";
    let e2 = "we_000000000000000000000002";
    let (d1, d2, d3) = (
        delivery("acme", e1, 1),
        delivery("acme", e1, 2),
        delivery("acme", e1, 3),
    );
    assert_eq!(store.enqueue(&[]).await.unwrap(), 0);
    assert_eq!(store.enqueue(&[d1.clone(), d2.clone()]).await.unwrap(), 2);
    assert_eq!(
        store
            .enqueue(&[d1.clone(), d2.clone(), d3.clone()])
            .await
            .unwrap(),
        1
    );
    // Twice in one call: once.
    let d4 = delivery("acme", e1, 4);
    assert_eq!(store.enqueue(&[d4.clone(), d4.clone()]).await.unwrap(), 1);

    // A delivery whose status moved on stays as it is when queued again.
    let delivered = attempted(&d1, DeliveryStatus::Delivered, t(10));
    store.save_delivery(&delivered).await.unwrap();
    let mut requeued = d1.clone();
    requeued.payload = "{\"other\":true}".to_owned();
    requeued.created_at = t(99);
    assert_eq!(store.enqueue(&[requeued]).await.unwrap(), 0);
    assert_eq!(stored(&*store, &d1).await, Some(delivered));
    assert_eq!(stored(&*store, &d2).await, Some(d2.clone()));

    // The same event for another endpoint is another delivery.
    let mut other = d1.clone();
    other.endpoint_id = e2.to_owned();
    assert_eq!(
        store.enqueue(&[other.clone(), d2.clone()]).await.unwrap(),
        1
    );
    assert_eq!(stored(&*store, &other).await, Some(other));
    assert_eq!(
        store
            .deliveries(&d1.tenant_id, e1, None, None, 100)
            .await
            .unwrap()
            .deliveries
            .len(),
        4
    );
}
