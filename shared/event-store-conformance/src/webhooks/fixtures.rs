//! The shared fixtures of the webhook checks: fixed times, endpoints and
//! deliveries, their attempts, and small readers of the results.

use chrono::{DateTime, Duration, TimeZone, Utc};
use event_store::StoreError;
use event_store::webhooks::{
    Attempt, Delivery, DeliveryStatus, Endpoint, SigningSecret, WebhookStore,
};
use ledger_domain::TenantId;
use ledger_domain::public::public_event_id;

/// A time on a microsecond, `seconds` after a fixed origin.
pub(super) fn t(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_780_000_000 + seconds, 654_321_000)
        .single()
        .unwrap()
}

pub(super) fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// The public event id of the `n`th event, recorded at `t(n)`: ids sort by `n`.
pub(super) fn event_id(n: i64) -> String {
    public_event_id(&format!("acme/commission/c-{n}"), 1, 0, t(n))
}

pub(super) fn endpoint(tenant_id: &str, id: &str, url: &str) -> Endpoint {
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
pub(super) fn delivery(tenant_id: &str, endpoint_id: &str, n: i64) -> Delivery {
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
pub(super) fn attempted(d: &Delivery, status: DeliveryStatus, at: DateTime<Utc>) -> Delivery {
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

pub(super) fn is_conflict(result: Result<(), StoreError>) -> bool {
    matches!(result, Err(StoreError::VersionConflict { .. }))
}

/// Who a delivery is: (tenant, endpoint, event).
pub(super) fn key(d: &Delivery) -> (String, String, String) {
    (
        d.tenant_id.to_string(),
        d.endpoint_id.clone(),
        d.event_id.clone(),
    )
}

pub(super) fn keys(ds: &[Delivery]) -> Vec<(String, String, String)> {
    ds.iter().map(key).collect()
}

pub(super) fn event_ids(ds: &[Delivery]) -> Vec<String> {
    ds.iter().map(|d| d.event_id.clone()).collect()
}

pub(super) async fn stored(store: &dyn WebhookStore, d: &Delivery) -> Option<Delivery> {
    store
        .delivery(&d.tenant_id, &d.endpoint_id, &d.event_id)
        .await
        .unwrap()
}
