//! The conformance section for [`WebhookStore`] adapters: endpoints,
//! deliveries, the due queue and their version checks.
//!
//! An adapter runs every check, unchanged, with:
//!
//! ```ignore
//! event_store_conformance::webhook_conformance_suite!(my_webhook_store().await);
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use event_store::StoreError;
use event_store::webhooks::{
    Attempt, Delivery, DeliveryStatus, Endpoint, SigningSecret, WebhookStore,
};
use ledger_domain::TenantId;
use ledger_domain::public::public_event_id;

/// Expands to one `#[tokio::test]` per webhook check, each with a fresh
/// store built by the given expression (evaluated inside the test's
/// runtime).
#[macro_export]
macro_rules! webhook_conformance_suite {
    ($make:expr) => {
        $crate::webhook_conformance_suite!(@tests $make;
            endpoint_reads_back_equal,
            endpoint_created_twice_is_a_conflict,
            endpoint_update_checks_the_version,
            endpoints_lists_one_tenants_by_id,
            webhook_tenants_are_isolated,
            enqueue_is_idempotent_per_endpoint_and_event,
            due_lists_pending_deliveries_earliest_first,
            saved_delivery_leaves_the_due_queue,
            stale_delivery_save_is_a_conflict,
            deliveries_list_newest_first_by_status,
            deliveries_pages_cover_everything_once,
            delivery_payload_reads_back_exactly,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make;
                $crate::webhooks::$name(std::sync::Arc::new(store)).await;
            }
        )+
    };
}

/// A time on a microsecond, `seconds` after a fixed origin.
fn t(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_780_000_000 + seconds, 654_321_000)
        .single()
        .unwrap()
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// The public event id of the `n`th event, recorded at `t(n)`: ids sort by `n`.
fn event_id(n: i64) -> String {
    public_event_id(&format!("acme/commission/c-{n}"), 1, 0, t(n))
}

fn endpoint(tenant_id: &str, id: &str, url: &str) -> Endpoint {
    Endpoint {
        tenant_id: tenant(tenant_id),
        endpoint_id: id.to_owned(),
        url: url.to_owned(),
        event_types: vec![
            "commission.matured".to_owned(),
            "commission.recorded".to_owned(),
        ],
        description: format!("{id} of {tenant_id}"),
        enabled: true,
        secrets: vec![SigningSecret {
            secret: format!("whsec_{}", "ab".repeat(32)),
            created_at: t(0),
            expires_at: None,
        }],
        created_at: t(0),
        updated_at: t(0),
        version: 1,
    }
}

/// A delivery of event `n`, queued at `t(n)` and due then.
fn delivery(tenant_id: &str, endpoint_id: &str, n: i64) -> Delivery {
    let event = event_id(n);
    Delivery {
        tenant_id: tenant(tenant_id),
        endpoint_id: endpoint_id.to_owned(),
        payload: format!("{{\"id\":\"{event}\",\"type\":\"commission.recorded\",\"n\":{n}}}"),
        event_id: event,
        event_type: "commission.recorded".to_owned(),
        status: DeliveryStatus::Pending,
        created_at: t(n),
        next_attempt_at: Some(t(n)),
        delivered_at: None,
        attempts: 0,
        log: Vec::new(),
        version: 1,
    }
}

/// `d` after one more attempt, with the given outcome.
fn attempted(d: &Delivery, status: DeliveryStatus, at: DateTime<Utc>) -> Delivery {
    let mut next = d.clone();
    next.push_attempt(Attempt {
        attempt: d.attempts + 1,
        at,
        status_code: Some(if status == DeliveryStatus::Delivered {
            200
        } else {
            503
        }),
        latency_ms: 42,
        error: (status != DeliveryStatus::Delivered).then(|| "503 Service Unavailable".into()),
    });
    next.status = status;
    match status {
        DeliveryStatus::Pending => next.next_attempt_at = Some(at + Duration::seconds(30)),
        DeliveryStatus::Delivered => {
            next.next_attempt_at = None;
            next.delivered_at = Some(at);
        }
        DeliveryStatus::Parked => next.next_attempt_at = None,
    }
    next.version += 1;
    next
}

