//! Item encoding and decoding: an append's events as event items, and a
//! stored event back from an item of the table, a record of its DynamoDB
//! Stream, or a stream record's image as a Lambda event carries it (JSON).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use event_store::{AppendRequest, StoreError, StoredEvent, StreamId};

use crate::schema::attr;
use crate::{DynamoEventStore, get_n, get_s, n, s};

impl DynamoEventStore {
    pub(crate) fn event_items(
        &self,
        request: &AppendRequest,
    ) -> Vec<HashMap<String, AttributeValue>> {
        let request_hash = request.request_hash();
        let last = request.expected_version + request.events.len() as u64;
        request
            .events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                let mut item = HashMap::with_capacity(10);
                item.insert(attr::STREAM.to_owned(), s(request.stream.as_str()));
                item.insert(
                    attr::VERSION.to_owned(),
                    n(request.expected_version + 1 + i as u64),
                );
                item.insert(attr::EVENT_TYPE.to_owned(), s(&event.event_type));
                item.insert(
                    attr::SCHEMA_VERSION.to_owned(),
                    n(u64::from(event.schema_version)),
                );
                item.insert(attr::PAYLOAD.to_owned(), s(&event.payload));
                item.insert(attr::PAYLOAD_HASH.to_owned(), s(&event.payload_hash));
                item.insert(
                    attr::RECORDED_AT.to_owned(),
                    s(event
                        .recorded_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
                );
                if let (0, Some(key)) = (i, &request.idempotency_key) {
                    item.insert(attr::IDEMPOTENCY_KEY.to_owned(), s(key.as_str()));
                    item.insert(attr::REQUEST_HASH.to_owned(), s(&request_hash));
                    item.insert(attr::APPEND_LAST_VERSION.to_owned(), n(last));
                }
                item
            })
            .collect()
    }
}

/// Builds a stored event from an item's attributes (read through the given
/// getters, so any attribute representation works), naming what is missing.
pub fn stored_event(
    get_s: impl Fn(&str) -> Option<String>,
    get_n: impl Fn(&str) -> Option<u64>,
) -> Result<StoredEvent, StoreError> {
    let stream = get_s(attr::STREAM).unwrap_or_default();
    let version = get_n(attr::VERSION).unwrap_or(0);
    let corrupt = |reason: String| StoreError::CorruptEvent {
        stream: stream.clone(),
        version,
        reason,
    };
    let need_s =
        |name: &str| get_s(name).ok_or_else(|| corrupt(format!("attribute {name} is missing")));
    let recorded_at_text = need_s(attr::RECORDED_AT)?;
    let recorded_at: DateTime<Utc> = DateTime::parse_from_rfc3339(&recorded_at_text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(format!("recorded_at {recorded_at_text:?}: {e}")))?;
    let schema_version = get_n(attr::SCHEMA_VERSION)
        .and_then(|v| u16::try_from(v).ok())
        .ok_or_else(|| corrupt("schema_version is missing or out of range".to_owned()))?;
    if version == 0 {
        return Err(corrupt("version is missing".to_owned()));
    }
    Ok(StoredEvent {
        stream: StreamId::new(stream.clone())?,
        version,
        event_type: need_s(attr::EVENT_TYPE)?,
        schema_version,
        payload: need_s(attr::PAYLOAD)?,
        payload_hash: need_s(attr::PAYLOAD_HASH)?,
        recorded_at,
    })
}

/// Reads one stream record's new image as a stored event: the image as
/// JSON in the attribute-value shape of a Lambda DynamoDB Streams event
/// (`{"version": {"N": "1"}, "payload": {"S": "..."}, ...}`).
pub fn stored_event_from_stream_image(
    image: &serde_json::Value,
) -> Result<StoredEvent, StoreError> {
    let get = |name: &str, kind: &str| {
        image
            .get(name)
            .and_then(|v| v.get(kind))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    stored_event(
        |name| get(name, "S"),
        |name| get(name, "N").and_then(|n| n.parse().ok()),
    )
}

pub(crate) fn stored_from_item(
    item: &HashMap<String, AttributeValue>,
) -> Result<StoredEvent, StoreError> {
    stored_event(|name| get_s(item, name), |name| get_n(item, name))
}

#[cfg(feature = "stream-reads")]
pub(crate) fn stored_from_image(
    image: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Result<StoredEvent, StoreError> {
    stored_event(
        |name| image.get(name).and_then(|v| v.as_s().ok()).cloned(),
        |name| {
            image
                .get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_image_reads_as_a_stored_event_or_names_what_is_missing() {
        let mut image = serde_json::json!({
            "stream": {"S": "t1/commission/c1"},
            "version": {"N": "2"},
            "event_type": {"S": "commission.recorded"},
            "schema_version": {"N": "1"},
            "payload": {"S": "{}"},
            "payload_hash": {"S": "abc"},
            "recorded_at": {"S": "2026-01-02T03:04:05.000006Z"},
        });
        let stored = stored_event_from_stream_image(&image).expect("a whole image");
        assert_eq!(stored.stream.as_str(), "t1/commission/c1");
        assert_eq!(stored.version, 2);
        assert_eq!(stored.event_type, "commission.recorded");
        assert_eq!(stored.schema_version, 1);
        assert_eq!(stored.payload_hash, "abc");

        image.as_object_mut().unwrap().remove(attr::PAYLOAD);
        match stored_event_from_stream_image(&image) {
            Err(StoreError::CorruptEvent {
                stream,
                version,
                reason,
            }) => {
                assert_eq!((stream.as_str(), version), ("t1/commission/c1", 2));
                assert!(reason.contains(attr::PAYLOAD), "{reason}");
            }
            other => panic!("expected a corrupt event, got {other:?}"),
        }
    }
}
