//! Deliveries end to end on the embedded store, to receivers on loopback
//! that answer as real ones do: 2xx, a 500, nothing at all.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, Utc};
use event_store::webhooks::{DeliveryStatus, WebhookStore};
use event_store_sqlite::SqliteEventStore;
use ledger_domain::events::PayoutItemOutcome;
use ledger_domain::public::{PublicEvent, public_events};
use ledger_domain::{
    Actor, ActorKind, AffiliateId, Currency, Event, EventBody, Money, MoneyMovement, PayoutBatchId,
    PayoutItemId, Processor, TenantId,
};
use tenant_webhooks::endpoints::{self, Registration, WebhookError};
use tenant_webhooks::signing::{SIGNATURE_HEADER, verify};
use tenant_webhooks::{Deliverer, UrlPolicy, fan_out};

#[derive(Clone, Default)]
struct Receiver {
    /// (signature header, event id header, body) of each request.
    got: Arc<Mutex<Vec<(String, String, String)>>>,
    /// The status it answers with.
    status: Arc<Mutex<u16>>,
}

async fn receiver(status: u16) -> (SocketAddr, Receiver) {
    let state = Receiver::default();
    *state.status.lock().unwrap() = status;
    let s = state.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let s = s.clone();
            async move {
                let h = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                s.got
                    .lock()
                    .unwrap()
                    .push((h(SIGNATURE_HEADER), h("Ledger-Event-Id"), body));
                let status = *s.status.lock().unwrap();
                (StatusCode::from_u16(status).unwrap(), "ok")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, state)
}

fn tenant(t: &str) -> TenantId {
    TenantId::new(t).unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + seconds, 0).unwrap()
}

fn paid(t: &str, item: &str, recorded: DateTime<Utc>) -> Vec<PublicEvent> {
    let body = EventBody::PayoutItemPaid(PayoutItemOutcome {
        batch_id: PayoutBatchId::new("b-1").unwrap(),
        item_id: PayoutItemId::new(item).unwrap(),
        affiliate_id: AffiliateId::new("aff-1").unwrap(),
        amount: Money::parse("12.50", Currency::EUR).unwrap(),
        processor: Processor::Sandbox,
        processor_event_id: Some(format!("evt-{item}")),
        reason: None,
        movement: MoneyMovement::ReservedToPaid,
        reversed_total: None,
    });
    let actor = Actor::new(ActorKind::Processor, "sandbox").unwrap();
    let event = Event::new(tenant(t), actor, recorded, recorded, body);
    public_events(&format!("{t}/payout-batch/b-1"), 3, &event)
}

async fn register(
    store: &SqliteEventStore,
    t: &str,
    address: SocketAddr,
    types: &[&str],
) -> (String, String) {
    let (endpoint, secret) = endpoints::register(
        store,
        &tenant(t),
        Registration {
            url: format!("http://{address}/hook"),
            event_types: types.iter().map(|s| s.to_string()).collect(),
            description: "CRM".into(),
        },
        UrlPolicy::Development,
        at(0),
    )
    .await
    .unwrap();
    (endpoint.endpoint_id, secret)
}

#[tokio::test]
async fn a_paid_item_is_delivered_once_signed_to_its_tenant_only() {
    let store = SqliteEventStore::in_memory().unwrap();
    let (address, got) = receiver(200).await;
    let (_, secret) = register(&store, "acme", address, &["payout_item.paid"]).await;
    let (other_address, other) = receiver(200).await;
    register(&store, "globex", other_address, &["payout_item.paid"]).await;

    let events = paid("acme", "i-1", at(1));
    assert_eq!(events.len(), 1);
    let queued = fan_out(&store, &events, at(1)).await.unwrap();
    assert_eq!(queued.queued, 1);
    // The same events again (a consumer that crashed before its checkpoint) queue nothing.
    assert_eq!(fan_out(&store, &events, at(1)).await.unwrap().queued, 0);

    let deliverer = Deliverer::new(UrlPolicy::Development);
    let report = deliverer.deliver_due(&store, at(2), 100).await.unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(
        deliverer
            .deliver_due(&store, at(3), 100)
            .await
            .unwrap()
            .delivered,
        0
    );

    let requests = got.got.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (signature, event_id, body) = &requests[0];
    assert_eq!(event_id, &events[0].id);
    assert_eq!(body, &events[0].to_json());
    verify(signature, &secret, body.as_bytes(), at(2).timestamp(), 300).unwrap();
    assert!(
        verify(
            signature,
            "whsec_other",
            body.as_bytes(),
            at(2).timestamp(),
            300
        )
        .is_err()
    );
    let sent: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(sent["type"], "payout_item.paid");
    assert_eq!(sent["data"]["amount"]["amount"], "12.50");
    assert!(
        other.got.lock().unwrap().is_empty(),
        "another tenant got acme's event"
    );
}

