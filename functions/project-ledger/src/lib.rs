//! project-ledger: the events table's DynamoDB Stream in, journal lines and
//! balances out (see `event_store_dynamodb::projection`).
//!
//! Records arrive in order per stream (partition key). Nothing is ever
//! skipped:
//! - a record that cannot be read as an event, or an event the projection
//!   refuses for good (not a throttle, not an SDK or network error: see
//!   `ProjectionFailure::is_transient`), is parked for its tenant (an item
//!   in the balances table, listed by `ledger-admin projection parked`),
//!   the `ProjectionParked` metric and an error log line name it, and the
//!   rest of the batch is projected. Drafting refuses for that tenant until
//!   the event is projected (`ledger-admin projection retry`);
//! - a transient failure, a record whose tenant cannot be told, or a park
//!   that could not be written is reported by sequence number
//!   (`ReportBatchItemFailures`), so Lambda retries from there, without
//!   limit (the iterator age and lag alarms show it).

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use event_store::{ParkedEvent, StoreError, StoredEvent};
use event_store_dynamodb::projection::DynamoProjection;
use lambda_edge::metrics::Metrics;
use ledger_domain::events::tenant_of_stream;
use serde_json::Value;

/// One parked event of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub tenant: String,
    pub event: ParkedEvent,
    pub sequence_number: Option<String>,
}

/// What one batch did: the response for Lambda, what was parked, and the
/// metrics emitted.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub response: DynamoDbEventResponse,
    pub parked: Vec<Parked>,
    pub metrics: Metrics,
}

fn failure(sequence_number: Option<String>) -> DynamoDbEventResponse {
    let mut item = DynamoDbBatchItemFailure::default();
    item.item_identifier = sequence_number;
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = vec![item];
    response
}

/// A record: a readable event, or why it is not one.
enum Record {
    Event(StoredEvent),
    Unreadable(StoreError),
}

/// The stream and version a record is about: from the error (which names
/// what the image had), else from the record's keys.
fn identify(error: &StoreError, keys: &Value) -> Option<(String, u64)> {
    let key_stream = keys
        .get("stream")
        .and_then(|v| v.get("S"))
        .and_then(Value::as_str);
    let key_version = keys
        .get("version")
        .and_then(|v| v.get("N"))
        .and_then(Value::as_str)
        .and_then(|n| n.parse().ok());
    let (stream, version) = match error {
        StoreError::CorruptEvent {
            stream, version, ..
        } => (
            Some(stream.as_str()).filter(|s| !s.is_empty()),
            Some(*version).filter(|v| *v > 0),
        ),
        _ => (None, None),
    };
    Some((stream.or(key_stream)?.to_owned(), version.or(key_version)?))
}

struct Batch<'a> {
    projection: &'a DynamoProjection,
    parked: Vec<Parked>,
    events: usize,
    already_projected: usize,
    transactions: usize,
    balance_writes: usize,
}

impl Batch<'_> {
    /// Parks an event; the error is the park's own failure (transient).
    async fn park(
        &mut self,
        stream: &str,
        version: u64,
        reason: String,
        sequence_number: Option<String>,
    ) -> Result<(), StoreError> {
        let Some(tenant) = tenant_of_stream(stream) else {
            return Err(StoreError::InvalidInput {
                field: "stream",
                reason: format!("{stream:?} names no tenant: not parked"),
            });
        };
        let event = ParkedEvent {
            stream: stream.to_owned(),
            version,
            reason,
            parked_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        self.projection
            .park(&tenant, &event, sequence_number.as_deref())
            .await?;
        tracing::error!(tenant = %tenant, stream = %event.stream, version = event.version, reason = %event.reason, ?sequence_number, "projection parked an event it cannot project; drafting for the tenant refuses until `ledger-admin projection retry`");
        self.parked.push(Parked {
            tenant: tenant.to_string(),
            event,
            sequence_number,
        });
        Ok(())
    }

    /// Projects a run of readable events, parking what fails for good.
    /// Returns the index of the event to report on a transient failure.
    async fn project(
        &mut self,
        events: &[StoredEvent],
        sequence_numbers: &[Option<String>],
    ) -> Result<(), usize> {
        let mut start = 0;
        while start < events.len() {
            match self.projection.project(&events[start..]).await {
                Ok(report) => {
                    self.add(&report, report.events);
                    return Ok(());
                }
                Err(f) => {
                    self.add(&f.report, f.first_unprojected);
                    let index = start + f.first_unprojected;
                    if f.is_transient() {
                        tracing::error!(error = %f.error, stream = %events[index].stream, version = events[index].version, "projection failed; Lambda retries from this record");
                        return Err(index);
                    }
                    let stored = &events[index];
                    if let Err(e) = self
                        .park(
                            stored.stream.as_str(),
                            stored.version,
                            f.error.to_string(),
                            sequence_numbers.get(index).cloned().flatten(),
                        )
                        .await
                    {
                        tracing::error!(error = %e, stream = %stored.stream, version = stored.version, projection_error = %f.error, "could not park an event; Lambda retries from this record");
                        return Err(index);
                    }
                    start = index + 1;
                }
            }
        }
        Ok(())
    }

    fn add(
        &mut self,
        report: &event_store_dynamodb::projection::DynamoProjectionReport,
        events: usize,
    ) {
        self.events += events;
        self.already_projected += report.already_projected;
        self.transactions += report.transactions;
        self.balance_writes += report.balance_writes;
    }
}

