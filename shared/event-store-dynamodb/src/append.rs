//! Appends: the conditional put of one event (a new stream, or an unkeyed
//! continuation after reading that its expected version is there), the
//! transaction of everything else, and the bounded retries that resolve a
//! failed condition as a replay or a conflict.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use event_store::{AppendRequest, Appended, IdempotencyRecord, Once, StoreError};

use crate::idempotency::{record_from_item, record_item};
use crate::schema::attr;
use crate::{
    DynamoEventStore, WRITE_ATTEMPTS_MAX, backoff, build_error, is_throttling, n, s, sdk_error,
};

/// The owner of the record's item among a transaction's items.
const RECORD_OWNER: usize = usize::MAX;

/// What went wrong with a write attempt.
enum Attempt {
    /// These request indexes failed their conditions.
    ConditionsFailed(Vec<usize>),
    /// The request's idempotency record exists (as it was returned, when
    /// it was).
    RecordExists(Option<HashMap<String, AttributeValue>>),
    /// Contention or throttling: try again.
    Retry(String),
}

impl DynamoEventStore {
    /// The transaction items of each request, and which request each item
    /// belongs to (cancellation reasons come back in item order).
    fn transact_items(
        &self,
        requests: &[&AppendRequest],
    ) -> Result<(Vec<TransactWriteItem>, Vec<usize>), StoreError> {
        let mut items = Vec::new();
        let mut owners = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            if request.expected_version > 0 {
                let check = ConditionCheck::builder()
                    .table_name(&self.tables.events)
                    .key(attr::STREAM, s(request.stream.as_str()))
                    .key(attr::VERSION, n(request.expected_version))
                    .condition_expression("attribute_exists(#s)")
                    .expression_attribute_names("#s", attr::STREAM)
                    .build()
                    .map_err(build_error)?;
                items.push(TransactWriteItem::builder().condition_check(check).build());
                owners.push(index);
            }
            for item in self.event_items(request) {
                let put = Put::builder()
                    .table_name(&self.tables.events)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(#s)")
                    .expression_attribute_names("#s", attr::STREAM)
                    .build()
                    .map_err(build_error)?;
                items.push(TransactWriteItem::builder().put(put).build());
                owners.push(index);
            }
            if let Some(id) = Self::guard_id(request) {
                let last = request.expected_version + request.events.len() as u64;
                let put = Put::builder()
                    .table_name(&self.tables.idempotency)
                    .item(attr::ID, s(id))
                    .item(attr::STREAM, s(request.stream.as_str()))
                    .item(attr::FIRST_VERSION, n(request.expected_version + 1))
                    .item(attr::APPEND_LAST_VERSION, n(last))
                    .item(attr::REQUEST_HASH, s(request.request_hash()))
                    .condition_expression("attribute_not_exists(#i)")
                    .expression_attribute_names("#i", attr::ID)
                    .build()
                    .map_err(build_error)?;
                items.push(TransactWriteItem::builder().put(put).build());
                owners.push(index);
            }
        }
        Ok((items, owners))
    }

