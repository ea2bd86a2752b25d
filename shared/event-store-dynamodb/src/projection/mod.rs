//! The ledger projection on DynamoDB, fed by the events table's stream.
//!
//! Tables:
//! - `{prefix}balances`: one item per (owner, currency) with one number
//!   attribute per account field (`pending`, `available`, ...);
//! - `{prefix}journal`: one item per (owner and currency, event), for an
//!   affiliate's paginated journal, spread over shards on a table created
//!   by this build (see `journal`);
//! - `{prefix}projected`: one guard item per projected event that writes no
//!   journal line (or per chunk of an event too large for one transaction).
//!
//! Exactly once, coalesced: a batch of events is packed into as few
//! `TransactWriteItems` as fit 100 items, each holding a conditional guard
//! put per event and ONE `ADD` update per balance item the events touch. An
//! event's guard is its first journal line when it has one (the line it
//! writes anyway; a separate guard item would bill two more units per
//! event), else an item of the guards table. A redelivered event fails its
//! guard's condition; the transaction is then retried without it. Its other
//! journal lines are deterministic puts written before the transaction, so
//! a retry rewrites them identically.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use event_store::{StoreError, StoredEvent, TRANSACTION_ITEMS_MAX};
use ledger_domain::projection::{BalanceOwner, EventPlan, FieldDeltas, PlannedProfile, plan};

mod backfill;
mod journal;
mod parked;
mod reads;
mod schedule;
mod tables;
mod tenant_shards;
mod units;
pub use backfill::index_balance_rows;
pub use journal::{JOURNAL_LAYOUT_KEY, JOURNAL_SHARDS, JournalLayout, mark_journal_sharded};
pub use parked::{PARKED_OWNER_SUFFIX, PARKED_ROW_PREFIX, RetryOutcome, parked_owner};
pub use schedule::{MATURITY_LOOKBACK_DAYS_MAX, mark_schedule_sharded};
pub use tables::create_projection_tables;
pub use tenant_shards::TENANT_TOTAL_SHARDS;
use tenant_shards::{row_item_key, tenant_total_keys};
pub use units::LINE_GUARD_ATTRIBUTE;
use units::{Guard, Unit, journal_owner, line_item, units};

/// The most puts one `BatchWriteItem` takes.
const BATCH_WRITE_ITEMS_MAX: usize = 25;

use crate::{WRITE_ATTEMPTS_MAX, backoff};

/// The balances table's index of each tenant's balance rows: key `tenant`,
/// sort key `owner`, keys only. Every balance row carries its `tenant`
/// (set by the projection's update, the same value each time), so the index
/// is written once per row, when the row is created, not on every balance
/// write; drafting and a tenant's statements query it instead of scanning
/// every tenant's rows, then read the rows themselves by key.
pub const TENANT_INDEX: &str = "tenant-rows";
/// The attribute a balance row's tenant is kept in, for [`TENANT_INDEX`].
pub const TENANT_ATTRIBUTE: &str = "tenant";

/// The partitions the maturity schedule is spread over, by a stable hash of
/// tenant and commission: key `day` holds `shard#n` (the attribute keeps
/// its name from when the schedule was kept by day). Each partition holds
/// its entries of every day sorted by the time they are due, so the maturing
/// run reads the earliest of each (8 queries) instead of walking days, and
/// no partition takes every tenant's maturities.
pub const MATURITY_SHARDS: u64 = 8;

/// Set on the schedule's cursor item of a table created with the sharded
/// schedule: it has no entries by day, so the maturing run reads only the
/// shards. A table from before keeps walking its days from the cursor too.
pub(crate) const MATURITY_SHARDED: &str = "sharded";

/// What every schedule partition key starts with: `shard#n`.
pub(crate) const MATURITY_SHARD_PREFIX: &str = "shard#";

/// The schedule partition `shard#n`.
pub(crate) fn maturity_shard(n: u64) -> String {
    format!("{MATURITY_SHARD_PREFIX}{n}")
}

/// The schedule partition of a commission.
pub(crate) fn maturity_partition(tenant: &str, commission: &str) -> String {
    maturity_shard(crate::stable_hash(&[tenant, commission]) % MATURITY_SHARDS)
}

