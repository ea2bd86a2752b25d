//! The webhook port on DynamoDB: one table, `{prefix}webhooks`.
//!
//! Items (keys `pk` / `sk`, both strings):
//! - an endpoint: `pk` = `{tenant}#endpoints`, `sk` = `{endpoint_id}`, so a
//!   tenant's endpoints are one query, by id;
//! - a delivery: `pk` = `{tenant}#deliveries#{endpoint_id}`, `sk` =
//!   `{event_id}`: event ids sort by time, so an endpoint's deliveries
//!   newest first are one query read backwards.
//!
//! Each item holds its record's whole JSON in `body`, its `version` as a
//! number (every write is conditional on it: `attribute_not_exists(pk)` to
//! create or enqueue, `version = :expected` to update or save) and, for a
//! delivery, its `status`. While a delivery is pending it also has the
//! attributes of the sparse index `due`: `due_shard` (`due#{n}`, n a stable
//! hash of tenant and endpoint modulo [`DUE_SHARDS`], so one tenant's
//! retries never make a hot partition) and `due_at`
//! (`{next_attempt_at as 16 digits of microseconds}#{tenant}#{endpoint}#{event}`).
//! A delivered or parked delivery is written without them and leaves the
//! index. The index projects every attribute, so `due` reads whole
//! deliveries from it; it is eventually consistent, so a delivery just
//! saved may show up once more: the worker's conditional save settles it.

use std::collections::HashMap;
use std::future::Future;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};
use chrono::{DateTime, Utc};
use event_store::StoreError;
use event_store::webhooks::{
    DELIVERY_PAGE_MAX, Delivery, DeliveryPage, DeliveryStatus, Endpoint, WebhookStore,
    webhook_conflict,
};
use ledger_domain::TenantId;

use crate::{WRITE_ATTEMPTS_MAX, backoff, build_error, is_throttling, n, s, sdk_error};

/// Attribute names of the webhooks table.
pub mod attr {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const BODY: &str = "body";
    pub const VERSION: &str = "version";
    pub const STATUS: &str = "status";
    pub const DUE_SHARD: &str = "due_shard";
    pub const DUE_AT: &str = "due_at";
}

/// The sparse index of pending deliveries.
pub const DUE_INDEX: &str = "due";
/// Partitions of the due index; `due` queries each of them.
pub const DUE_SHARDS: u64 = 16;
/// The largest item DynamoDB stores is 400 KB; a record whose JSON is over
/// this is refused before any write (room is left for the other attributes).
pub const WEBHOOK_BODY_BYTES_MAX: usize = 390 * 1024;
/// Query pages one `deliveries` call reads at most when a status filter
/// skips most items; past it, the page is returned short, with `next` set
/// to where the reading stopped.
pub const DELIVERY_QUERY_PAGES_MAX: usize = 64;

/// The webhooks table's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTable {
    pub name: String,
}

impl WebhookTable {
    /// `{prefix}webhooks`.
    pub fn with_prefix(prefix: &str) -> Self {
        WebhookTable {
            name: format!("{prefix}webhooks"),
        }
    }
}

/// Creates the webhooks table with its `due` index if it does not exist
/// (on-demand billing).
pub async fn create_webhook_table(client: &Client, name: &str) -> Result<(), StoreError> {
    if crate::schema::table_exists(client, name).await? {
        return Ok(());
    }
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(build_error)
    };
    let def = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error)
    };
    let due = GlobalSecondaryIndex::builder()
        .index_name(DUE_INDEX)
        .key_schema(key(attr::DUE_SHARD, KeyType::Hash)?)
        .key_schema(key(attr::DUE_AT, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(build_error)?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(attr::PK, KeyType::Hash)?)
        .key_schema(key(attr::SK, KeyType::Range)?)
        .attribute_definitions(def(attr::PK)?)
        .attribute_definitions(def(attr::SK)?)
        .attribute_definitions(def(attr::DUE_SHARD)?)
        .attribute_definitions(def(attr::DUE_AT)?)
        .global_secondary_indexes(due)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("create {name}"), e))?;
    Ok(())
}

