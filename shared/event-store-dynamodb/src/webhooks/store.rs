//! The [`WebhookStore`] implementation: endpoints, enqueueing, the due
//! queue (read shard by shard from the `due` index) and delivery listings.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use event_store::StoreError;
use event_store::webhooks::{
    DELIVERY_PAGE_MAX, Delivery, DeliveryPage, DeliveryStatus, Endpoint, WebhookStore,
    webhook_conflict,
};
use ledger_domain::TenantId;

use super::items::{deliveries_pk, delivery_item, endpoint_item, endpoints_pk, parse};
use super::requests::query_all;
use super::{DELIVERY_QUERY_PAGES_MAX, DUE_INDEX, DUE_SHARDS, DynamoWebhooks, attr};
use crate::s;

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
