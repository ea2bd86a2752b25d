//! Sending requests to the webhooks table: throttling retries, paged
//! queries, and the conditional puts and consistent gets the store is built on.

use std::future::Future;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use event_store::StoreError;

use super::items::{Item, version_of};
use super::{DynamoWebhooks, attr};
use crate::{WRITE_ATTEMPTS_MAX, backoff, is_throttling, n, s, sdk_error};

/// Sends a request, again after a backoff while DynamoDB throttles (up to
/// [`WRITE_ATTEMPTS_MAX`] attempts, then [`StoreError::Busy`]). Another
/// service error is handed back for the caller to read (a failed
/// condition); anything else is [`StoreError::Unavailable`].
async fn send<T, E, F, Fut>(what: &str, mut request: F) -> Result<Result<T, E>, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut attempt = 0;
    loop {
        match request().await {
            Ok(out) => return Ok(Ok(out)),
            Err(SdkError::ServiceError(e)) => {
                let err = e.into_err();
                if !is_throttling(err.code()) {
                    return Ok(Err(err));
                }
                attempt += 1;
                if attempt >= WRITE_ATTEMPTS_MAX {
                    return Err(StoreError::Busy {
                        attempts: attempt,
                        detail: format!("{what}: {}", DisplayErrorContext(&err)),
                    });
                }
                tracing::debug!(attempt, what, "dynamodb throttled; backing off");
                backoff(attempt - 1).await;
            }
            Err(e) => return Err(sdk_error(what, e)),
        }
    }
}

fn unexpected(what: &str, e: impl std::error::Error) -> StoreError {
    StoreError::Unavailable(format!("{what}: {}", DisplayErrorContext(e)))
}

/// Reads every page of a query (consistently or from an index).
pub(super) async fn query_all(
    what: &str,
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    enough: usize,
    pages_max: usize,
) -> Result<(Vec<Item>, Option<Item>), StoreError> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    for _ in 0..pages_max {
        let request = query.clone().set_exclusive_start_key(start.take());
        let out = send(what, || request.clone().send())
            .await?
            .map_err(|e| unexpected(what, e))?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key.filter(|k| !k.is_empty());
        if start.is_none() || items.len() >= enough {
            break;
        }
    }
    Ok((items, start))
}

impl DynamoWebhooks {
    /// Puts an item if no item has its key. `Ok(Err(version))`: one was
    /// there, at that version (0 if DynamoDB did not say).
    pub(super) async fn put_new(
        &self,
        what: &str,
        item: Item,
    ) -> Result<Result<(), u64>, StoreError> {
        self.put_if(what, item, "attribute_not_exists(#pk)", None)
            .await
    }

    /// Puts an item over the one at version `expected`. `Ok(Err(version))`:
    /// the stored one is at another version (0 when there is none).
    pub(super) async fn put_over(
        &self,
        what: &str,
        item: Item,
        expected: u64,
    ) -> Result<Result<(), u64>, StoreError> {
        self.put_if(
            what,
            item,
            "attribute_exists(#pk) AND #v = :expected",
            Some(expected),
        )
        .await
    }

    async fn put_if(
        &self,
        what: &str,
        item: Item,
        condition: &str,
        expected: Option<u64>,
    ) -> Result<Result<(), u64>, StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_names("#pk", attr::PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(expected) = expected {
            request = request
                .expression_attribute_names("#v", attr::VERSION)
                .expression_attribute_values(":expected", n(expected));
        }
        match send(what, || request.clone().send()).await? {
            Ok(_) => Ok(Ok(())),
            Err(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                failed,
            )) => Ok(Err(version_of(failed.item()))),
            Err(e) => Err(unexpected(what, e)),
        }
    }

    pub(super) async fn get(
        &self,
        what: &str,
        pk: String,
        sk: &str,
    ) -> Result<Option<Item>, StoreError> {
        let request = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, s(pk))
            .key(attr::SK, s(sk))
            .consistent_read(true);
        let out = send(what, || request.clone().send())
            .await?
            .map_err(|e| unexpected(what, e))?;
        Ok(out.item)
    }
}