fn is_conflict(result: Result<(), StoreError>) -> bool {
    matches!(result, Err(StoreError::VersionConflict { .. }))
}

/// Who a delivery is: (tenant, endpoint, event).
fn key(d: &Delivery) -> (String, String, String) {
    (
        d.tenant_id.to_string(),
        d.endpoint_id.clone(),
        d.event_id.clone(),
    )
}

fn keys(ds: &[Delivery]) -> Vec<(String, String, String)> {
    ds.iter().map(key).collect()
}

fn event_ids(ds: &[Delivery]) -> Vec<String> {
    ds.iter().map(|d| d.event_id.clone()).collect()
}

async fn stored(store: &dyn WebhookStore, d: &Delivery) -> Option<Delivery> {
    store
        .delivery(&d.tenant_id, &d.endpoint_id, &d.event_id)
        .await
        .unwrap()
}

pub async fn endpoint_reads_back_equal(store: Arc<dyn WebhookStore>) {
    let mut e = endpoint(
        "acme",
        "we_000000000000000000000001",
        "https://a.example/hooks",
    );
    e.description = "Büro Zürich — 日本 ✓".to_owned();
    e.secrets.push(SigningSecret {
        secret: format!("whsec_{}", "cd".repeat(32)),
        created_at: t(-10),
        expires_at: Some(t(86_400)),
    });
    store.create_endpoint(&e).await.unwrap();
    assert_eq!(
        store.endpoint(&e.tenant_id, &e.endpoint_id).await.unwrap(),
        Some(e.clone())
    );
    assert_eq!(
        store
            .endpoint(&e.tenant_id, "we_ffffffffffffffffffffffff")
            .await
            .unwrap(),
        None
    );
}

pub async fn endpoint_created_twice_is_a_conflict(store: Arc<dyn WebhookStore>) {
    let first = endpoint("acme", "we_000000000000000000000001", "https://a.example/1");
    store.create_endpoint(&first).await.unwrap();
    let second = endpoint("acme", "we_000000000000000000000001", "https://a.example/2");
    assert!(is_conflict(store.create_endpoint(&second).await));
    assert_eq!(
        store
            .endpoint(&first.tenant_id, &first.endpoint_id)
            .await
            .unwrap(),
        Some(first)
    );
}

pub async fn endpoint_update_checks_the_version(store: Arc<dyn WebhookStore>) {
    let e = endpoint("acme", "we_000000000000000000000001", "https://a.example/1");
    store.create_endpoint(&e).await.unwrap();

    let mut v2 = e.clone();
    v2.url = "https://a.example/2".to_owned();
    v2.enabled = false;
    v2.updated_at = t(60);
    v2.version = 2;
    store.update_endpoint(&v2).await.unwrap();
    let read = || store.endpoint(&e.tenant_id, &e.endpoint_id);
    assert_eq!(read().await.unwrap(), Some(v2.clone()));

    // A writer that read version 1 too: stale, and nothing changes.
    let mut stale = e.clone();
    stale.url = "https://a.example/stale".to_owned();
    stale.version = 2;
    assert!(is_conflict(store.update_endpoint(&stale).await));
    // A version that skips one, or one below the stored.
    let mut skipping = v2.clone();
    skipping.version = 4;
    assert!(is_conflict(store.update_endpoint(&skipping).await));
    let mut old = v2.clone();
    old.version = 1;
    assert!(is_conflict(store.update_endpoint(&old).await));
    assert_eq!(read().await.unwrap(), Some(v2.clone()));

    // Updating an endpoint that was never created.
    let mut missing = endpoint("acme", "we_00000000000000000000ffff", "https://a.example/x");
    missing.version = 2;
    assert!(is_conflict(store.update_endpoint(&missing).await));
    assert_eq!(
        store
            .endpoint(&missing.tenant_id, &missing.endpoint_id)
            .await
            .unwrap(),
        None
    );

    let mut v3 = v2.clone();
    v3.enabled = true;
    v3.version = 3;
    store.update_endpoint(&v3).await.unwrap();
    assert_eq!(read().await.unwrap(), Some(v3));
}

