//! Reads of the DynamoDB projection: balance items, journals, the maturity
//! schedule, payout candidates and a tenant's rows.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use event_store::StoreError;
use ledger_domain::projection::{AffiliateField, BalanceOwner};

use ledger_domain::projection::time_key;

use super::{DynamoProjection, PROFILE_ROW, s, sdk};

impl DynamoProjection {
    /// One balance item: signed minor units per field.
    pub async fn balance(
        &self,
        owner: &BalanceOwner,
        currency: &str,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.balances)
            .key("owner", s(owner.key()))
            .key("currency", s(currency))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("get balance", e))?;
        Ok(out
            .item
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.as_n().ok().and_then(|n| n.parse().ok()).map(|n| (k, n)))
            .collect())
    }
}

impl DynamoProjection {
    /// Every balance item of an owner: (currency, fields).
    pub async fn owner_balances(
        &self,
        owner: &BalanceOwner,
    ) -> Result<Vec<(String, BTreeMap<String, i64>)>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.balances)
            .key_condition_expression("#o = :o")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":o", s(owner.key()))
            .consistent_read(true)
            .limit(1000)
            .send()
            .await
            .map_err(|e| sdk("query balances", e))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| {
                let currency = item.get("currency")?.as_s().ok()?.clone();
                if currency.starts_with('#') {
                    // Not a currency: the profile or draft counter item.
                    return None;
                }
                let fields = item
                    .iter()
                    .filter_map(|(k, v)| {
                        v.as_n()
                            .ok()
                            .and_then(|n| n.parse().ok())
                            .map(|n| (k.clone(), n))
                    })
                    .collect();
                Some((currency, fields))
            })
            .collect())
    }

    /// An owner's journal in one currency, oldest first, after a page token.
    pub async fn journal(
        &self,
        owner: &BalanceOwner,
        currency: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<event_store::JournalLine>, Option<String>), StoreError> {
        let pk = format!("{}#{currency}", owner.key());
        let mut query = self
            .client
            .query()
            .table_name(&self.tables.journal)
            .key_condition_expression("#o = :o")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":o", s(&pk))
            .limit(i32::try_from(limit).unwrap_or(500));
        if let Some(after) = after {
            query = query
                .exclusive_start_key("owner", s(&pk))
                .exclusive_start_key("line", s(after));
        }
        let out = query.send().await.map_err(|e| sdk("query journal", e))?;
        let mut lines = Vec::new();
        for item in out.items() {
            let get = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let stream = get("stream");
            let version = item
                .get("version")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let deltas =
                serde_json::from_str(&get("deltas")).map_err(|e| StoreError::CorruptEvent {
                    stream: stream.clone(),
                    version,
                    reason: format!("journal line deltas: {e}"),
                })?;
            lines.push(event_store::JournalLine {
                // The sort key (recorded time, stream, version) is the page token.
                token: get("line"),
                stream,
                version,
                event_type: get("event_type"),
                effective_at: get("effective_at"),
                deltas,
            });
        }
        let next = out
            .last_evaluated_key()
            .and_then(|k| k.get("line"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok((lines, next))
    }
}

/// How far back the maturing job looks for days it has not cleared yet.
pub const MATURITY_LOOKBACK_DAYS_MAX: i64 = 400;
const MATURITY_CURSOR_DAY: &str = "cursor";

