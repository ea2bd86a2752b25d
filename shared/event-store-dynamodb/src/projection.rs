//! The ledger projection on DynamoDB, fed by the events table's stream.
//!
//! Tables:
//! - `{prefix}balances`: one item per (owner, currency) with one number
//!   attribute per account field (`pending`, `available`, ...);
//! - `{prefix}journal`: one item per (owner and currency, event), for an
//!   affiliate's paginated journal;
//! - `{prefix}projected`: one guard item per projected event (or per chunk
//!   of an event too large for one transaction).
//!
//! Exactly once, coalesced: a batch of events is packed into as few
//! `TransactWriteItems` as fit 100 items, each holding a conditional guard
//! put per event and ONE `ADD` update per balance item the events touch. A
//! redelivered event fails its guard's condition; the transaction is then
//! retried without it. Journal lines are deterministic puts written before
//! the transaction, so a retry rewrites them identically.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TransactWriteItem, Update,
};
use event_store::{StoreError, StoredEvent, TRANSACTION_ITEMS_MAX};
use ledger_domain::journal_entry;
use ledger_domain::projection::{BalanceDeltas, BalanceOwner, FieldDeltas};

use crate::{WRITE_ATTEMPTS_MAX, backoff};

/// Names of the projection's tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionTables {
    pub balances: String,
    pub journal: String,
    pub projected: String,
    /// Commissions in their hold period: key `day` (the day they mature),
    /// sort key `due` (`matures_at#tenant#commission`).
    pub maturities: String,
}

impl ProjectionTables {
    pub fn with_prefix(prefix: &str) -> Self {
        ProjectionTables {
            balances: format!("{prefix}balances"),
            journal: format!("{prefix}journal"),
            projected: format!("{prefix}projected"),
            maturities: format!("{prefix}maturities"),
        }
    }
}

/// What one call projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DynamoProjectionReport {
    pub events: usize,
    /// Events skipped because an earlier delivery had projected them.
    pub already_projected: usize,
    pub transactions: usize,
    /// Balance item updates issued (one per balance item per transaction).
    pub balance_writes: usize,
    pub journal_lines: usize,
}

/// A failure, with the index of the first event not known to be projected,
/// so a stream consumer can report that record as the batch's failure.
#[derive(Debug, thiserror::Error)]
#[error("projection stopped at event {first_unprojected}: {error}")]
pub struct ProjectionFailure {
    pub first_unprojected: usize,
    pub error: StoreError,
    pub report: DynamoProjectionReport,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn sdk(what: &str, e: impl std::error::Error) -> StoreError {
    StoreError::Unavailable(format!("{what}: {}", DisplayErrorContext(e)))
}

fn build(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("dynamodb request could not be built: {e}"))
}

/// One unit of atomic work: an event (or a chunk of a large event's rows).
struct Unit {
    event_index: usize,
    guard_id: String,
    rows: BTreeMap<(String, &'static str), FieldDeltas>,
}

/// Creates the projection tables if they do not exist.
pub async fn create_projection_tables(
    client: &Client,
    tables: &ProjectionTables,
) -> Result<(), StoreError> {
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(build)
    };
    let def = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build)
    };
    for (name, hash, sort) in [
        (&tables.balances, "owner", Some("currency")),
        (&tables.journal, "owner", Some("line")),
        (&tables.projected, "id", None),
        (&tables.maturities, "day", Some("due")),
    ] {
        if crate::schema::table_exists(client, name).await? {
            continue;
        }
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(hash, KeyType::Hash)?)
            .attribute_definitions(def(hash)?);
        if let Some(sort) = sort {
            request = request
                .key_schema(key(sort, KeyType::Range)?)
                .attribute_definitions(def(sort)?);
        }
        request
            .send()
            .await
            .map_err(|e| sdk(&format!("create {name}"), e))?;
    }
    Ok(())
}

/// The sort key of an affiliate's payout profile item in the balances table.
pub const PROFILE_ROW: &str = "#profile";

/// The DynamoDB projector.
#[derive(Clone)]
pub struct DynamoProjection {
    client: Client,
    tables: ProjectionTables,
}

impl DynamoProjection {
    pub fn new(client: Client, tables: ProjectionTables) -> Self {
        DynamoProjection { client, tables }
    }

