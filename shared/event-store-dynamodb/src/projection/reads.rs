//! Reads of the DynamoDB projection: balance items, journals, the maturity
//! schedule, payout candidates and a tenant's rows.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use event_store::StoreError;
use ledger_domain::projection::{AffiliateField, BalanceOwner};

use super::{DynamoProjection, PROFILE_ROW, s, sdk};

/// A tenant's row summed over its shard items: added in `i128` (in any
/// order the items come), each total then checked to fit; a number that is
/// not an integer, or a total that does not fit, is an error, never a
/// dropped or wrapped value.
#[derive(Default)]
struct ShardSum(BTreeMap<String, i128>);

impl ShardSum {
    fn add(&mut self, item: &HashMap<String, AttributeValue>) -> Result<(), StoreError> {
        for (field, value) in item {
            let Ok(n) = value.as_n() else { continue };
            let n: i128 = n.parse().map_err(|_| {
                StoreError::Unavailable(format!(
                    "balance field {field} holds {n:?}, not minor units"
                ))
            })?;
            let slot = self.0.entry(field.clone()).or_insert(0);
            *slot = slot.checked_add(n).ok_or_else(|| {
                StoreError::Unavailable(format!("balance field {field} overflows when summed"))
            })?;
        }
        Ok(())
    }

    fn total(self) -> Result<event_store::Fields, StoreError> {
        self.0
            .into_iter()
            .map(|(field, n)| {
                i64::try_from(n).map(|n| (field.clone(), n)).map_err(|_| {
                    StoreError::Unavailable(format!(
                        "a tenant's balance shards overflow when summed ({field})"
                    ))
                })
            })
            .collect()
    }
}

/// An item's number attributes: signed minor units per field.
fn item_fields(item: &HashMap<String, AttributeValue>) -> event_store::Fields {
    item.iter()
        .filter_map(|(k, v)| {
            v.as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .map(|n| (k.clone(), n))
        })
        .collect()
}

impl DynamoProjection {
    /// One balance row: signed minor units per field (a tenant's own row
    /// summed over its shards, see [`super::TENANT_TOTAL_SHARDS`]).
    pub async fn balance(
        &self,
        owner: &BalanceOwner,
        currency: &str,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let keys = match owner {
            BalanceOwner::Tenant { .. } if !currency.starts_with('#') => {
                super::tenant_total_keys(&owner.key())
            }
            _ => {
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
                return Ok(out.item.as_ref().map(item_fields).unwrap_or_default());
            }
        };
        let items = self
            .get_rows(
                keys.into_iter()
                    .map(|key| (key, currency.to_owned()))
                    .collect(),
            )
            .await?;
        let mut sum = ShardSum::default();
        for item in &items {
            sum.add(item)?;
        }
        sum.total()
    }