/// Names of the projection's tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionTables {
    pub balances: String,
    pub journal: String,
    pub projected: String,
    /// Commissions in their hold period: key `day` (their shard,
    /// `shard#n`, see [`MATURITY_SHARDS`]; the day they mature on a table
    /// from before), sort key `due` (`matures_at#tenant#commission`).
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

impl ProjectionFailure {
    /// Whether projecting the same event again later may succeed: DynamoDB
    /// throttling or contention ([`StoreError::Busy`]) and every request
    /// that failed in the SDK, the network or the service
    /// ([`StoreError::Unavailable`]: also a missing table or a permission,
    /// which an operator fixes without touching the event). Not transient:
    /// an event that cannot be read or that the projection refuses
    /// ([`StoreError::CorruptEvent`]): it fails the same way every time.
    pub fn is_transient(&self) -> bool {
        self.error.is_retryable()
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn sdk(what: &str, e: impl std::error::Error) -> StoreError {
    StoreError::Unavailable(format!("{what}: {}", DisplayErrorContext(e)))
}

/// A conditional write's result, where a failed condition means there was
/// nothing to do.
fn unless_condition_failed<O, E, R>(
    result: Result<O, SdkError<E, R>>,
    what: &str,
) -> Result<(), StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(()),
        Err(SdkError::ServiceError(e))
            if e.err().code() == Some("ConditionalCheckFailedException") =>
        {
            Ok(())
        }
        Err(e) => Err(sdk(what, e)),
    }
}

fn build(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("dynamodb request could not be built: {e}"))
}

/// The sort key of an affiliate's payout profile item in the balances table.
pub const PROFILE_ROW: &str = "#profile";

/// The DynamoDB projector.
#[derive(Clone)]
pub struct DynamoProjection {
    client: Client,
    tables: ProjectionTables,
    /// The journal table's layout, once known (it never changes).
    journal_layout: std::sync::Arc<tokio::sync::OnceCell<JournalLayout>>,
}

impl DynamoProjection {
    pub fn new(client: Client, tables: ProjectionTables) -> Self {
        DynamoProjection {
            client,
            tables,
            journal_layout: Default::default(),
        }
    }

