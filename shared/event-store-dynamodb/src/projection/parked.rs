//! Parked events: an event the stream projector cannot project for good (a
//! stream record that is not a readable event, or an event the projection
//! refuses) is set aside per tenant instead of being skipped, so the rest of
//! the stream goes on and drafting for that tenant refuses until the event
//! is projected (`ledger-admin projection retry`).
//!
//! One item per parked event in the balances table, beside the tenant's
//! bookkeeping rows: owner `{tenant}#projection` (a tenant id cannot contain
//! `#`, so no balance owner, all `{tenant}/...`, is ever this key), sort key
//! `#parked#{stream}#{version, 20 digits}`; attributes `tenant`, `stream`,
//! `version`, `reason`, `parked_at` and, when known, the stream record's
//! `sequence_number`. A query of the tenant's owner key lists them.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use event_store::{EventStore, PARKED_EVENTS_MAX, ParkedEvent, StoreError, StreamId};
use ledger_domain::TenantId;

use super::{DynamoProjection, s, sdk};

/// The owner key suffix of a tenant's projection bookkeeping items.
pub const PARKED_OWNER_SUFFIX: &str = "#projection";
/// The sort key prefix of parked event items.
pub const PARKED_ROW_PREFIX: &str = "#parked#";

/// The owner key of a tenant's parked events.
pub fn parked_owner(tenant_id: &TenantId) -> String {
    format!("{tenant_id}{PARKED_OWNER_SUFFIX}")
}

fn parked_row(stream: &str, version: u64) -> String {
    format!("{PARKED_ROW_PREFIX}{stream}#{version:020}")
}

/// What `retry_parked` did with one parked event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Projected (or found projected already) and no longer parked.
    Projected {
        stream: String,
        version: u64,
        already_projected: bool,
    },
    /// Still not projectable: it stays parked.
    StillFailing {
        stream: String,
        version: u64,
        error: String,
    },
    /// The events table has no such event: it stays parked (an operator
    /// must look at it).
    Missing { stream: String, version: u64 },
}

impl RetryOutcome {
    pub fn cleared(&self) -> bool {
        matches!(self, RetryOutcome::Projected { .. })
    }
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

impl DynamoProjection {
    /// Parks an event of `tenant_id`. A redelivery of a parked event keeps
    /// the first item (its time and reason).
    pub async fn park(
        &self,
        tenant_id: &TenantId,
        event: &ParkedEvent,
        sequence_number: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.tables.balances)
            .item("owner", s(parked_owner(tenant_id)))
            .item("currency", s(parked_row(&event.stream, event.version)))
            .item("tenant", s(tenant_id.as_str()))
            .item("stream", s(&event.stream))
            .item("version", AttributeValue::N(event.version.to_string()))
            .item("reason", s(&event.reason))
            .item("parked_at", s(&event.parked_at))
            .condition_expression("attribute_not_exists(#o)")
            .expression_attribute_names("#o", "owner");
        if let Some(sequence_number) = sequence_number {
            request = request.item("sequence_number", s(sequence_number));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(sdk("put parked event", e)),
        }
    }

    /// The tenant's parked events, by stream and version.
    pub async fn parked(&self, tenant_id: &TenantId) -> Result<Vec<ParkedEvent>, StoreError> {
        let mut parked = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.balances)
                .key_condition_expression("#o = :o AND begins_with(#c, :p)")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_names("#c", "currency")
                .expression_attribute_values(":o", s(parked_owner(tenant_id)))
                .expression_attribute_values(":p", s(PARKED_ROW_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk("query parked events", e))?;
            for item in out.items() {
                parked.push(ParkedEvent {
                    stream: text(item, "stream"),
                    version: item
                        .get("version")
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0),
                    reason: text(item, "reason"),
                    parked_at: text(item, "parked_at"),
                });
                if parked.len() >= PARKED_EVENTS_MAX {
                    return Ok(parked);
                }
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(parked),
            }
        }
    }

    /// Removes a parked event's item (once it is projected).
    pub async fn clear_parked(
        &self,
        tenant_id: &TenantId,
        stream: &str,
        version: u64,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.balances)
            .key("owner", s(parked_owner(tenant_id)))
            .key("currency", s(parked_row(stream, version)))
            .send()
            .await
            .map_err(|e| sdk("delete parked event", e))?;
        Ok(())
    }

    /// Re-reads each of the tenant's parked events from the events table
    /// and projects it (exactly once, like the stream projector); clears the
    /// parked item only when that succeeded. What still fails stays parked.
    pub async fn retry_parked<S: EventStore + ?Sized>(
        &self,
        events: &S,
        tenant_id: &TenantId,
    ) -> Result<Vec<RetryOutcome>, StoreError> {
        let mut outcomes = Vec::new();
        for parked in self.parked(tenant_id).await? {
            let stream = StreamId::new(parked.stream.clone())?;
            let found = events
                .read_stream(&stream, parked.version.max(1), 1)
                .await?
                .into_iter()
                .find(|e| e.version == parked.version);
            let Some(event) = found else {
                outcomes.push(RetryOutcome::Missing {
                    stream: parked.stream,
                    version: parked.version,
                });
                continue;
            };
            match self.project(std::slice::from_ref(&event)).await {
                Ok(report) => {
                    self.clear_parked(tenant_id, &parked.stream, parked.version)
                        .await?;
                    outcomes.push(RetryOutcome::Projected {
                        stream: parked.stream,
                        version: parked.version,
                        already_projected: report.already_projected > 0,
                    });
                }
                Err(failure) => outcomes.push(RetryOutcome::StillFailing {
                    stream: parked.stream,
                    version: parked.version,
                    error: failure.error.to_string(),
                }),
            }
        }
        Ok(outcomes)
    }
}
