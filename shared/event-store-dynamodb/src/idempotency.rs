//! Idempotency: a request's record in the idempotency table, and the
//! replay of a keyed append (its key on a new stream's first event, or in a
//! guard item for an append to an existing stream).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use event_store::{AppendRequest, Appended, IdempotencyRecord, IdempotencyScope, StoreError};

use crate::schema::attr;
use crate::{DynamoEventStore, get_n, get_s, s, sdk_error};

/// What sets a request's idempotency record apart in the idempotency table.
const RECORD_ID_PREFIX: &str = "request ";

fn record_id(scope: &IdempotencyScope) -> AttributeValue {
    s(format!("{RECORD_ID_PREFIX}{}", scope.record_id()))
}

pub(crate) fn record_item(record: &IdempotencyRecord) -> HashMap<String, AttributeValue> {
    let scope = &record.scope;
    HashMap::from([
        (attr::ID.to_owned(), record_id(scope)),
        (attr::TENANT.to_owned(), s(scope.tenant.as_str())),
        (attr::OPERATION.to_owned(), s(scope.operation.as_str())),
        (attr::IDEMPOTENCY_KEY.to_owned(), s(scope.key.as_str())),
        (attr::REQUEST_HASH.to_owned(), s(&record.request_hash)),
        (attr::ANSWER.to_owned(), s(&record.answer)),
        (
            attr::RECORDED_AT.to_owned(),
            s(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        ),
    ])
}

pub(crate) fn record_from_item(
    scope: &IdempotencyScope,
    item: &HashMap<String, AttributeValue>,
) -> Result<IdempotencyRecord, StoreError> {
    let need = |name: &str| {
        get_s(item, name).ok_or_else(|| {
            StoreError::Unavailable(format!(
                "idempotency record {} has no {name}",
                scope.record_id()
            ))
        })
    };
    Ok(IdempotencyRecord {
        scope: scope.clone(),
        request_hash: need(attr::REQUEST_HASH)?,
        answer: need(attr::ANSWER)?,
    })
}

impl DynamoEventStore {
    pub(crate) fn guard_id(request: &AppendRequest) -> Option<String> {
        request
            .idempotency_key
            .as_ref()
            .filter(|_| request.expected_version > 0)
            .map(|key| format!("{}#{}", request.stream, key.as_str()))
    }

    /// The original result of an earlier append with this request's key,
    /// a conflict when its events differ, or None when there is none.
    pub(crate) async fn replay(
        &self,
        request: &AppendRequest,
    ) -> Result<Option<Appended>, StoreError> {
        let Some(key) = &request.idempotency_key else {
            return Ok(None);
        };
        let request_hash = request.request_hash();
        // A new stream's key lives on its first event; a continuing stream's
        // in the guard table.
        let found = if request.expected_version == 0 {
            self.get_event(&request.stream, 1).await?.and_then(|item| {
                let stored_key = get_s(&item, attr::IDEMPOTENCY_KEY)?;
                (stored_key == key.as_str()).then(|| {
                    (
                        1,
                        get_n(&item, attr::APPEND_LAST_VERSION).unwrap_or(1),
                        get_s(&item, attr::REQUEST_HASH).unwrap_or_default(),
                    )
                })
            })
        } else {
            let id = Self::guard_id(request).unwrap_or_default();
            let out = self
                .client
                .get_item()
                .table_name(&self.tables.idempotency)
                .key(attr::ID, s(id))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk_error("get idempotency guard", e))?;
            out.item.map(|item| {
                (
                    get_n(&item, attr::FIRST_VERSION).unwrap_or(0),
                    get_n(&item, attr::APPEND_LAST_VERSION).unwrap_or(0),
                    get_s(&item, attr::REQUEST_HASH).unwrap_or_default(),
                )
            })
        };
        match found {
            None => Ok(None),
            Some((first, last, stored_hash)) if stored_hash == request_hash => Ok(Some(Appended {
                stream: request.stream.clone(),
                first_version: first,
                last_version: last,
                duplicate: true,
            })),
            Some((_, _, stored_hash)) => Err(StoreError::IdempotencyConflict {
                stream: request.stream.to_string(),
                key: key.as_str().to_owned(),
                stored_hash,
                request_hash,
            }),
        }
    }

    /// A request's idempotency record (consistently).
    pub(crate) async fn get_record(
        &self,
        scope: &IdempotencyScope,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.idempotency)
            .key(attr::ID, record_id(scope))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get idempotency record", e))?;
        out.item
            .map(|item| record_from_item(scope, &item))
            .transpose()
    }
}