#[tokio::test]
async fn only_subscribed_types_are_queued() {
    let store = SqliteEventStore::in_memory().unwrap();
    let (address, got) = receiver(200).await;
    register(&store, "acme", address, &["commission.recorded"]).await;
    let queued = fan_out(&store, &paid("acme", "i-1", at(1)), at(1))
        .await
        .unwrap();
    assert_eq!((queued.public_events, queued.queued), (1, 0));
    let report = Deliverer::new(UrlPolicy::Development)
        .deliver_due(&store, at(2), 100)
        .await
        .unwrap();
    assert_eq!(report.delivered, 0);
    assert!(got.got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_receiver_that_fails_is_retried_with_backoff_then_gets_its_backlog_when_back() {
    let store = SqliteEventStore::in_memory().unwrap();
    let (address, got) = receiver(500).await;
    let (endpoint, _) = register(&store, "acme", address, &["payout_item.paid"]).await;
    let deliverer = Deliverer::new(UrlPolicy::Development);
    // An hour of events while the receiver answers 500.
    let mut ids = Vec::new();
    for minute in 0..6 {
        let events = paid("acme", &format!("i-{minute}"), at(minute * 600));
        ids.push(events[0].id.clone());
        fan_out(&store, &events, at(minute * 600)).await.unwrap();
        deliverer
            .deliver_due(&store, at(minute * 600), 100)
            .await
            .unwrap();
    }
    let page = store
        .deliveries(
            &tenant("acme"),
            &endpoint,
            Some(DeliveryStatus::Pending),
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        page.deliveries.len(),
        6,
        "nothing is delivered or lost while it is down"
    );
    let first = store
        .delivery(&tenant("acme"), &endpoint, &ids[0])
        .await
        .unwrap()
        .unwrap();
    assert!(first.attempts >= 2, "retried: {} attempts", first.attempts);
    assert_eq!(first.log.last().unwrap().status_code, Some(500));
    assert!(
        first.next_attempt_at.unwrap() > at(3000),
        "waits out a backoff"
    );

    // Back up: the next due retry succeeds and brings the rest forward.
    *got.status.lock().unwrap() = 200;
    let received_before = got.got.lock().unwrap().len();
    let mut now = at(3600);
    for _ in 0..100 {
        let r = deliverer.deliver_due(&store, now, 100).await.unwrap();
        if r.delivered > 0
            && store
                .deliveries(
                    &tenant("acme"),
                    &endpoint,
                    Some(DeliveryStatus::Pending),
                    None,
                    100,
                )
                .await
                .unwrap()
                .deliveries
                .is_empty()
        {
            break;
        }
        now += Duration::minutes(5);
    }
    assert!(
        now < at(3600 + 3 * 3600),
        "the backlog arrived within one backoff wait"
    );
    let delivered = store
        .deliveries(
            &tenant("acme"),
            &endpoint,
            Some(DeliveryStatus::Delivered),
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(delivered.deliveries.len(), 6);
    let after: Vec<String> = got.got.lock().unwrap()[received_before..]
        .iter()
        .map(|(_, id, _)| id.clone())
        .collect();
    for id in &ids {
        assert_eq!(
            after.iter().filter(|i| *i == id).count(),
            1,
            "{id} once after recovery"
        );
    }
}

#[tokio::test]
async fn a_receiver_down_for_the_whole_window_is_parked_then_replayed() {
    let store = SqliteEventStore::in_memory().unwrap();
    // A receiver that answers 503 for three days.
    let (address, got) = receiver(503).await;
    let (endpoint, _) = register(&store, "acme", address, &["payout_item.paid"]).await;
    let events = paid("acme", "i-1", at(1));
    fan_out(&store, &events, at(1)).await.unwrap();
    let deliverer = Deliverer::new(UrlPolicy::Development);
    let mut now = at(1);
    let mut parked = 0;
    for _ in 0..200 {
        parked += deliverer
            .deliver_due(&store, now, 100)
            .await
            .unwrap()
            .parked;
        now += Duration::hours(1);
    }
    assert_eq!(parked, 1);
    let d = store
        .delivery(&tenant("acme"), &endpoint, &events[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status, DeliveryStatus::Parked);
    // Hourly rounds here, so at most one attempt an hour.
    assert!(d.attempts > 40, "{} attempts", d.attempts);
    assert!(d.log.last().unwrap().at - d.created_at >= Duration::days(3));
    assert!(d.log.len() <= event_store::webhooks::ATTEMPT_LOG_MAX);
    // Parked is not due again by itself.
    assert_eq!(
        deliverer.deliver_due(&store, now, 100).await.unwrap(),
        Default::default()
    );

    *got.status.lock().unwrap() = 204;
    let replayed = endpoints::replay_parked(&store, &tenant("acme"), &endpoint, 100, now)
        .await
        .unwrap();
    assert_eq!(replayed, 1);
    assert_eq!(
        deliverer
            .deliver_due(&store, now, 100)
            .await
            .unwrap()
            .delivered,
        1
    );
    let d = store
        .delivery(&tenant("acme"), &endpoint, &events[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends() {
    let store = SqliteEventStore::in_memory().unwrap();
    let (address, got) = receiver(200).await;
    let (endpoint, old) = register(&store, "acme", address, &["payout_item.paid"]).await;
    let (_, new) = endpoints::rotate(&store, &tenant("acme"), &endpoint, Some(1), at(10))
        .await
        .unwrap();
    assert_ne!(old, new);
    let deliverer = Deliverer::new(UrlPolicy::Development);
    fan_out(&store, &paid("acme", "i-1", at(20)), at(20))
        .await
        .unwrap();
    deliverer.deliver_due(&store, at(20), 10).await.unwrap();
    // After the hour of overlap only the new secret signs.
    fan_out(&store, &paid("acme", "i-2", at(4000)), at(4000))
        .await
        .unwrap();
    deliverer.deliver_due(&store, at(4000), 10).await.unwrap();
    let got = got.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    let (during, later) = (&got[0], &got[1]);
    verify(
        &during.0,
        &old,
        during.2.as_bytes(),
        at(20).timestamp(),
        300,
    )
    .unwrap();
    verify(
        &during.0,
        &new,
        during.2.as_bytes(),
        at(20).timestamp(),
        300,
    )
    .unwrap();
    verify(
        &later.0,
        &new,
        later.2.as_bytes(),
        at(4000).timestamp(),
        300,
    )
    .unwrap();
    assert!(
        verify(
            &later.0,
            &old,
            later.2.as_bytes(),
            at(4000).timestamp(),
            300
        )
        .is_err()
    );
}

#[tokio::test]
async fn bad_endpoints_are_refused_naming_the_field() {
    let store = SqliteEventStore::in_memory().unwrap();
    let (address, _) = receiver(200).await;
    let attempt = |url: String, types: Vec<&'static str>, policy| {
        let store = store.clone();
        async move {
            endpoints::register(
                &store,
                &tenant("acme"),
                Registration {
                    url,
                    event_types: types.into_iter().map(str::to_owned).collect(),
                    description: String::new(),
                },
                policy,
                at(0),
            )
            .await
        }
    };
    let cases = [
        (
            format!("http://{address}/hook"),
            vec!["payout_item.paid"],
            UrlPolicy::Production,
            "url",
        ),
        (
            "https://10.0.0.8/hook".into(),
            vec!["payout_item.paid"],
            UrlPolicy::Production,
            "url",
        ),
        (
            "https://169.254.169.254/latest/meta-data".into(),
            vec!["payout_item.paid"],
            UrlPolicy::Development,
            "url",
        ),
        (
            format!("https://{address}/hook"),
            vec!["payout_item.paid"],
            UrlPolicy::Production,
            "url",
        ),
        (
            "https://user:pw@example.com/".into(),
            vec!["payout_item.paid"],
            UrlPolicy::Production,
            "url",
        ),
        (
            format!("http://{address}/hook"),
            vec!["payout_item.claimed"],
            UrlPolicy::Development,
            "event_types",
        ),
        (
            format!("http://{address}/hook"),
            vec![],
            UrlPolicy::Development,
            "event_types",
        ),
    ];
    for (url, types, policy, field) in cases {
        let refused = attempt(url.clone(), types, policy).await;
        let named = match &refused {
            Err(WebhookError::Invalid { field, .. }) | Err(WebhookError::Address { field, .. }) => {
                *field
            }
            other => panic!("{url}: {other:?}"),
        };
        assert_eq!(named, field, "{url}: {refused:?}");
    }
    // A port nothing listens on is refused as unreachable.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let refused = attempt(
        format!("http://{closed}/hook"),
        vec!["payout_item.paid"],
        UrlPolicy::Development,
    )
    .await;
    assert!(
        matches!(refused, Err(WebhookError::Invalid { field: "url", ref reason }) if reason.contains("nothing answers")),
        "{refused:?}"
    );
    assert!(
        store.endpoints(&tenant("acme")).await.unwrap().is_empty(),
        "nothing half-written"
    );
}
