//! The payload check: a delivery's payload reads back byte for byte from
//! every read, small or large, before and after a save.

use std::sync::Arc;

use event_store::webhooks::{DeliveryStatus, WebhookStore};

use super::fixtures::{attempted, delivery, stored, t};

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
