//! publish-events: the events table's stream out.
//!
//! For each stream batch: the public events of its new events are put on
//! the EventBridge bus (source `affiliate-ledger`, detail-type the public
//! type, detail the public event), so tenants route them with rules to
//! SQS, Kinesis, Firehose or Kafka without code here; then one delivery is
//! queued per subscribed webhook endpoint of the event's tenant, and what
//! is due is sent. A batch that cannot be published or queued is retried
//! whole by Lambda (at least once: receivers deduplicate on the event id).
//! On its schedule the function sends the deliveries due for a retry.

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use event_store::webhooks::WebhookStore;
use event_store::{StoreError, StoredEvent};
use ledger_domain::public::PublicEvent;
use serde_json::Value;
use tenant_webhooks::{Deliverer, DeliveryReport};

/// The `source` of every entry on the bus.
pub const EVENT_SOURCE: &str = "affiliate-ledger";
/// EventBridge takes at most 10 entries per `PutEvents`.
const ENTRIES_PER_PUT: usize = 10;
/// Deliveries one invocation sends at most.
pub const DELIVERIES_PER_RUN: usize = 500;

/// The stored events of a stream batch (inserts only), in order.
pub fn stored_events(event: &StreamEvent) -> Result<Vec<StoredEvent>, StoreError> {
    event
        .records
        .iter()
        .filter(|r| r.event_name == "INSERT")
        .map(|r| {
            event_store_dynamodb::stored_event_from_stream_image(
                &serde_json::to_value(&r.change.new_image).unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// Puts public events on an EventBridge bus.
pub struct Bus {
    pub client: aws_sdk_eventbridge::Client,
    pub name: String,
}

impl Bus {
    /// Puts every event, ten per request; entries the bus refused are
    /// named in the error (the caller retries the batch).
    pub async fn put(&self, events: &[PublicEvent]) -> Result<usize, String> {
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;
        let mut put = 0;
        for chunk in events.chunks(ENTRIES_PER_PUT) {
            let entries: Vec<PutEventsRequestEntry> = chunk
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.name)
                        .source(EVENT_SOURCE)
                        .detail_type(&e.event_type)
                        .detail(e.to_json())
                        .time(aws_sdk_eventbridge::primitives::DateTime::from_millis(
                            e.created_at.timestamp_millis(),
                        ))
                        .resources(format!("tenant/{}", e.tenant_id))
                        .build()
                })
                .collect();
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "put events: {}",
                        aws_sdk_eventbridge::error::DisplayErrorContext(e)
                    )
                })?;
            if out.failed_entry_count() > 0 {
                let reasons: Vec<String> = out
                    .entries()
                    .iter()
                    .filter_map(|r| {
                        r.error_code()
                            .map(|c| format!("{c}: {}", r.error_message().unwrap_or_default()))
                    })
                    .collect();
                return Err(format!(
                    "the bus refused {} of {} entries: {}",
                    out.failed_entry_count(),
                    chunk.len(),
                    reasons.join("; ")
                ));
            }
            put += chunk.len();
        }
        Ok(put)
    }
}

/// What one stream batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub public_events: usize,
    pub on_bus: usize,
    pub queued: usize,
    pub deliveries: DeliveryReport,
}

/// Handles one stream batch. An error means nothing may be skipped: the
/// invocation fails and Lambda retries the batch.
pub async fn handle_stream(
    event: &StreamEvent,
    bus: Option<&Bus>,
    webhooks: &dyn WebhookStore,
    deliverer: &Deliverer,
) -> Result<Published, String> {
    let stored = stored_events(event).map_err(|e| e.to_string())?;
    let public = tenant_webhooks::public_of(&stored).map_err(|e| e.to_string())?;
    let mut done = Published {
        public_events: public.len(),
        ..Published::default()
    };
    if public.is_empty() {
        return Ok(done);
    }
    if let Some(bus) = bus {
        done.on_bus = bus.put(&public).await?;
    }
    let now = chrono::Utc::now();
    done.queued = tenant_webhooks::fan_out(webhooks, &public, now)
        .await
        .map_err(|e| e.to_string())?
        .queued;
    // What was just queued is due now: sent at once, not at the next
    // scheduled run. A failure to send is recorded for a retry, not an error.
    done.deliveries = deliverer
        .deliver_due(webhooks, now, DELIVERIES_PER_RUN)
        .await
        .map_err(|e| e.to_string())?;
    Ok(done)
}

/// The scheduled run: deliveries due for a retry.
pub async fn handle_schedule(
    webhooks: &dyn WebhookStore,
    deliverer: &Deliverer,
) -> Result<DeliveryReport, String> {
    deliverer
        .deliver_due(webhooks, chrono::Utc::now(), DELIVERIES_PER_RUN)
        .await
        .map_err(|e| e.to_string())
}

/// Emits the run's metrics: `PublicEvents`, `DeliveriesSent`,
/// `DeliveriesFailed`, `DeliveriesParked` (alarmed).
pub fn emit(published: usize, report: &DeliveryReport) {
    lambda_edge::metrics::Metrics::new("publish-events")
        .count("PublicEvents", published)
        .count("DeliveriesSent", report.delivered)
        .count("DeliveriesFailed", report.failed)
        .count("DeliveriesParked", report.parked)
        .emit();
}
