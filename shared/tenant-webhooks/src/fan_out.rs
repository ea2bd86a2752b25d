//! From committed events to queued deliveries: the event log is the
//! outbox. A consumer reads the log in order from its own checkpoint, turns
//! each event into its public events, and queues one delivery per
//! subscribed endpoint of the event's tenant (never another tenant's),
//! idempotently, before it moves its checkpoint: an event committed is an
//! event queued, and a crash in between queues nothing twice.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use event_store::webhooks::{Delivery, Endpoint, WebhookStore};
use event_store::{StoreError, StoredEvent};
use ledger_domain::TenantId;
use ledger_domain::events::tenant_of_stream;
use ledger_domain::public::{PublicEvent, public_events};

/// The public events of stored events, in log order. An event that cannot
/// be read stops it (named in the error): nothing is skipped.
pub fn public_of(events: &[StoredEvent]) -> Result<Vec<PublicEvent>, StoreError> {
    let mut out = Vec::new();
    for stored in events {
        let event = stored.decode()?;
        out.extend(public_events(
            stored.stream.as_str(),
            stored.version,
            &event,
        ));
    }
    Ok(out)
}

/// Whether anyone can receive public events of these stored events: some
/// tenant of theirs has a webhook endpoint. Read from the stream names
/// alone (no event is decoded), so a page of a tenant without endpoints,
/// the common case under load, costs one endpoint lookup per tenant. A
/// stream that names no tenant answers yes, so the fan-out reads it (and
/// stops at it if it is not an event).
pub async fn has_subscribers(
    store: &dyn WebhookStore,
    events: &[StoredEvent],
) -> Result<bool, StoreError> {
    let mut tenants = BTreeSet::new();
    for stored in events {
        let Some(tenant) = tenant_of_stream(stored.stream.as_str()) else {
            return Ok(true);
        };
        tenants.insert(tenant);
    }
    for tenant in &tenants {
        if !store.endpoints(tenant).await?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What one fan-out did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    pub public_events: usize,
    /// Deliveries newly queued (repeats of a fan-out queue none).
    pub queued: usize,
}

/// Queues the deliveries of `events` (public events, in log order) for
/// their tenants' subscribed endpoints.
pub async fn fan_out(
    store: &dyn WebhookStore,
    events: &[PublicEvent],
    now: DateTime<Utc>,
) -> Result<FanOut, StoreError> {
    let mut endpoints: BTreeMap<String, Vec<Endpoint>> = BTreeMap::new();
    let mut deliveries = Vec::new();
    for event in events {
        if !endpoints.contains_key(&event.tenant_id) {
            let tenant =
                TenantId::new(event.tenant_id.clone()).map_err(|e| StoreError::InvalidInput {
                    field: "tenant_id",
                    reason: e.to_string(),
                })?;
            endpoints.insert(event.tenant_id.clone(), store.endpoints(&tenant).await?);
        }
        for endpoint in &endpoints[&event.tenant_id] {
            if endpoint.wants(&event.event_type) {
                deliveries.push(Delivery::queued(
                    endpoint.tenant_id.clone(),
                    &endpoint.endpoint_id,
                    event,
                    now,
                ));
            }
        }
    }
    let queued = if deliveries.is_empty() {
        0
    } else {
        store.enqueue(&deliveries).await?
    };
    Ok(FanOut {
        public_events: events.len(),
        queued,
    })
}