#[async_trait::async_trait]
impl event_store::MaturitySchedule for DynamoProjection {
    async fn due(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<event_store::DueCommission>, StoreError> {
        event_store::check_read_limit(limit)?;
        // Days before the cursor are known to be cleared.
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
            .and_then(|i| i.get("from").and_then(|v| v.as_s().ok()).cloned())
            .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
        let today = now.date_naive();
        let mut day = cursor.unwrap_or(today - chrono::Duration::days(MATURITY_LOOKBACK_DAYS_MAX));
        let mut due = Vec::new();
        let mut cleared_until = None;
        while day <= today && due.len() < limit {
            let out = self
                .client
                .query()
                .table_name(&self.tables.maturities)
                .key_condition_expression("#d = :d AND #u <= :u")
                .expression_attribute_names("#d", "day")
                .expression_attribute_names("#u", "due")
                .expression_attribute_values(":d", s(day.format("%Y-%m-%d").to_string()))
                .expression_attribute_values(":u", s(format!("{}~", time_key(now))))
                .consistent_read(true)
                .limit(i32::try_from(limit - due.len()).unwrap_or(1000))
                .send()
                .await
                .map_err(|e| sdk("query maturities", e))?;
            // Leave a margin for projection lag before calling a day cleared.
            if out.items().is_empty() && day < today - chrono::Duration::days(2) && due.is_empty() {
                cleared_until = Some(day + chrono::Duration::days(1));
            }
            for item in out.items() {
                let get = |n: &str| {
                    item.get(n)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                let at = get("due").split('#').next().unwrap_or_default().to_owned();
                let matures_at = chrono::DateTime::parse_from_rfc3339(&at)
                    .map_err(|e| {
                        StoreError::Unavailable(format!("maturities: bad time {at:?}: {e}"))
                    })?
                    .with_timezone(&chrono::Utc);
                due.push(event_store::DueCommission {
                    tenant_id: get("tenant_id"),
                    commission_id: get("commission_id"),
                    matures_at,
                    slot: format!("{}|{}", day.format("%Y-%m-%d"), get("due")),
                });
            }
            day += chrono::Duration::days(1);
        }
        if let Some(from) = cleared_until {
            self.client
                .put_item()
                .table_name(&self.tables.maturities)
                .item("day", s(MATURITY_CURSOR_DAY))
                .item("due", s(MATURITY_CURSOR_DAY))
                .item("from", s(from.format("%Y-%m-%d").to_string()))
                .send()
                .await
                .map_err(|e| sdk("put maturity cursor", e))?;
        }
        Ok(due)
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

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

#[async_trait::async_trait]
impl event_store::PayoutReads for DynamoProjection {
    /// A filtered scan of the balances table: the rows of the tenant's
    /// affiliates with money available, and their profile items (which
    /// sort first within an owner). A drafting job reads the whole tenant
    /// once per run, so a scan beats an index kept on every balance write.
    async fn payout_candidates(
        &self,
        tenant_id: &ledger_domain::TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<event_store::CandidatePage, StoreError> {
        if limit == 0 || limit > event_store::CANDIDATE_PAGE_MAX {
            return Err(StoreError::LimitExceeded {
                what: "payout candidates page".to_owned(),
                got: limit,
                limit: event_store::CANDIDATE_PAGE_MAX,
            });
        }
        let prefix = format!("{tenant_id}/affiliate/");
        let scan = OwnerScan {
            what: "payout candidates",
            prefix: &prefix,
            condition: "#c = :profile OR available < :zero",
            values: vec![
                (":profile", s(PROFILE_ROW)),
                (":zero", AttributeValue::N("0".to_owned())),
            ],
            counts: |currency| currency != PROFILE_ROW,
        };
        let (items, next) = self.scan_owners(&scan, after, limit).await?;
        // Profile items sort first within an owner; an owner whose profile
        // fell on an earlier page is looked up.
        let mut profiles: HashMap<&str, &str> = HashMap::new();
        let mut candidates = Vec::new();
        for item in &items {
            let (Some(owner), Some(currency)) = (text(item, "owner"), text(item, "currency"))
            else {
                continue;
            };
            if currency == PROFILE_ROW {
                if let Some(p) = text(item, "profile") {
                    profiles.insert(owner, p);
                }
                continue;
            }
            let profile = match profiles.get(owner) {
                Some(p) => Some((*p).to_owned()),
                None => self.profile_of(owner).await?,
            };
            candidates.push(event_store::payout_candidate(
                owner.strip_prefix(&prefix).unwrap_or(owner),
                currency,
                number(item, AffiliateField::Available.name()),
                number(item, AffiliateField::Receivable.name()),
                profile.as_deref(),
            )?);
        }
        Ok(event_store::CandidatePage { candidates, next })
    }

    async fn batches_drafted(
        &self,
        tenant_id: &ledger_domain::TenantId,
    ) -> Result<u64, StoreError> {
        let owner = BalanceOwner::Tenant {
            tenant_id: tenant_id.clone(),
        };
        let fields = self
            .balance(&owner, ledger_domain::projection::DRAFTS_ROW)
            .await?;
        Ok(fields
            .get(ledger_domain::projection::BATCHES_DRAFTED_FIELD)
            .copied()
            .unwrap_or(0)
            .max(0) as u64)
    }

    async fn parked_events(
        &self,
        tenant_id: &ledger_domain::TenantId,
    ) -> Result<Vec<event_store::ParkedEvent>, StoreError> {
        self.parked(tenant_id).await
    }
}

/// A filtered scan of the balances table over the rows whose owner starts
/// with `prefix` (one tenant's), resumable from an "owner currency" token.
struct OwnerScan<'a> {
    /// Names the read in errors and tokens.
    what: &'static str,
    prefix: &'a str,
    /// A filter over `#c` (the currency) and the row's fields, with
    /// `values` for its placeholders.
    condition: &'static str,
    values: Vec<(&'static str, AttributeValue)>,
    /// Whether an item (by its currency) is a result: a page of the scan
    /// without one is read on, not handed back empty.
    counts: fn(&str) -> bool,
}

impl DynamoProjection {
    /// The items of one page of `scan` after `after` (at most `limit`
    /// evaluated per request), reading on through pages without a result,
    /// and the token of the next page.
    async fn scan_owners(
        &self,
        scan: &OwnerScan<'_>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<HashMap<String, AttributeValue>>, Option<String>), StoreError> {
        let mut start = match after {
            None => None,
            Some(token) => {
                let (owner, currency) = token
                    .split_once(' ')
                    .filter(|(o, _)| o.starts_with(scan.prefix))
                    .ok_or_else(|| StoreError::InvalidCursor {
                        cursor: token.to_owned(),
                        reason: format!("not a {} token of this tenant", scan.what),
                    })?;
                Some(HashMap::from([
                    ("owner".to_owned(), s(owner)),
                    ("currency".to_owned(), s(currency)),
                ]))
            }
        };
        let mut items = Vec::new();
        loop {
            let mut request = self
                .client
                .scan()
                .table_name(&self.tables.balances)
                .filter_expression(format!("begins_with(#o, :p) AND ({})", scan.condition))
                .expression_attribute_names("#o", "owner")
                .expression_attribute_names("#c", "currency")
                .expression_attribute_values(":p", s(scan.prefix));
            for (name, value) in &scan.values {
                request = request.expression_attribute_values(*name, value.clone());
            }
            let out = request
                .set_exclusive_start_key(start.take())
                .limit(limit as i32)
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk(&format!("scan {}", scan.what), e))?;
            let found = out
                .items()
                .iter()
                .any(|item| text(item, "currency").is_some_and(scan.counts));
            let next_key = out.last_evaluated_key().cloned();
            items.extend(out.items.unwrap_or_default());
            match next_key {
                None => return Ok((items, None)),
                Some(key) if found => {
                    let token = format!(
                        "{} {}",
                        text(&key, "owner").unwrap_or_default(),
                        text(&key, "currency").unwrap_or_default()
                    );
                    return Ok((items, Some(token)));
                }
                // A page the filter emptied: read on.
                Some(key) => start = Some(key),
            }
        }
    }

    async fn profile_of(&self, owner: &str) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.balances)
            .key("owner", s(owner))
            .key("currency", s(PROFILE_ROW))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("get payout profile", e))?;
        Ok(out
            .item()
            .and_then(|item| text(item, "profile"))
            .map(str::to_owned))
    }
}

fn row_fields(item: &HashMap<String, AttributeValue>) -> event_store::Fields {
    item.iter()
        .filter_map(|(k, v)| {
            v.as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .map(|n| (k.clone(), n))
        })
        .collect()
}

#[async_trait::async_trait]
impl event_store::LedgerReads for DynamoProjection {
    async fn balances(
        &self,
        owner: &BalanceOwner,
    ) -> Result<Vec<(String, event_store::Fields)>, StoreError> {
        self.owner_balances(owner).await
    }

