//! Encoding endpoints and deliveries as items and decoding them back: keys,
//! due-index attributes, JSON bodies and versions.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use event_store::StoreError;
use event_store::webhooks::{Delivery, DeliveryStatus, Endpoint};
use ledger_domain::TenantId;

use super::{DUE_SHARDS, WEBHOOK_BODY_BYTES_MAX, attr};
use crate::{n, s};

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn endpoints_pk(tenant_id: &TenantId) -> String {
    format!("{tenant_id}#endpoints")
}

pub(super) fn deliveries_pk(tenant_id: &TenantId, endpoint_id: &str) -> String {
    format!("{tenant_id}#deliveries#{endpoint_id}")
}

/// The due index partition of an endpoint's deliveries.
pub fn due_shard(tenant_id: &TenantId, endpoint_id: &str) -> String {
    let shard = crate::stable_hash(&[tenant_id.as_str(), endpoint_id]) % DUE_SHARDS;
    format!("due#{shard}")
}

/// Microseconds since the epoch as 16 digits (times before the epoch as 0).
fn micros(at: DateTime<Utc>) -> String {
    format!("{:016}", at.timestamp_micros().max(0))
}

fn json<T: serde::Serialize>(what: &str, value: &T) -> Result<String, StoreError> {
    let body = serde_json::to_string(value).map_err(|e| StoreError::InvalidInput {
        field: "webhook record",
        reason: e.to_string(),
    })?;
    if body.len() > WEBHOOK_BODY_BYTES_MAX {
        return Err(StoreError::LimitExceeded {
            what: format!("{what} bytes"),
            got: body.len(),
            limit: WEBHOOK_BODY_BYTES_MAX,
        });
    }
    Ok(body)
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(
    what: &str,
    item: &Item,
) -> Result<T, StoreError> {
    let body = match item.get(attr::BODY) {
        Some(AttributeValue::S(body)) => body,
        _ => return Err(StoreError::Unavailable(format!("{what} item has no body"))),
    };
    serde_json::from_str(body).map_err(|e| StoreError::Unavailable(format!("{what}: {e}")))
}

/// The version of an item a failed condition returned (0 when none).
pub(super) fn version_of(item: Option<&Item>) -> u64 {
    match item.and_then(|i| i.get(attr::VERSION)) {
        Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
        _ => 0,
    }
}

pub(super) fn endpoint_item(endpoint: &Endpoint) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        (attr::PK.to_owned(), s(endpoints_pk(&endpoint.tenant_id))),
        (attr::SK.to_owned(), s(&endpoint.endpoint_id)),
        (
            attr::BODY.to_owned(),
            s(json("webhook endpoint", endpoint)?),
        ),
        (attr::VERSION.to_owned(), n(endpoint.version)),
    ]))
}

pub(super) fn delivery_item(delivery: &Delivery) -> Result<Item, StoreError> {
    let mut item = HashMap::from([
        (
            attr::PK.to_owned(),
            s(deliveries_pk(&delivery.tenant_id, &delivery.endpoint_id)),
        ),
        (attr::SK.to_owned(), s(&delivery.event_id)),
        (
            attr::BODY.to_owned(),
            s(json("webhook delivery", delivery)?),
        ),
        (attr::VERSION.to_owned(), n(delivery.version)),
        (attr::STATUS.to_owned(), s(delivery.status.as_str())),
    ]);
    if let (DeliveryStatus::Pending, Some(at)) = (delivery.status, delivery.next_attempt_at) {
        item.insert(
            attr::DUE_SHARD.to_owned(),
            s(due_shard(&delivery.tenant_id, &delivery.endpoint_id)),
        );
        item.insert(
            attr::DUE_AT.to_owned(),
            s(format!(
                "{}#{}#{}#{}",
                micros(at),
                delivery.tenant_id,
                delivery.endpoint_id,
                delivery.event_id
            )),
        );
    }
    Ok(item)
}