/// Projects one batch of stream records and emits its metrics.
pub async fn handle(projection: &DynamoProjection, event: Event) -> Outcome {
    // Projection lag: how long ago the newest record of the batch was written.
    let newest = event
        .records
        .iter()
        .map(|r| r.change.approximate_creation_date_time)
        .max();
    let mut records: Vec<(Record, Option<String>, Value)> = Vec::new();
    for record in event.records {
        // Events are only ever inserted; other records carry no new event.
        if record.event_name != "INSERT" {
            continue;
        }
        records.push(read(record));
    }
    let mut batch = Batch {
        projection,
        parked: Vec::new(),
        events: 0,
        already_projected: 0,
        transactions: 0,
        balance_writes: 0,
    };
    let mut stop_at: Option<Option<String>> = None;
    let mut records = records.into_iter().peekable();
    'batch: while records.peek().is_some() {
        // The run of readable events up to the next unreadable record.
        let mut events = Vec::new();
        let mut sequence_numbers = Vec::new();
        while let Some((Record::Event(_), _, _)) = records.peek() {
            let Some((Record::Event(stored), sequence_number, _)) = records.next() else {
                unreachable!("peeked an event");
            };
            events.push(stored);
            sequence_numbers.push(sequence_number);
        }
        if let Err(index) = batch.project(&events, &sequence_numbers).await {
            stop_at = Some(sequence_numbers.get(index).cloned().flatten());
            break 'batch;
        }
        let Some((Record::Unreadable(error), sequence_number, keys)) = records.next() else {
            continue;
        };
        let parked = match identify(&error, &keys) {
            Some((stream, version)) => {
                batch
                    .park(&stream, version, error.to_string(), sequence_number.clone())
                    .await
            }
            None => Err(StoreError::InvalidInput {
                field: "record",
                reason: "names no stream and version: not parked".to_owned(),
            }),
        };
        if let Err(e) = parked {
            tracing::error!(?sequence_number, reason = %error, park_error = %e, "unreadable stream record not parked; Lambda retries from it");
            stop_at = Some(sequence_number);
            break 'batch;
        }
    }
    tracing::info!(
        events = batch.events,
        already_projected = batch.already_projected,
        transactions = batch.transactions,
        balance_writes = batch.balance_writes,
        parked = batch.parked.len(),
        "projected"
    );
    let mut metrics = Metrics::new("project-ledger")
        .count("EventsProjected", batch.events)
        .count("BalanceWrites", batch.balance_writes);
    if stop_at.is_none() {
        // Emitted only when the whole batch is projected (or parked): a
        // failing projector reports no lag, which its alarm treats as
        // breaching.
        let lag_ms = newest
            .map(|t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64)
            .unwrap_or(0.0);
        metrics = metrics.milliseconds("ProjectionLag", lag_ms);
    }
    if !batch.parked.is_empty() {
        metrics = metrics.count("ProjectionParked", batch.parked.len());
    }
    metrics.emit();
    Outcome {
        response: match stop_at {
            None => DynamoDbEventResponse::default(),
            Some(sequence_number) => failure(sequence_number),
        },
        parked: batch.parked,
        metrics,
    }
}

fn read(record: EventRecord) -> (Record, Option<String>, Value) {
    let image = serde_json::to_value(&record.change.new_image).unwrap_or(Value::Null);
    let keys = serde_json::to_value(&record.change.keys).unwrap_or(Value::Null);
    let sequence_number = record.change.sequence_number;
    match event_store_dynamodb::stored_event_from_stream_image(&image) {
        Ok(stored) => (Record::Event(stored), sequence_number, keys),
        Err(e) => (Record::Unreadable(e), sequence_number, keys),
    }
}