    /// Projects events delivered in stream order (per stream). Events
    /// already projected by an earlier delivery are skipped.
    ///
    /// What each event writes is the domain's [`plan`]; this only writes it:
    /// first the idempotent puts (journal lines and maturity entries, in
    /// batches of 25; profile snapshots, newest wins), then the balance
    /// deltas and draft counts in guarded transactions.
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
        // An unreadable or unpostable event stops the batch there: the
        // events before it are still projected (below), so the consumer can
        // report exactly that event and retry from it.
        let mut decoded = Vec::with_capacity(events.len());
        let mut stopped: Option<(usize, StoreError)> = None;
        for (index, stored) in events.iter().enumerate() {
            match stored.decode() {
                Ok(event) => decoded.push(event),
                Err(error) => {
                    stopped = Some((index, error));
                    break;
                }
            }
        }
        let batch = plan(
            events
                .iter()
                .zip(&decoded)
                .map(|(stored, event)| (stored.stream.as_str(), stored.version, event)),
        );
        if let Some((index, error)) = &batch.stopped {
            let stored = &events[*index];
            stopped = Some((
                *index,
                StoreError::CorruptEvent {
                    stream: stored.stream.to_string(),
                    version: stored.version,
                    reason: error.to_string(),
                },
            ));
        }
        let mut units = units(&batch.events);
        // The same event twice in one batch (a redelivery within it) is
        // one unit: a transaction may not write one item twice.
        let mut seen = BTreeSet::new();
        let before = units.len();
        units.retain(|u| {
            seen.insert(match &u.guard {
                Guard::Item(id) => id.clone(),
                Guard::Line => batch.events[u.event_index].guard(),
            })
        });
        report.already_projected += before - units.len();
        let line_guarded: BTreeSet<usize> = units
            .iter()
            .filter(|u| matches!(u.guard, Guard::Line))
            .map(|u| u.event_index)
            .collect();
        let layout = self
            .journal_layout_for_write()
            .await
            .map_err(|e| fail(0, e, report))?;
        self.write_idempotent(&batch.events, &line_guarded, layout, &mut report)
            .await
            .map_err(|e| fail(0, e, report))?;
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
            self.apply_units(&units[start..end], &batch.events, layout, &mut report)
                .await
                .map_err(|e| fail(first, e, report))?;
            start = end;
        }
        match stopped {
            None => Ok(report),
            Some((index, error)) => Err(fail(index, error, report)),
        }
    }

    /// The puts a redelivery rewrites identically: journal lines (except
    /// the first line of an event in `line_guarded`, which its transaction
    /// writes as its guard) and maturity entries (batched), and profile
    /// snapshots (conditional: an older one never replaces a newer one).
    async fn write_idempotent(
        &self,
        plans: &[EventPlan],
        line_guarded: &BTreeSet<usize>,
        layout: JournalLayout,
        report: &mut DynamoProjectionReport,
    ) -> Result<(), StoreError> {
        let mut puts: Vec<(&str, String, HashMap<String, AttributeValue>)> = Vec::new();
        for (index, event) in plans.iter().enumerate() {
            report.journal_lines += event.lines.len();
            let skip = usize::from(line_guarded.contains(&index));
            for line in event.lines.iter().skip(skip) {
                let item = line_item(line, layout);
                let key = format!(
                    "{}|{}",
                    layout.partition(&line.owner, line.currency, &line.stream),
                    line.key
                );
                puts.push((&self.tables.journal, key, item));
            }
            if let Some(m) = &event.maturity {
                let due = format!(
                    "{}#{}#{}",
                    m.due_key(),
                    m.tenant_id,
                    m.commission_id.as_str()
                );
                let day = maturity_partition(m.tenant_id.as_str(), m.commission_id.as_str());
                let item = HashMap::from([
                    ("day".to_owned(), s(&day)),
                    ("due".to_owned(), s(&due)),
                    ("tenant_id".to_owned(), s(m.tenant_id.as_str())),
                    ("commission_id".to_owned(), s(m.commission_id.as_str())),
                ]);
                puts.push((&self.tables.maturities, format!("{day}|{due}"), item));
            }
            if let Some(p) = &event.profile {
                self.keep_profile(p).await?;
            }
        }
        // One request may not put the same key twice (a redelivered event
        // in the same batch): keep the first.
        let mut seen = BTreeSet::new();
        puts.retain(|(table, key, _)| seen.insert((*table, key.clone())));
        for chunk in puts.chunks(BATCH_WRITE_ITEMS_MAX) {
            let mut requests: HashMap<String, Vec<WriteRequest>> = HashMap::new();
            for (table, _, item) in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .map_err(build)?;
                requests
                    .entry((*table).to_owned())
                    .or_default()
                    .push(WriteRequest::builder().put_request(put).build());
            }
            self.batch_write(requests).await?;
        }
        Ok(())
    }

    /// One `BatchWriteItem`, retrying what DynamoDB leaves unprocessed with
    /// backoff.
    async fn batch_write(
        &self,
        mut requests: HashMap<String, Vec<WriteRequest>>,
    ) -> Result<(), StoreError> {
        for attempt in 0..WRITE_ATTEMPTS_MAX {
            let out = self
                .client
                .batch_write_item()
                .set_request_items(Some(requests))
                .send()
                .await;
            match out {
                Ok(out) => match out.unprocessed_items {
                    Some(left) if left.values().any(|v| !v.is_empty()) => {
                        requests = left;
                        backoff(attempt).await;
                    }
                    _ => return Ok(()),
                },
                Err(SdkError::ServiceError(e)) if crate::is_throttling(e.err().code()) => {
                    return Err(StoreError::Busy {
                        attempts: attempt + 1,
                        detail: format!("batch write throttled: {}", DisplayErrorContext(e.err())),
                    });
                }
                Err(e) => return Err(sdk("batch write projection items", e)),
            }
        }
        Err(StoreError::Busy {
            attempts: WRITE_ATTEMPTS_MAX,
            detail: "projection puts kept being left unprocessed".to_owned(),
        })
    }

    /// Keeps the latest payout profile snapshot of an affiliate beside its
    /// balances (sort key `#profile`), never replacing a newer one with an
    /// older redelivery.
    async fn keep_profile(&self, planned: &PlannedProfile) -> Result<(), StoreError> {
        let json = planned.json().map_err(build)?;
        let version = AttributeValue::N(planned.version.to_string());
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.balances)
            .item("owner", s(planned.owner.key()))
            .item("currency", s(PROFILE_ROW))
            .item("profile", s(json))
            .item("profile_version", version.clone())
            .condition_expression("attribute_not_exists(profile_version) OR profile_version <= :v")
            .expression_attribute_values(":v", version)
            .send()
            .await;
        unless_condition_failed(result, "put payout profile")
    }

    /// Applies units in one transaction, dropping those a previous delivery
    /// applied, with bounded retries on contention.
    async fn apply_units(
        &self,
        units: &[Unit],
        plans: &[EventPlan],
        layout: JournalLayout,
        report: &mut DynamoProjectionReport,
    ) -> Result<(), StoreError> {
        let mut live: Vec<&Unit> = units.iter().collect();
        // Events whose first line a projector from before line guards wrote
        // ahead of a transaction that never committed: their line is
        // rewritten as the guard (see `line_guard_settled`).
        let mut repair: BTreeSet<usize> = BTreeSet::new();
        for attempt in 0..WRITE_ATTEMPTS_MAX {
            if live.is_empty() {
                return Ok(());
            }
            // A tenant's own rows go to one of its shards, another on each
            // attempt (a cancelled attempt may have met a concurrent
            // transaction on that shard).
            let salt =
                crate::stable_hash(&[&plans[live[0].event_index].guard(), &attempt.to_string()]);
            let mut rows: BTreeMap<(String, &'static str), FieldDeltas> = BTreeMap::new();
            for unit in &live {
                for ((owner, currency), fields) in &unit.rows {
                    let key = (row_item_key(owner, currency, salt), *currency);
                    let slot = rows.entry(key).or_default();
                    for (field, delta) in fields {
                        *slot.entry(field).or_insert(0) += delta;
                    }
                }
            }
            let mut items = Vec::with_capacity(live.len() + rows.len());
            for unit in &live {
                let put = match &unit.guard {
                    Guard::Item(id) => Put::builder()
                        .table_name(&self.tables.projected)
                        .item("id", s(id))
                        .condition_expression("attribute_not_exists(id)"),
                    Guard::Line => {
                        let line = plans[unit.event_index].lines.first().ok_or_else(|| {
                            StoreError::Unavailable(
                                "a unit guarded by its first journal line has no line".to_owned(),
                            )
                        })?;
                        let mut item = line_item(line, layout);
                        item.insert(LINE_GUARD_ATTRIBUTE.to_owned(), AttributeValue::Bool(true));
                        let put = Put::builder()
                            .table_name(&self.tables.journal)
                            .set_item(Some(item));
                        if repair.contains(&unit.event_index) {
                            put.condition_expression("attribute_not_exists(#guard)")
                                .expression_attribute_names("#guard", LINE_GUARD_ATTRIBUTE)
                        } else {
                            put.condition_expression("attribute_not_exists(#owner)")
                                .expression_attribute_names("#owner", "owner")
                        }
                    }
                };
                items.push(
                    TransactWriteItem::builder()
                        .put(put.build().map_err(build)?)
                        .build(),
                );
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
                // The row's tenant, for the tenant index: the same value on
                // every write, so the index is written only when the row is
                // created.
                let mut expression = format!("ADD {}", adds.join(", "));
                if let Some(tenant) = BalanceOwner::tenant_of_key(owner) {
                    names.insert("#tenant".to_owned(), TENANT_ATTRIBUTE.to_owned());
                    values.insert(":tenant".to_owned(), s(tenant));
                    expression.push_str(" SET #tenant = :tenant");
                }
                let update = Update::builder()
                    .table_name(&self.tables.balances)
                    .key("owner", s(owner))
                    .key("currency", s(*currency))
                    .update_expression(expression)
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
                        let failed: Vec<usize> = reasons
                            .iter()
                            .take(live.len())
                            .enumerate()
                            .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                            .map(|(i, _)| i)
                            .collect();
                        let mut done = BTreeSet::new();
                        for i in failed.iter().copied() {
                            let unit = live[i];
                            let settled = match unit.guard {
                                Guard::Item(_) => true,
                                Guard::Line => self.line_guard_settled(&plans[unit.event_index], layout).await?,
                            };
                            if settled {
                                done.insert(i);
                            } else {
                                repair.insert(unit.event_index);
                            }
                        }
                        if !failed.is_empty() {
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
}
