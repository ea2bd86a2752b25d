//! The listing checks: an endpoint's deliveries newest first, by status,
//! in pages that cover everything once.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use event_store::webhooks::{Delivery, DeliveryStatus, WebhookStore};
use ledger_domain::public::public_event_id;

use super::fixtures::{attempted, delivery, event_id, event_ids, t};

/// Seven deliveries of one endpoint (events 1 to 7): 2 and 5 delivered,
/// 6 parked, the rest pending; and two of another endpoint.
async fn listing_fixture(store: &dyn WebhookStore) -> Vec<Delivery> {
    let e1 = "we_000000000000000000000001";
    let mut ds: Vec<Delivery> = (1..=7).map(|n| delivery("acme", e1, n)).collect();
    // Queued out of order: the listing's order is the event ids'.
    let mut shuffled = ds.clone();
    shuffled.swap(0, 4);
    shuffled.swap(2, 6);
    assert_eq!(store.enqueue(&shuffled).await.unwrap(), 7);
    let others = [
        delivery("acme", "we_000000000000000000000002", 3),
        delivery("acme", "we_000000000000000000000002", 8),
    ];
    assert_eq!(store.enqueue(&others).await.unwrap(), 2);
    for (index, status) in [
        (1, DeliveryStatus::Delivered),
        (4, DeliveryStatus::Delivered),
        (5, DeliveryStatus::Parked),
    ] {
        let changed = attempted(&ds[index], status, t(30));
        store.save_delivery(&changed).await.unwrap();
        ds[index] = changed;
    }
    ds
}

pub async fn deliveries_list_newest_first_by_status(store: Arc<dyn WebhookStore>) {
    let ds = listing_fixture(&*store).await;
    let (tenant_id, e1) = (ds[0].tenant_id.clone(), ds[0].endpoint_id.clone());
    let all = store
        .deliveries(&tenant_id, &e1, None, None, 100)
        .await
        .unwrap();
    let newest_first: Vec<Delivery> = ds.iter().rev().cloned().collect();
    assert_eq!(all.deliveries, newest_first);
    assert_eq!(all.next, None);
    let ids = |ns: &[i64]| ns.iter().map(|n| event_id(*n)).collect::<Vec<_>>();
    for (status, expected) in [
        (DeliveryStatus::Pending, ids(&[7, 4, 3, 1])),
        (DeliveryStatus::Delivered, ids(&[5, 2])),
        (DeliveryStatus::Parked, ids(&[6])),
    ] {
        let page = store
            .deliveries(&tenant_id, &e1, Some(status), None, 100)
            .await
            .unwrap();
        assert_eq!(event_ids(&page.deliveries), expected, "{status:?}");
        assert!(page.deliveries.iter().all(|d| d.status == status));
        assert_eq!(page.next, None);
    }
    assert_eq!(
        store
            .deliveries(&tenant_id, &e1, Some(DeliveryStatus::Delivered), None, 100)
            .await
            .unwrap()
            .deliveries[0],
        ds[4]
    );
    assert!(
        store
            .deliveries(&tenant_id, "we_0000000000000000000000ff", None, None, 100)
            .await
            .unwrap()
            .deliveries
            .is_empty()
    );
}

/// Every page of a listing, following `next` (at most 20 pages).
async fn all_pages(
    store: &dyn WebhookStore,
    d: &Delivery,
    status: Option<DeliveryStatus>,
    limit: usize,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..20 {
        let page = store
            .deliveries(
                &d.tenant_id,
                &d.endpoint_id,
                status,
                after.as_deref(),
                limit,
            )
            .await
            .unwrap();
        assert!(page.deliveries.len() <= limit, "a page over its limit");
        let done = page.next.is_none();
        if !page.deliveries.is_empty() {
            pages.push(event_ids(&page.deliveries));
        }
        after = page.next;
        if done {
            return pages;
        }
    }
    panic!("more than 20 pages");
}

pub async fn deliveries_pages_cover_everything_once(store: Arc<dyn WebhookStore>) {
    let ds = listing_fixture(&*store).await;
    let ids = |ns: &[i64]| ns.iter().map(|n| event_id(*n)).collect::<Vec<_>>();

    let pages = all_pages(&*store, &ds[0], None, 3).await;
    assert_eq!(
        pages,
        vec![ids(&[7, 6, 5]), ids(&[4, 3, 2]), ids(&[1])],
        "pages of 3, newest first"
    );
    let flat: Vec<String> = pages.concat();
    assert_eq!(flat.iter().collect::<BTreeSet<_>>().len(), 7, "no overlap");

    // Pages that end exactly at the last delivery, and filtered pages.
    assert_eq!(
        all_pages(&*store, &ds[0], Some(DeliveryStatus::Pending), 2).await,
        vec![ids(&[7, 4]), ids(&[3, 1])]
    );
    assert_eq!(
        all_pages(&*store, &ds[0], Some(DeliveryStatus::Delivered), 1).await,
        vec![ids(&[5]), ids(&[2])]
    );
    assert_eq!(
        all_pages(&*store, &ds[0], None, 7).await,
        vec![ids(&[7, 6, 5, 4, 3, 2, 1])]
    );

    // `after` is exclusive, whatever it is (a delivered event, a filtered
    // one, an id never stored).
    let page = |status, after: String, limit| {
        let store = store.clone();
        let (tenant_id, e1) = (ds[0].tenant_id.clone(), ds[0].endpoint_id.clone());
        async move {
            store
                .deliveries(&tenant_id, &e1, status, Some(&after), limit)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        event_ids(&page(None, event_id(5), 2).await.deliveries),
        ids(&[4, 3])
    );
    assert_eq!(
        event_ids(
            &page(Some(DeliveryStatus::Pending), event_id(5), 10)
                .await
                .deliveries
        ),
        ids(&[4, 3, 1])
    );
    let between = public_event_id(
        "acme/commission/between",
        1,
        0,
        t(4) + Duration::milliseconds(500),
    );
    assert_eq!(
        event_ids(&page(None, between, 10).await.deliveries),
        ids(&[4, 3, 2, 1])
    );
    let last = page(None, event_id(1), 10).await;
    assert!(last.deliveries.is_empty());
    assert_eq!(last.next, None);
}