    /// A request's record alone: one conditional put.
    async fn put_record(
        &self,
        record: &IdempotencyRecord,
    ) -> Result<Result<(), Attempt>, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.idempotency)
            .set_item(Some(record_item(record)))
            .condition_expression("attribute_not_exists(#i)")
            .expression_attribute_names("#i", attr::ID)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ok(())),
            Err(SdkError::ServiceError(e)) => match e.err() {
                aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                    failed,
                ) => Ok(Err(Attempt::RecordExists(failed.item().cloned()))),
                err if is_throttling(err.code()) => Ok(Err(Attempt::Retry(err.to_string()))),
                _ => Err(StoreError::Unavailable(format!(
                    "put idempotency record: {}",
                    DisplayErrorContext(&e.into_err())
                ))),
            },
            Err(e) => Err(sdk_error("put idempotency record", e)),
        }
    }

    /// One event's item, put on the condition that its version is new.
    async fn put_event(
        &self,
        item: HashMap<String, AttributeValue>,
    ) -> Result<Result<(), Attempt>, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.events)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#s)")
            .expression_attribute_names("#s", attr::STREAM)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ok(())),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(Err(Attempt::ConditionsFailed(vec![0])))
            }
            // Throttled, or racing another writer's transaction on the key.
            Err(SdkError::ServiceError(e))
                if is_throttling(e.err().code())
                    || e.err().code() == Some("TransactionConflictException") =>
            {
                Ok(Err(Attempt::Retry(e.err().to_string())))
            }
            Err(e) => Err(sdk_error("put event", e)),
        }
    }

    async fn try_write(
        &self,
        requests: &[&AppendRequest],
        record: Option<&IdempotencyRecord>,
    ) -> Result<Result<(), Attempt>, StoreError> {
        if let (Some(record), []) = (record, requests) {
            return self.put_record(record).await;
        }
        // One event without a record and without a key guard (a new stream,
        // or an unkeyed continuation) is one conditional put, not a
        // transaction (which bills every item twice, its condition check
        // included). A continuation first reads that the expected version is
        // there, so the put cannot leave a gap: events are never deleted, so
        // once read, it stays there, and the put's own condition refuses a
        // concurrent writer of the same version. One read unit instead of
        // three write units.
        if let ([single], None) = (requests, record) {
            if single.events.len() == 1 && Self::guard_id(single).is_none() {
                if single.expected_version > 0
                    && self
                        .get_event(&single.stream, single.expected_version)
                        .await?
                        .is_none()
                {
                    return Ok(Err(Attempt::ConditionsFailed(vec![0])));
                }
                return self.put_event(self.event_items(single).remove(0)).await;
            }
        }
        let (mut items, mut owners) = self.transact_items(requests)?;
        if let Some(record) = record {
            let put = Put::builder()
                .table_name(&self.tables.idempotency)
                .set_item(Some(record_item(record)))
                .condition_expression("attribute_not_exists(#i)")
                .expression_attribute_names("#i", attr::ID)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().put(put).build());
            owners.push(RECORD_OWNER);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ok(())),
            Err(SdkError::ServiceError(e)) => {
                let err = e.err();
                if let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(cancel) = err {
                    let reasons = cancel.cancellation_reasons();
                    // The record decides first: a request written before
                    // (or concurrently, winning) is answered by it.
                    let record_failed = reasons.iter().zip(&owners).find(|(r, owner)| {
                        **owner == RECORD_OWNER && r.code() == Some("ConditionalCheckFailed")
                    });
                    if let Some((reason, _)) = record_failed {
                        return Ok(Err(Attempt::RecordExists(reason.item().cloned())));
                    }
                    let codes: Vec<Option<&str>> = reasons.iter().map(|r| r.code()).collect();
                    let mut failed: Vec<usize> = codes
                        .iter()
                        .zip(&owners)
                        .filter(|(code, owner)| {
                            **code == Some("ConditionalCheckFailed") && **owner != RECORD_OWNER
                        })
                        .map(|(_, owner)| *owner)
                        .collect();
                    failed.dedup();
                    if !failed.is_empty() {
                        return Ok(Err(Attempt::ConditionsFailed(failed)));
                    }
                    // TransactionConflict, throttling, or no reasons given.
                    return Ok(Err(Attempt::Retry(format!("transaction cancelled: {codes:?}"))));
                }
                if is_throttling(err.code()) {
                    return Ok(Err(Attempt::Retry(err.to_string())));
                }
                Err(StoreError::Unavailable(format!(
                    "transact write: {}",
                    DisplayErrorContext(&e.into_err())
                )))
            }
            Err(e) => Err(sdk_error("transact write", e)),
        }
    }

    /// Writes the appends, and the record when there is one, with bounded
    /// retries: the body of both `append_transaction` and `append_once`.
    pub(crate) async fn write(
        &self,
        requests: &[AppendRequest],
        record: Option<&IdempotencyRecord>,
    ) -> Result<Once, StoreError> {
        let mut results: Vec<Option<Appended>> = vec![None; requests.len()];
        // Keyed appends to existing streams may be replays with a fresh
        // expected version: recognise them before writing.
        for (i, request) in requests.iter().enumerate() {
            if request.expected_version > 0 {
                results[i] = self.replay(request).await?;
            }
        }
        let mut written = false;
        for attempt in 0..WRITE_ATTEMPTS_MAX {
            let pending: Vec<usize> = (0..requests.len())
                .filter(|i| results[*i].is_none())
                .collect();
            if pending.is_empty() && record.is_none() {
                break;
            }
            let batch: Vec<&AppendRequest> = pending.iter().map(|i| &requests[*i]).collect();
            let detail = match self.try_write(&batch, record).await? {
                Ok(()) => {
                    for i in pending {
                        let r = &requests[i];
                        results[i] = Some(Appended {
                            stream: r.stream.clone(),
                            first_version: r.expected_version + 1,
                            last_version: r.expected_version + r.events.len() as u64,
                            duplicate: false,
                        });
                    }
                    written = true;
                    break;
                }
                Err(Attempt::RecordExists(item)) => {
                    let Some(record) = record else {
                        return Err(StoreError::Unavailable(
                            "an idempotency record was reported for a write without one".to_owned(),
                        ));
                    };
                    let stored = match item.filter(|i| i.contains_key(attr::REQUEST_HASH)) {
                        Some(item) => Some(record_from_item(&record.scope, &item)?),
                        None => self.get_record(&record.scope).await?,
                    };
                    match stored {
                        Some(stored) => return record.replay(&stored),
                        // Refused, yet not there to read: ask again.
                        None => "the idempotency record was refused but not found".to_owned(),
                    }
                }
                Err(Attempt::ConditionsFailed(failed)) => {
                    for local in failed {
                        let i = pending[local];
                        let request = &requests[i];
                        match self.replay(request).await? {
                            Some(original) => results[i] = Some(original),
                            None => {
                                // The record decides first here too: only
                                // it tells this request's own earlier write
                                // from another writer's, and a cancellation
                                // is not relied on to name every condition
                                // that failed. One read, on conflicts only.
                                if let Some(record) = record {
                                    if let Some(stored) = self.get_record(&record.scope).await? {
                                        return record.replay(&stored);
                                    }
                                }
                                return Err(StoreError::VersionConflict {
                                    stream: request.stream.to_string(),
                                    expected: request.expected_version,
                                    actual: self.current_version(&request.stream).await?,
                                });
                            }
                        }
                    }
                    continue;
                }
                Err(Attempt::Retry(detail)) => detail,
            };
            if attempt + 1 == WRITE_ATTEMPTS_MAX {
                return Err(StoreError::Busy {
                    attempts: WRITE_ATTEMPTS_MAX,
                    detail,
                });
            }
            tracing::debug!(attempt, %detail, "dynamodb write contended; backing off");
            backoff(attempt).await;
        }
        if record.is_some() && !written {
            return Err(StoreError::Busy {
                attempts: WRITE_ATTEMPTS_MAX,
                detail: "conditions kept failing".to_owned(),
            });
        }
        results
            .into_iter()
            .map(|r| {
                r.ok_or_else(|| StoreError::Busy {
                    attempts: WRITE_ATTEMPTS_MAX,
                    detail: "conditions kept failing".to_owned(),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Once::Written)
    }
}