pub async fn endpoints_lists_one_tenants_by_id(store: Arc<dyn WebhookStore>) {
    for (t_id, id) in [
        ("acme", "we_00000000000000000000000c"),
        ("acme", "we_00000000000000000000000a"),
        ("globex", "we_00000000000000000000000b"),
        ("acme", "we_00000000000000000000000b"),
        ("acme-eu", "we_000000000000000000000000"),
    ] {
        store
            .create_endpoint(&endpoint(t_id, id, "https://h.example/"))
            .await
            .unwrap();
    }
    let listed = store.endpoints(&tenant("acme")).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|e| (e.tenant_id.to_string(), e.endpoint_id.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("acme".to_owned(), "we_00000000000000000000000a"),
            ("acme".to_owned(), "we_00000000000000000000000b"),
            ("acme".to_owned(), "we_00000000000000000000000c"),
        ]
    );
    assert_eq!(
        listed[0],
        endpoint("acme", "we_00000000000000000000000a", "https://h.example/")
    );
    assert_eq!(store.endpoints(&tenant("globex")).await.unwrap().len(), 1);
    assert!(
        store
            .endpoints(&tenant("initech"))
            .await
            .unwrap()
            .is_empty()
    );
}

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

pub async fn delivery_payload_reads_back_exactly(store: Arc<dyn WebhookStore>) {
    let text =
        "Provision für Café Zoë — 日本語の説明 ✓ 🎉 \"quoted\" \\ back\\slash\nnew line\ttab";
    let mut small = delivery("acme", "we_000000000000000000000001", 1);
    small.payload = format!("{{\"id\":\"{}\",\"note\":\"{text}\"}}", small.event_id);
    let mut large = delivery("acme", "we_000000000000000000000001", 2);
    let mut body = String::from("{\"data\":[");
    let mut i = 0;
    while body.len() < 50_000 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!("{{\"line\":{i},\"text\":\"{text} ·{i}·\"}}"));
        i += 1;
    }
    body.push_str("]}");
    large.payload = body;
    assert!(large.payload.len() >= 50_000);
    assert_eq!(
        store
            .enqueue(&[small.clone(), large.clone()])
            .await
            .unwrap(),
        2
    );
    let small_back = stored(&*store, &small).await.unwrap();
    assert_eq!(small_back.payload.as_bytes(), small.payload.as_bytes());
    assert_eq!(small_back, small);
    let large_back = stored(&*store, &large).await.unwrap();
    assert_eq!(large_back.payload.as_bytes(), large.payload.as_bytes());
    assert_eq!(large_back, large);

    // The same bytes after a save, and from every read.
    let retried = attempted(&large, DeliveryStatus::Pending, t(3));
    store.save_delivery(&retried).await.unwrap();
    assert_eq!(stored(&*store, &large).await, Some(retried.clone()));
    let listed = store
        .deliveries(&small.tenant_id, &small.endpoint_id, None, None, 10)
        .await
        .unwrap();
    assert_eq!(listed.deliveries, vec![retried.clone(), small.clone()]);
    let due = store.due(t(1000), 10).await.unwrap();
    assert_eq!(due, vec![small, retried]);
    assert_eq!(
        store
            .delivery(
                &large.tenant_id,
                &large.endpoint_id,
                "evt_ffffffffffffffffffffffffffffffff"
            )
            .await
            .unwrap(),
        None
    );
}