    /// Every balance row of an owner: (currency, fields), in currency
    /// order (a tenant's own rows summed over its shards).
    pub async fn owner_balances(
        &self,
        owner: &BalanceOwner,
    ) -> Result<Vec<(String, BTreeMap<String, i64>)>, StoreError> {
        let keys = match owner {
            BalanceOwner::Tenant { .. } => super::tenant_total_keys(&owner.key()),
            BalanceOwner::Affiliate { .. } => vec![owner.key()],
        };
        let mut rows: BTreeMap<String, ShardSum> = BTreeMap::new();
        for key in keys {
            let out = self
                .client
                .query()
                .table_name(&self.tables.balances)
                .key_condition_expression("#o = :o")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_values(":o", s(key))
                .consistent_read(true)
                .limit(1000)
                .send()
                .await
                .map_err(|e| sdk("query balances", e))?;
            for item in out.items() {
                let Some(currency) = text(item, "currency") else {
                    continue;
                };
                if currency.starts_with('#') {
                    // Not a currency: the profile or draft counter item.
                    continue;
                }
                rows.entry(currency.to_owned()).or_default().add(item)?;
            }
        }
        rows.into_iter()
            .map(|(currency, sum)| Ok((currency, sum.total()?)))
            .collect()
    }
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub(super) fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

#[async_trait::async_trait]
impl event_store::PayoutReads for DynamoProjection {
    /// The tenant's affiliates' rows with money available, from the tenant
    /// index (no other tenant's rows are read), with their payout profiles.
    async fn payout_candidates(
        &self,
        tenant_id: &ledger_domain::TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<event_store::CandidatePage, StoreError> {
        event_store::check_candidate_limit(limit)?;
        let prefix = format!("{tenant_id}/affiliate/");
        let query = OwnerQuery {
            what: "payout candidates",
            tenant: tenant_id.as_str(),
            prefix: &prefix,
            // Money available: the row's `available` is below zero in the
            // ledger's sign (a liability to the affiliate).
            keep: |item| number(item, AffiliateField::Available.name()) < 0,
        };
        let (rows, next) = self.query_owners(&query, after, limit).await?;
        let owners: Vec<&str> = {
            let mut owners: Vec<&str> = rows.iter().filter_map(|i| text(i, "owner")).collect();
            owners.dedup();
            owners
        };
        let profile_keys = owners
            .iter()
            .map(|owner| ((*owner).to_owned(), PROFILE_ROW.to_owned()))
            .collect();
        let profile_items = self.get_rows(profile_keys).await?;
        let profiles: HashMap<&str, &str> = profile_items
            .iter()
            .filter_map(|item| Some((text(item, "owner")?, text(item, "profile")?)))
            .collect();
        let mut candidates = Vec::with_capacity(rows.len());
        for item in &rows {
            let (Some(owner), Some(currency)) = (text(item, "owner"), text(item, "currency"))
            else {
                continue;
            };
            candidates.push(event_store::payout_candidate(
                owner.strip_prefix(&prefix).unwrap_or(owner),
                currency,
                number(item, AffiliateField::Available.name()),
                number(item, AffiliateField::Receivable.name()),
                profiles.get(owner).copied(),
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

/// A read of one tenant's balance rows whose owner starts with `prefix`,
/// through the tenant index, resumable from an "owner currency" token.
struct OwnerQuery<'a> {
    /// Names the read in errors and tokens.
    what: &'static str,
    tenant: &'a str,
    prefix: &'a str,
    /// Whether a row (as read from the table) is a result: a page of the
    /// index without one is read on, not handed back empty.
    keep: fn(&HashMap<String, AttributeValue>) -> bool,
}

/// The most keys one `BatchGetItem` takes.
const BATCH_GET_KEYS_MAX: usize = 100;

impl DynamoProjection {
    /// The rows of one page of `query` after `after` (at most `limit` index
    /// entries per request), in key order, reading on through pages without
    /// a result, and the token of the next page. The index holds keys only:
    /// the rows themselves are read from the table by key (consistent).
    async fn query_owners(
        &self,
        query: &OwnerQuery<'_>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<HashMap<String, AttributeValue>>, Option<String>), StoreError> {
        let mut start = match after {
            None => None,
            Some(token) => {
                let (owner, currency) = token
                    .split_once(' ')
                    .filter(|(o, _)| o.starts_with(query.prefix))
                    .ok_or_else(|| StoreError::InvalidCursor {
                        cursor: token.to_owned(),
                        reason: format!("not a {} token of this tenant", query.what),
                    })?;
                Some(HashMap::from([
                    (super::TENANT_ATTRIBUTE.to_owned(), s(query.tenant)),
                    ("owner".to_owned(), s(owner)),
                    ("currency".to_owned(), s(currency)),
                ]))
            }
        };
        let mut rows = Vec::new();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.balances)
                .index_name(super::TENANT_INDEX)
                .key_condition_expression("#t = :t AND begins_with(#o, :p)")
                // Rows whose currency starts with `#` are bookkeeping
                // (counters), not balances.
                .filter_expression("NOT begins_with(#c, :bookkeeping)")
                .expression_attribute_names("#t", super::TENANT_ATTRIBUTE)
                .expression_attribute_names("#o", "owner")
                .expression_attribute_names("#c", "currency")
                .expression_attribute_values(":t", s(query.tenant))
                .expression_attribute_values(":p", s(query.prefix))
                .expression_attribute_values(":bookkeeping", s("#"))
                .set_exclusive_start_key(start.take())
                .limit(limit as i32)
                .send()
                .await
                .map_err(|e| sdk(&format!("query {}", query.what), e))?;
            let keys: Vec<(String, String)> = out
                .items()
                .iter()
                .filter_map(|item| {
                    Some((
                        text(item, "owner")?.to_owned(),
                        text(item, "currency")?.to_owned(),
                    ))
                })
                .collect();
            let found: Vec<_> = self
                .get_rows(keys)
                .await?
                .into_iter()
                .filter(|item| (query.keep)(item))
                .collect();
            let any = !found.is_empty();
            rows.extend(found);
            match out.last_evaluated_key {
                None => break,
                Some(key) if any => {
                    let token = format!(
                        "{} {}",
                        text(&key, "owner").unwrap_or_default(),
                        text(&key, "currency").unwrap_or_default()
                    );
                    sort_rows(&mut rows);
                    return Ok((rows, Some(token)));
                }
                // A page without a result: read on.
                Some(key) => start = Some(key),
            }
        }
        sort_rows(&mut rows);
        Ok((rows, None))
    }

    /// Balance items by (owner, currency), consistent, in batches of 100;
    /// keys with no item are left out. What DynamoDB leaves unprocessed is
    /// asked for again with backoff.
    async fn get_rows(
        &self,
        keys: Vec<(String, String)>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut items = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_KEYS_MAX) {
            let mut request = KeysAndAttributes::builder().consistent_read(true);
            for (owner, currency) in chunk {
                request = request.keys(HashMap::from([
                    ("owner".to_owned(), s(owner)),
                    ("currency".to_owned(), s(currency)),
                ]));
            }
            let mut pending = Some(request.build().map_err(super::build)?);
            let mut attempt = 0;
            while let Some(request) = pending.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.tables.balances, request)
                    .send()
                    .await
                    .map_err(|e| sdk("batch get balance rows", e))?;
                if let Some(mut found) = out.responses {
                    items.extend(found.remove(&self.tables.balances).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(&self.tables.balances))
                    .filter(|left| !left.keys().is_empty());
                if pending.is_some() {
                    if attempt + 1 >= crate::WRITE_ATTEMPTS_MAX {
                        return Err(StoreError::Busy {
                            attempts: attempt + 1,
                            detail: "balance rows kept being left unprocessed".to_owned(),
                        });
                    }
                    crate::backoff(attempt).await;
                    attempt += 1;
                }
            }
        }
        Ok(items)
    }
}

/// Rows in key order (a batch read returns them in any order).
fn sort_rows(rows: &mut [HashMap<String, AttributeValue>]) {
    rows.sort_by(|a, b| {
        (text(a, "owner"), text(a, "currency")).cmp(&(text(b, "owner"), text(b, "currency")))
    });
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

    /// The tenant's rows: its affiliates' from the tenant index, like the
    /// payout candidates read, then its own, summed over their shards, in
    /// currency order. These reads run once per statement or
    /// reconciliation run.
    async fn tenant_rows(
        &self,
        tenant_id: &ledger_domain::TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<event_store::TenantRowPage, StoreError> {
        event_store::check_tenant_rows_limit(limit)?;
        let tenant = BalanceOwner::Tenant {
            tenant_id: tenant_id.clone(),
        };
        let tenant_key = tenant.key();
        let mut rows = Vec::new();
        // Where the tenant's own rows resume: after a currency ("" from the
        // first), once every affiliate row was handed out.
        let own_after = match after.and_then(|token| token.split_once(' ')) {
            Some((owner, currency)) if owner == tenant_key => currency.to_owned(),
            _ => {
                let prefix = format!("{tenant_id}/affiliate/");
                let query = OwnerQuery {
                    what: "balance rows",
                    tenant: tenant_id.as_str(),
                    prefix: &prefix,
                    keep: |_| true,
                };
                let (items, next) = self.query_owners(&query, after, limit).await?;
                for item in &items {
                    let (Some(owner), Some(currency)) =
                        (text(item, "owner"), text(item, "currency"))
                    else {
                        continue;
                    };
                    let owner = BalanceOwner::from_key(owner).ok_or_else(|| {
                        StoreError::Unavailable(format!(
                            "balance row owner {owner:?} is unreadable"
                        ))
                    })?;
                    rows.push(event_store::TenantRow {
                        owner,
                        currency: currency.to_owned(),
                        fields: item_fields(item),
                    });
                }
                if next.is_some() {
                    return Ok(event_store::TenantRowPage { rows, next });
                }
                String::new()
            }
        };
        let own: Vec<_> = self
            .owner_balances(&tenant)
            .await?
            .into_iter()
            .filter(|(currency, _)| currency.as_str() > own_after.as_str())
            .collect();
        let room = limit.saturating_sub(rows.len());
        let next = match own.get(room.saturating_sub(1)) {
            Some((currency, _)) if own.len() > room => Some(format!(
                "{tenant_key} {}",
                if room == 0 {
                    own_after.as_str()
                } else {
                    currency
                }
            )),
            _ => None,
        };
        rows.extend(
            own.into_iter()
                .take(room)
                .map(|(currency, fields)| event_store::TenantRow {
                    owner: tenant.clone(),
                    currency,
                    fields,
                }),
        );
        Ok(event_store::TenantRowPage { rows, next })
    }
}
