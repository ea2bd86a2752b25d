//! Giving balance rows written before the tenant index their `tenant`
//! attribute, so the index lists them (`ledger-admin projection index`, once
//! after upgrading; running it again finds nothing to do).
//!
//! Until it has run, rows that no event has touched since the upgrade are
//! not in the index: drafting and statements would not see them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use event_store::StoreError;

use ledger_domain::projection::BalanceOwner;

use super::reads::text;
use super::{DynamoProjection, TENANT_ATTRIBUTE, s, sdk, unless_condition_failed};

/// Items one scan page of the backfill evaluates.
const BACKFILL_PAGE: i32 = 500;

impl DynamoProjection {
    /// One balance row's tenant attribute, set unless the row is gone.
    async fn set_tenant(
        &self,
        owner: &str,
        currency: &str,
        tenant: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.balances)
            .key("owner", s(owner))
            .key("currency", s(currency))
            .update_expression("SET #tenant = :tenant")
            .condition_expression("attribute_exists(#owner)")
            .expression_attribute_names("#tenant", TENANT_ATTRIBUTE)
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":tenant", s(tenant))
            .send()
            .await;
        unless_condition_failed(result, "set balance row tenant")
    }
}

/// Sets `tenant` on every balance row (not bookkeeping rows: profiles,
/// counters, parked events) that lacks it. Returns how many rows it set.
pub async fn index_balance_rows(projection: &DynamoProjection) -> Result<u64, StoreError> {
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    let mut set = 0u64;
    loop {
        let out = projection
            .client
            .scan()
            .table_name(&projection.tables.balances)
            .filter_expression(
                "attribute_not_exists(#tenant) AND NOT begins_with(#c, :bookkeeping)",
            )
            .expression_attribute_names("#tenant", TENANT_ATTRIBUTE)
            .expression_attribute_names("#c", "currency")
            .expression_attribute_values(":bookkeeping", s("#"))
            .projection_expression("#o, #c")
            .expression_attribute_names("#o", "owner")
            .set_exclusive_start_key(start.take())
            .limit(BACKFILL_PAGE)
            .send()
            .await
            .map_err(|e| sdk("scan balance rows without a tenant", e))?;
        for item in out.items() {
            let (Some(owner), Some(currency)) = (text(item, "owner"), text(item, "currency"))
            else {
                continue;
            };
            let Some(tenant) = BalanceOwner::tenant_of_key(owner) else {
                continue;
            };
            projection.set_tenant(owner, currency, tenant).await?;
            set += 1;
        }
        match out.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return Ok(set),
        }
    }
}
