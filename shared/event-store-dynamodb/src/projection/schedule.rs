//! The maturity schedule on DynamoDB: the earliest due entries of its
//! shards (and of a table from before sharding, its days), and removal.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use event_store::StoreError;
use ledger_domain::projection::time_key;

use super::reads::text;
use super::{DynamoProjection, s, sdk};

/// How far back the maturing job looks for days it has not cleared yet.
pub const MATURITY_LOOKBACK_DAYS_MAX: i64 = 400;
pub(crate) const MATURITY_CURSOR_DAY: &str = "cursor";

impl DynamoProjection {
    /// Up to `limit` entries of one schedule partition due by `until`, in
    /// due order.
    async fn due_in(
        &self,
        partition: &str,
        until: &str,
        limit: usize,
    ) -> Result<Vec<event_store::DueCommission>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.maturities)
            .key_condition_expression("#d = :d AND #u <= :u")
            .expression_attribute_names("#d", "day")
            .expression_attribute_names("#u", "due")
            .expression_attribute_values(":d", s(partition))
            .expression_attribute_values(":u", s(until))
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(1000))
            .send()
            .await
            .map_err(|e| sdk("query maturities", e))?;
        let mut due = Vec::with_capacity(out.items().len());
        for item in out.items() {
            let get = |n: &str| text(item, n).unwrap_or_default().to_owned();
            let sort_key = get("due");
            let at = sort_key.split('#').next().unwrap_or_default();
            let matures_at = chrono::DateTime::parse_from_rfc3339(at)
                .map_err(|e| StoreError::Unavailable(format!("maturities: bad time {at:?}: {e}")))?
                .with_timezone(&chrono::Utc);
            due.push(event_store::DueCommission {
                tenant_id: get("tenant_id"),
                commission_id: get("commission_id"),
                matures_at,
                slot: format!("{partition}|{sort_key}"),
            });
        }
        Ok(due)
    }

    /// The entries a table from before the schedule was sharded keeps under
    /// the day they mature: days from the cursor (days before it are known
    /// to be cleared) up to today, until `limit` are found; the cursor moves
    /// past days found empty (with a margin for projection lag).
    async fn due_in_days(
        &self,
        cursor: &HashMap<String, AttributeValue>,
        now: chrono::DateTime<chrono::Utc>,
        until: &str,
        limit: usize,
    ) -> Result<Vec<event_store::DueCommission>, StoreError> {
        let from = text(cursor, "from")
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let today = now.date_naive();
        let mut day = from.unwrap_or(today - chrono::Duration::days(MATURITY_LOOKBACK_DAYS_MAX));
        let mut due = Vec::new();
        let mut cleared_until = None;
        while day <= today && due.len() < limit {
            let found = self
                .due_in(
                    &day.format("%Y-%m-%d").to_string(),
                    until,
                    limit - due.len(),
                )
                .await?;
            if found.is_empty() && day < today - chrono::Duration::days(2) && due.is_empty() {
                cleared_until = Some(day + chrono::Duration::days(1));
            }
            due.extend(found);
            day += chrono::Duration::days(1);
        }
        if let Some(from) = cleared_until {
            // An update, not a put: a put would drop the `sharded` mark
            // that `mark_schedule_sharded` may have set meanwhile.
            self.client
                .update_item()
                .table_name(&self.tables.maturities)
                .key("day", s(MATURITY_CURSOR_DAY))
                .key("due", s(MATURITY_CURSOR_DAY))
                .update_expression("SET #from = :from")
                .expression_attribute_names("#from", "from")
                .expression_attribute_values(":from", s(from.format("%Y-%m-%d").to_string()))
                .send()
                .await
                .map_err(|e| sdk("move maturity cursor", e))?;
        }
        Ok(due)
    }
}

#[async_trait::async_trait]
impl event_store::MaturitySchedule for DynamoProjection {
    /// The earliest due entries: from each shard of the schedule (in due
    /// order, merged), and, on a table from before the schedule was
    /// sharded, from its day partitions too (walked from the cursor).
    async fn due(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<event_store::DueCommission>, StoreError> {
        event_store::check_read_limit(limit)?;
        let cursor = self
            .client
            .get_item()
            .table_name(&self.tables.maturities)
            .key("day", s(MATURITY_CURSOR_DAY))
            .key("due", s(MATURITY_CURSOR_DAY))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("get maturity cursor", e))?
            .item
            .unwrap_or_default();
        let until = format!("{}~", time_key(now));
        let mut found = Vec::new();
        for shard in 0..super::MATURITY_SHARDS {
            let partition = super::maturity_shard(shard);
            found.extend(self.due_in(&partition, &until, limit).await?);
        }
        if !cursor.contains_key(super::MATURITY_SHARDED) {
            found.extend(self.due_in_days(&cursor, now, &until, limit).await?);
        }
        found.sort_by(|a, b| (a.matures_at, &a.slot).cmp(&(b.matures_at, &b.slot)));
        // A commission re-projected from before the schedule was sharded can
        // be in both its day and its shard: one entry per commission a page.
        let mut seen = std::collections::HashSet::new();
        found.retain(|d| seen.insert((d.tenant_id.clone(), d.commission_id.clone())));
        found.truncate(limit);
        Ok(found)
    }

    async fn remove(&self, due: &event_store::DueCommission) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.maturities)
            .key("day", s(due.slot.split('|').next().unwrap_or_default()))
            .key("due", s(due.slot.split('|').nth(1).unwrap_or_default()))
            .send()
            .await
            .map_err(|e| sdk("delete maturity", e))?;
        Ok(())
    }
}

/// Items one page of [`mark_schedule_sharded`]'s scan evaluates.
const MARK_SCAN_PAGE: i32 = 500;

/// Marks the schedule as sharded when it holds no entry by day (entries
/// from before sharding), so the maturing run reads only the shards. A
/// table from before, or one SAM created, lacks the mark; run once after
/// the deploy (`ledger-admin projection index`). Returns whether the
/// schedule is marked; while day entries remain it is not, and the run
/// keeps walking their days.
pub async fn mark_schedule_sharded(projection: &DynamoProjection) -> Result<bool, StoreError> {
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let out = projection
            .client
            .scan()
            .table_name(&projection.tables.maturities)
            .filter_expression("NOT begins_with(#d, :shard) AND #d <> :cursor")
            .expression_attribute_names("#d", "day")
            .expression_attribute_values(":shard", s(super::MATURITY_SHARD_PREFIX))
            .expression_attribute_values(":cursor", s(MATURITY_CURSOR_DAY))
            .projection_expression("#d")
            .set_exclusive_start_key(start.take())
            .limit(MARK_SCAN_PAGE)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("scan maturities for day entries", e))?;
        if !out.items().is_empty() {
            return Ok(false);
        }
        match out.last_evaluated_key {
            Some(key) => start = Some(key),
            None => break,
        }
    }
    projection
        .client
        .update_item()
        .table_name(&projection.tables.maturities)
        .key("day", s(MATURITY_CURSOR_DAY))
        .key("due", s(MATURITY_CURSOR_DAY))
        .update_expression("SET #sharded = :yes")
        .expression_attribute_names("#sharded", super::MATURITY_SHARDED)
        .expression_attribute_values(":yes", AttributeValue::Bool(true))
        .send()
        .await
        .map_err(|e| sdk("mark the maturity schedule sharded", e))?;
    Ok(true)
}