/// The webhook store on DynamoDB.
#[derive(Clone)]
pub struct DynamoWebhooks {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn endpoints_pk(tenant_id: &TenantId) -> String {
    format!("{tenant_id}#endpoints")
}

fn deliveries_pk(tenant_id: &TenantId, endpoint_id: &str) -> String {
    format!("{tenant_id}#deliveries#{endpoint_id}")
}

/// FNV-1a, 64 bits: stable across builds and platforms (unlike the
/// standard library's hasher), so a delivery keeps its shard.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash ^= u64::from(b'#');
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        for byte in part.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The due index partition of an endpoint's deliveries.
pub fn due_shard(tenant_id: &TenantId, endpoint_id: &str) -> String {
    let shard = fnv1a(&[tenant_id.as_str(), endpoint_id]) % DUE_SHARDS;
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

fn parse<T: serde::de::DeserializeOwned>(what: &str, item: &Item) -> Result<T, StoreError> {
    let body = match item.get(attr::BODY) {
        Some(AttributeValue::S(body)) => body,
        _ => return Err(StoreError::Unavailable(format!("{what} item has no body"))),
    };
    serde_json::from_str(body).map_err(|e| StoreError::Unavailable(format!("{what}: {e}")))
}

/// The version of an item a failed condition returned (0 when none).
fn version_of(item: Option<&Item>) -> u64 {
    match item.and_then(|i| i.get(attr::VERSION)) {
        Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
        _ => 0,
    }
}

fn endpoint_item(endpoint: &Endpoint) -> Result<Item, StoreError> {
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

fn delivery_item(delivery: &Delivery) -> Result<Item, StoreError> {
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
async fn query_all(
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

/// The due deliveries of one shard of the index, earliest first, with
/// their `due_at`.
async fn due_in_shard(
    client: Client,
    table: String,
    shard: u64,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<(String, Delivery)>, StoreError> {
    // Every `due_at` of a time up to `now` sorts before the next
    // microsecond's 16 digits.
    let bound = format!("{:016}", now.timestamp_micros().max(0).saturating_add(1));
    let query = client
        .query()
        .table_name(&table)
        .index_name(DUE_INDEX)
        .key_condition_expression("#shard = :shard AND #due < :bound")
        .expression_attribute_names("#shard", attr::DUE_SHARD)
        .expression_attribute_names("#due", attr::DUE_AT)
        .expression_attribute_values(":shard", s(format!("due#{shard}")))
        .expression_attribute_values(":bound", s(bound))
        .scan_index_forward(true)
        .limit(i32::try_from(limit).unwrap_or(i32::MAX));
    let (items, _) = query_all("query due deliveries", query, limit, usize::MAX).await?;
    let mut due = Vec::with_capacity(items.len());
    for item in items {
        let delivery: Delivery = parse("webhook delivery", &item)?;
        // A stale index entry of a delivery saved since is no longer due.
        let is_due = delivery.status == DeliveryStatus::Pending
            && delivery.next_attempt_at.is_some_and(|at| at <= now);
        if let (true, Some(AttributeValue::S(at))) = (is_due, item.get(attr::DUE_AT)) {
            due.push((at.clone(), delivery));
        }
    }
    Ok(due)
}

impl DynamoWebhooks {
    pub fn new(client: Client, table: WebhookTable) -> Self {
        DynamoWebhooks {
            client,
            table: table.name,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Puts an item if no item has its key. `Ok(Err(version))`: one was
    /// there, at that version (0 if DynamoDB did not say).
    async fn put_new(&self, what: &str, item: Item) -> Result<Result<(), u64>, StoreError> {
        self.put_if(what, item, "attribute_not_exists(#pk)", None)
            .await
    }

    /// Puts an item over the one at version `expected`. `Ok(Err(version))`:
    /// the stored one is at another version (0 when there is none).
    async fn put_over(
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

    async fn get(&self, what: &str, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
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

#[async_trait]
impl WebhookStore for DynamoWebhooks {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let item = endpoint_item(endpoint)?;
        self.put_new("put webhook endpoint", item)
            .await?
            .map_err(|actual| {
                webhook_conflict("webhook-endpoint", &endpoint.endpoint_id, 0, actual)
            })
    }

    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let item = endpoint_item(endpoint)?;
        let expected = endpoint.version.saturating_sub(1);
        self.put_over("update webhook endpoint", item, expected)
            .await?
            .map_err(|actual| {
                webhook_conflict("webhook-endpoint", &endpoint.endpoint_id, expected, actual)
            })
    }

    async fn endpoint(
        &self,
        tenant_id: &TenantId,
        endpoint_id: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        self.get("get webhook endpoint", endpoints_pk(tenant_id), endpoint_id)
            .await?
            .map(|item| parse("webhook endpoint", &item))
            .transpose()
    }

    async fn endpoints(&self, tenant_id: &TenantId) -> Result<Vec<Endpoint>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_values(":pk", s(endpoints_pk(tenant_id)))
            .scan_index_forward(true)
            .consistent_read(true);
        let (items, _) =
            query_all("query webhook endpoints", query, usize::MAX, usize::MAX).await?;
        items
            .iter()
            .map(|item| parse("webhook endpoint", item))
            .collect()
    }

    async fn enqueue(&self, deliveries: &[Delivery]) -> Result<usize, StoreError> {
        // Every record is checked before the first write.
        let items = deliveries
            .iter()
            .map(delivery_item)
            .collect::<Result<Vec<_>, _>>()?;
        let mut new = 0;
        for item in items {
            if self
                .put_new("enqueue webhook delivery", item)
                .await?
                .is_ok()
            {
                new += 1;
            }
        }
        Ok(new)
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let limit = limit.min(DELIVERY_PAGE_MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut shards = tokio::task::JoinSet::new();
        for shard in 0..DUE_SHARDS {
            shards.spawn(due_in_shard(
                self.client.clone(),
                self.table.clone(),
                shard,
                now,
                limit,
            ));
        }
        let mut due = Vec::new();
        while let Some(result) = shards.join_next().await {
            let found = result
                .map_err(|e| StoreError::Unavailable(format!("query due deliveries: {e}")))??;
            due.extend(found);
        }
        due.sort_by(|a, b| a.0.cmp(&b.0));
        due.truncate(limit);
        Ok(due.into_iter().map(|(_, d)| d).collect())
    }

    async fn save_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let item = delivery_item(delivery)?;
        let expected = delivery.version.saturating_sub(1);
        self.put_over("save webhook delivery", item, expected)
            .await?
            .map_err(|actual| {
                webhook_conflict(
                    "webhook-delivery",
                    &format!("{}/{}", delivery.endpoint_id, delivery.event_id),
                    expected,
                    actual,
                )
            })
    }

    async fn delivery(
        &self,
        tenant_id: &TenantId,
        endpoint_id: &str,
        event_id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        self.get(
            "get webhook delivery",
            deliveries_pk(tenant_id, endpoint_id),
            event_id,
        )
        .await?
        .map(|item| parse("webhook delivery", &item))
        .transpose()
    }

    async fn deliveries(
        &self,
        tenant_id: &TenantId,
        endpoint_id: &str,
        status: Option<DeliveryStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DeliveryPage, StoreError> {
        let limit = limit.clamp(1, DELIVERY_PAGE_MAX);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_values(":pk", s(deliveries_pk(tenant_id, endpoint_id)))
            .scan_index_forward(false)
            .consistent_read(true)
            // One more than asked, to know whether there is a next page.
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX));
        query = match after {
            Some(after) => query
                .key_condition_expression("#pk = :pk AND #sk < :after")
                .expression_attribute_names("#sk", attr::SK)
                .expression_attribute_values(":after", s(after)),
            None => query.key_condition_expression("#pk = :pk"),
        };
        if let Some(status) = status {
            query = query
                .filter_expression("#status = :status")
                .expression_attribute_names("#status", attr::STATUS)
                .expression_attribute_values(":status", s(status.as_str()));
        }
        let (items, stopped_at) = query_all(
            "query webhook deliveries",
            query,
            limit + 1,
            DELIVERY_QUERY_PAGES_MAX,
        )
        .await?;
        let mut deliveries = items
            .iter()
            .map(|item| parse("webhook delivery", item))
            .collect::<Result<Vec<Delivery>, _>>()?;
        let next = if deliveries.len() > limit {
            deliveries.truncate(limit);
            deliveries.last().map(|d| d.event_id.clone())
        } else {
            // Read to the end, or stopped after the most pages one call
            // reads: then the next page starts where the reading stopped.
            stopped_at.and_then(|key| match key.get(attr::SK) {
                Some(AttributeValue::S(sk)) => Some(sk.clone()),
                _ => None,
            })
        };
        Ok(DeliveryPage { deliveries, next })
    }
}