    async fn journal(
        &self,
        owner: &BalanceOwner,
        currency: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<event_store::JournalPage, StoreError> {
        let (lines, next) = DynamoProjection::journal(self, owner, currency, after, limit).await?;
        Ok(event_store::JournalPage { lines, next })
    }

    /// A filtered scan of the balances table for the tenant's rows (its
    /// affiliates' and its own), like the payout candidates read: these
    /// reads run once per statement or reconciliation run.
    async fn tenant_rows(
        &self,
        tenant_id: &ledger_domain::TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<event_store::TenantRowPage, StoreError> {
        event_store::check_tenant_rows_limit(limit)?;
        let prefix = format!("{tenant_id}/");
        let scan = OwnerScan {
            what: "balance rows",
            prefix: &prefix,
            // Rows whose currency starts with `#` are bookkeeping (profiles,
            // counters), not balances.
            condition: "NOT begins_with(#c, :bookkeeping)",
            values: vec![(":bookkeeping", s("#"))],
            counts: |_| true,
        };
        let (items, next) = self.scan_owners(&scan, after, limit).await?;
        let mut rows = Vec::with_capacity(items.len());
        for item in &items {
            let (Some(owner), Some(currency)) = (text(item, "owner"), text(item, "currency"))
            else {
                continue;
            };
            let owner = BalanceOwner::from_key(owner).ok_or_else(|| {
                StoreError::Unavailable(format!("balance row owner {owner:?} is unreadable"))
            })?;
            rows.push(event_store::TenantRow {
                owner,
                currency: currency.to_owned(),
                fields: row_fields(item),
            });
        }
        Ok(event_store::TenantRowPage { rows, next })
    }
}