    /// Projects events delivered in stream order (per stream). Events
    /// already projected by an earlier delivery are skipped.
    pub async fn project(
        &self,
        events: &[StoredEvent],
    ) -> Result<DynamoProjectionReport, ProjectionFailure> {
        let mut report = DynamoProjectionReport {
            events: events.len(),
            ..Default::default()
        };
        let fail =
            |index: usize, error: StoreError, report: DynamoProjectionReport| ProjectionFailure {
                first_unprojected: index,
                error,
                report,
            };
        // Decide every event's rows. An unreadable event stops the batch
        // there: the events before it are still projected (below), so the
        // consumer can report exactly that event and retry from it.
        let mut units = Vec::new();
        let mut stopped: Option<(usize, StoreError)> = None;
        for (index, stored) in events.iter().enumerate() {
            if let Err(error) = self.prepare(index, stored, &mut units, &mut report).await {
                stopped = Some((index, error));
                break;
            }
        }
        // Pack units into transactions: guards + distinct rows <= 100.
        let mut start = 0;
        while start < units.len() {
            let mut end = start;
            let mut keys: BTreeSet<(String, &'static str)> = BTreeSet::new();
            while end < units.len() {
                let mut with: BTreeSet<(String, &'static str)> = keys.clone();
                with.extend(units[end].rows.keys().cloned());
                if (end - start + 1) + with.len() > TRANSACTION_ITEMS_MAX {
                    break;
                }
                keys = with;
                end += 1;
            }
            let first = units[start].event_index;
            self.apply_units(&units[start..end], &mut report)
                .await
                .map_err(|e| fail(first, e, report))?;
            start = end;
        }
        match stopped {
            None => Ok(report),
            Some((index, error)) => Err(fail(index, error, report)),
        }
    }

    /// Reads one event, writes its journal lines and maturity, and queues
    /// its balance rows as units of atomic work.
    async fn prepare(
        &self,
        index: usize,
        stored: &StoredEvent,
        units: &mut Vec<Unit>,
        report: &mut DynamoProjectionReport,
    ) -> Result<(), StoreError> {
        let corrupt = |reason: String| StoreError::CorruptEvent {
            stream: stored.stream.to_string(),
            version: stored.version,
            reason,
        };
        let event = stored.decode()?;
        let entry = journal_entry(&event).map_err(|e| corrupt(e.to_string()))?;
        let mut deltas = BalanceDeltas::default();
        deltas.add(&entry).map_err(|e| corrupt(e.to_string()))?;
        self.schedule_maturity(&event).await?;
        self.keep_profile(stored, &event).await?;
        report.journal_lines += self.write_journal_lines(stored, &event, &deltas).await?;
        let rows: Vec<((String, &'static str), FieldDeltas)> = deltas
            .rows
            .into_iter()
            .map(|((owner, currency), fields)| ((owner.key(), currency), fields))
            .collect();
        // An event touching more rows than a transaction holds is split into
        // chunks, each with its own guard.
        let chunk_rows = TRANSACTION_ITEMS_MAX - 1;
        if rows.len() <= chunk_rows {
            units.push(Unit {
                event_index: index,
                guard_id: format!("{}#{}", stored.stream, stored.version),
                rows: rows.into_iter().collect(),
            });
        } else {
            for (n, chunk) in rows.chunks(chunk_rows).enumerate() {
                units.push(Unit {
                    event_index: index,
                    guard_id: format!("{}#{}#{n}", stored.stream, stored.version),
                    rows: chunk.iter().cloned().collect(),
                });
            }
        }
        Ok(())
    }

    /// Adds a recorded commission to the maturity schedule (an idempotent
    /// put). The maturing job removes it once matured, or once there is
    /// nothing left to mature.
    async fn schedule_maturity(&self, event: &ledger_domain::Event) -> Result<(), StoreError> {
        use ledger_domain::EventBody;
        let tenant = event.tenant_id().as_str();
        // A commission recorded late (its hold already over) is filed under
        // the day it was recorded, which the job has not cleared yet.
        let key = |commission: &str, matures_at: chrono::DateTime<chrono::Utc>| {
            let day = matures_at
                .max(event.recorded_at())
                .format("%Y-%m-%d")
                .to_string();
            (
                day,
                format!("{}#{tenant}#{commission}", time_key(matures_at)),
            )
        };
        if let EventBody::CommissionRecorded(e) = event.body() {
            {
                let (day, due) = key(e.commission_id.as_str(), e.matures_at);
                self.client
                    .put_item()
                    .table_name(&self.tables.maturities)
                    .item("day", s(day))
                    .item("due", s(due))
                    .item("tenant_id", s(tenant))
                    .item("commission_id", s(e.commission_id.as_str()))
                    .send()
                    .await
                    .map_err(|e| sdk("put maturity", e))?;
            }
        }
        Ok(())
    }

    /// Keeps the latest payout profile snapshot of an affiliate beside its
    /// balances (sort key `#profile`), never replacing a newer one with an
    /// older redelivery.
    async fn keep_profile(
        &self,
        stored: &StoredEvent,
        event: &ledger_domain::Event,
    ) -> Result<(), StoreError> {
        let ledger_domain::EventBody::PayoutProfileChanged(e) = event.body() else {
            return Ok(());
        };
        let owner = BalanceOwner::Affiliate {
            tenant_id: event.tenant_id().clone(),
            affiliate_id: e.affiliate_id.clone(),
        };
        let json = serde_json::to_string(&e.profile).map_err(build)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.balances)
            .item("owner", s(owner.key()))
            .item("currency", s(PROFILE_ROW))
            .item("profile", s(json))
            .item(
                "profile_version",
                AttributeValue::N(stored.version.to_string()),
            )
            .condition_expression("attribute_not_exists(profile_version) OR profile_version <= :v")
            .expression_attribute_values(":v", AttributeValue::N(stored.version.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(sdk("put payout profile", e)),
        }
    }

    async fn write_journal_lines(
        &self,
        stored: &StoredEvent,
        event: &ledger_domain::Event,
        deltas: &BalanceDeltas,
    ) -> Result<usize, StoreError> {
        let mut lines = 0;
        for ((owner, currency), fields) in &deltas.rows {
            if !matches!(owner, BalanceOwner::Affiliate { .. }) {
                continue;
            }
            let json = serde_json::to_string(fields).map_err(build)?;
            // Sorted by when the event was recorded, then by stream and version.
            let line = format!(
                "{}#{}#{:012}",
                stored
                    .recorded_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                stored.stream,
                stored.version
            );
            self.client
                .put_item()
                .table_name(&self.tables.journal)
                .item("owner", s(format!("{}#{currency}", owner.key())))
                .item("line", s(line))
                .item("stream", s(stored.stream.as_str()))
                .item("version", AttributeValue::N(stored.version.to_string()))
                .item("event_type", s(&stored.event_type))
                .item("effective_at", s(event.effective_at().to_rfc3339()))
                .item("deltas", s(json))
                .send()
                .await
                .map_err(|e| sdk("put journal line", e))?;
            lines += 1;
        }
        Ok(lines)
    }

    /// Applies units in one transaction, dropping those a previous delivery
    /// applied, with bounded retries on contention.
    async fn apply_units(
        &self,
        units: &[Unit],
        report: &mut DynamoProjectionReport,
    ) -> Result<(), StoreError> {
        let mut live: Vec<&Unit> = units.iter().collect();
        for attempt in 0..WRITE_ATTEMPTS_MAX {
            if live.is_empty() {
                return Ok(());
            }
            let mut rows: BTreeMap<(String, &'static str), FieldDeltas> = BTreeMap::new();
            for unit in &live {
                for (key, fields) in &unit.rows {
                    let slot = rows.entry(key.clone()).or_default();
                    for (field, delta) in fields {
                        *slot.entry(field).or_insert(0) += delta;
                    }
                }
            }
            let mut items = Vec::with_capacity(live.len() + rows.len());
            for unit in &live {
                let put = Put::builder()
                    .table_name(&self.tables.projected)
                    .item("id", s(&unit.guard_id))
                    .condition_expression("attribute_not_exists(id)")
                    .build()
                    .map_err(build)?;
                items.push(TransactWriteItem::builder().put(put).build());
            }
            for ((owner, currency), fields) in &rows {
                let mut names = HashMap::new();
                let mut values = HashMap::new();
                let mut adds = Vec::new();
                for (i, (field, delta)) in fields.iter().enumerate() {
                    names.insert(format!("#f{i}"), (*field).to_owned());
                    values.insert(format!(":v{i}"), AttributeValue::N(delta.to_string()));
                    adds.push(format!("#f{i} :v{i}"));
                }
                let update = Update::builder()
                    .table_name(&self.tables.balances)
                    .key("owner", s(owner))
                    .key("currency", s(*currency))
                    .update_expression(format!("ADD {}", adds.join(", ")))
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .map_err(build)?;
                items.push(TransactWriteItem::builder().update(update).build());
            }
            match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => {
                    report.transactions += 1;
                    report.balance_writes += rows.len();
                    return Ok(());
                }
                Err(SdkError::ServiceError(e)) => {
                    let err = e.err();
                    if let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(cancel) = err {
                        let reasons = cancel.cancellation_reasons();
                        let done: BTreeSet<usize> = reasons
                            .iter()
                            .take(live.len())
                            .enumerate()
                            .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                            .map(|(i, _)| i)
                            .collect();
                        if !done.is_empty() {
                            report.already_projected += done.len();
                            live = live.into_iter().enumerate().filter(|(i, _)| !done.contains(i)).map(|(_, u)| u).collect();
                            continue;
                        }
                        backoff(attempt).await;
                        continue;
                    }
                    if crate::is_throttling(err.code()) {
                        backoff(attempt).await;
                        continue;
                    }
                    return Err(StoreError::Unavailable(format!(
                        "project: {}",
                        DisplayErrorContext(&e.into_err())
                    )));
                }
                Err(e) => return Err(sdk("project", e)),
            }
        }
        Err(StoreError::Busy {
            attempts: WRITE_ATTEMPTS_MAX,
            detail: "projection transaction kept being cancelled".to_owned(),
        })
    }

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

fn time_key(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
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
                number(item, "available"),
                number(item, "receivable"),
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
