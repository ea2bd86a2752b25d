//! project-ledger: the events table's DynamoDB Stream in, journal lines and
//! balances out (see `event_store_dynamodb::projection`).
//!
//! Records arrive in order per stream (partition key). A record that cannot
//! be read, or a batch the projector cannot finish, is reported by sequence
//! number (`ReportBatchItemFailures`), so Lambda retries from there, and
//! after the mapping's retry limit hands it to the failure destination.
//! Nothing is ever skipped silently.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use event_store::{StoreError, StoredEvent};
use event_store_dynamodb::projection::DynamoProjection;
use serde_json::Value;

/// Reads one stream record's new image as a stored event.
pub fn stored_event(image: &Value) -> Result<StoredEvent, StoreError> {
    let get = |name: &str, kind: &str| {
        image
            .get(name)
            .and_then(|v| v.get(kind))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    event_store_dynamodb::stored_event(
        |name| get(name, "S"),
        |name| get(name, "N").and_then(|n| n.parse().ok()),
    )
}

fn failure(sequence_number: Option<String>) -> DynamoDbEventResponse {
    let mut item = DynamoDbBatchItemFailure::default();
    item.item_identifier = sequence_number;
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = vec![item];
    response
}

/// Projects one batch of stream records.
pub async fn handle(projection: &DynamoProjection, event: Event) -> DynamoDbEventResponse {
    let mut events = Vec::new();
    let mut sequence_numbers = Vec::new();
    let mut stop_at: Option<(Option<String>, String)> = None;
    // Projection lag: how long ago the newest record of the batch was written.
    let newest = event
        .records
        .iter()
        .map(|r| r.change.approximate_creation_date_time)
        .max();
    for record in event.records {
        // Events are only ever inserted; other records carry no new event.
        if record.event_name != "INSERT" {
            continue;
        }
        let image = serde_json::to_value(&record.change.new_image).unwrap_or(Value::Null);
        match stored_event(&image) {
            Ok(stored) => {
                events.push(stored);
                sequence_numbers.push(record.change.sequence_number.clone());
            }
            Err(e) => {
                stop_at = Some((record.change.sequence_number.clone(), e.to_string()));
                break;
            }
        }
    }
    match projection.project(&events).await {
        Ok(report) => {
            tracing::info!(
                events = report.events,
                already_projected = report.already_projected,
                transactions = report.transactions,
                balance_writes = report.balance_writes,
                "projected"
            );
            let lag_ms = newest
                .map(|t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64)
                .unwrap_or(0.0);
            lambda_edge::metrics::Metrics::new("project-ledger")
                .count("EventsProjected", report.events)
                .count("BalanceWrites", report.balance_writes)
                .milliseconds("ProjectionLag", lag_ms)
                .emit();
            match stop_at {
                None => DynamoDbEventResponse::default(),
                Some((sequence_number, reason)) => {
                    tracing::error!(?sequence_number, %reason, "unreadable stream record");
                    failure(sequence_number)
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e.error, first_unprojected = e.first_unprojected, "projection failed");
            failure(sequence_numbers.get(e.first_unprojected).cloned().flatten())
        }
    }
}
