//! `ledger-admin`: what the people who run the ledger need without writing
//! code. The embedded store (`--data-dir`, default `data/`) by default;
//! DynamoDB with `--aws-endpoint URL` (an emulator) or `--aws` (the account
//! in the environment), tables `--table-prefix`.
//!
//! Every command that changes something explains itself with `--dry-run`,
//! refuses what is ambiguous or dangerous without an explicit flag, and
//! exits non-zero with a message on any error (2 for a refused or invalid
//! request, 1 for a failure or a ledger that does not verify).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use event_store::{Cursor, EventStore, LedgerReads, StreamId};
use event_store_dynamodb::DynamoEventStore;
use event_store_dynamodb::projection::DynamoProjection;
use event_store_dynamodb::table_scan::{TABLE_SCAN_PAGE_MAX, TABLE_SCAN_SEGMENTS_MAX, TableScan};
use indicatif::{ProgressBar, ProgressStyle};
use ledger_domain::events::{AggregateRef, EventBody, stream_name};
use ledger_domain::projection::{BalanceDeltas, BalanceOwner, DRAFTS_ROW};
use ledger_domain::{AffiliateId, PayoutBatchId, TenantId, journal_entry};
use local_stack::Backend;

#[derive(Parser)]
#[command(
    name = "ledger-admin",
    about = "Operate the affiliate ledger: tokens, replay, verify, show, dead letters"
)]
struct Cli {
    /// The embedded store's data directory.
    #[arg(long, default_value = "data", global = true)]
    data_dir: PathBuf,
    /// DynamoDB at this endpoint (an emulator) instead of the embedded store.
    #[arg(long, global = true)]
    aws_endpoint: Option<String>,
    /// DynamoDB of the AWS account and region in the environment.
    #[arg(long, global = true, conflicts_with = "aws_endpoint")]
    aws: bool,
    /// The DynamoDB tables' name prefix.
    #[arg(long, default_value = "ledger-", global = true)]
    table_prefix: String,
    /// The DynamoDB projection tables' name prefix, when not --table-prefix
    /// (to rebuild into fresh tables; they must exist).
    #[arg(long, global = true)]
    projection_prefix: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mint a development token of the local stack's issuer.
    Token {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        affiliate: Option<String>,
        #[arg(long)]
        subject: Option<String>,
    },
    /// Project the events into the ledger (journal and balances), from where
    /// the projection stopped; resumable at any point.
    Replay {
        /// Clear the projection first and rebuild it from the first event
        /// (every tenant's balances are gone until the replay ends).
        #[arg(long)]
        from_scratch: bool,
        /// Confirms --from-scratch.
        #[arg(long)]
        yes: bool,
        /// Say what would be done, do nothing.
        #[arg(long)]
        dry_run: bool,
        /// Events per step (one transaction each on the embedded store).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Stop after about this many events (run again to go on).
        #[arg(long)]
        max_events: Option<u64>,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Prove the ledger: the trial balance of every tenant and currency is
    /// zero, and balances rebuilt from the events equal the stored ones.
    Verify {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Show one affiliate or one payout batch.
    Show {
        #[command(subcommand)]
        what: Show,
    },
    /// Messages that exhausted their retries: list them, re-drive them.
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetters,
    },
}

#[derive(Subcommand)]
enum Show {
    /// Balances in every currency and the journal.
    Affiliate {
        #[arg(long)]
        tenant: String,
        affiliate: String,
        /// Only this currency's journal.
        #[arg(long)]
        currency: Option<String>,
        /// Journal lines shown per currency.
        #[arg(long, default_value_t = 50)]
        lines: usize,
    },
    /// The batch's state and each item's history.
    Batch {
        #[arg(long)]
        tenant: String,
        batch: String,
    },
}

/// Where DynamoDB events are read from.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Source {
    /// The events table's stream (it keeps 24 hours of records).
    Stream,
    /// The events table itself: a paged, parallel scan of the whole history.
    Table,
}

#[derive(clap::Args, Clone, Copy)]
struct SourceArgs {
    /// On DynamoDB: read the events from the table's stream, or the table.
    #[arg(long, value_enum, default_value_t = Source::Stream)]
    source: Source,
    /// With --source table: the scan's parallel segments.
    #[arg(long, default_value_t = 4)]
    segments: u32,
}

#[derive(Clone, Copy, ValueEnum)]
enum Queue {
    Commissions,
    Dispatch,
}

impl Queue {
    fn path(self) -> &'static str {
        match self {
            Queue::Commissions => "commissions",
            Queue::Dispatch => "dispatch",
        }
    }
}

#[derive(clap::Args)]
struct QueueArgs {
    #[arg(long, value_enum)]
    queue: Queue,
    #[arg(long)]
    tenant: String,
    /// The local stack (embedded default).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    stack_url: String,
    /// An SQS dead-letter queue URL instead of the local stack.
    #[arg(long)]
    sqs_dead_letter_url: Option<String>,
}

#[derive(Subcommand)]
enum DeadLetters {
    List {
        #[command(flatten)]
        queue: QueueArgs,
    },
    /// Move dead letters back to their queue (safe: ingest is idempotent by
    /// key, dispatch asks the processor before paying).
    Redrive {
        #[command(flatten)]
        queue: QueueArgs,
        /// The messages to move (repeatable).
        #[arg(long = "message-id")]
        message_ids: Vec<String>,
        /// Every dead letter of the tenant: must be said explicitly.
        #[arg(long, conflicts_with = "message_ids")]
        all: bool,
        /// With SQS: the queue to move them to.
        #[arg(long)]
        sqs_target_url: Option<String>,
        #[arg(long)]
        dry_run: bool,
    },
}

/// A refused or invalid request (exit 2), or a failure (exit 1).
enum Failure {
    Refused(String),
    Failed(String),
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::Failed(e.to_string())
}

fn refused(e: impl std::fmt::Display) -> Failure {
    Failure::Refused(e.to_string())
}

async fn backend(cli: &Cli) -> Result<Backend, Failure> {
    let backend = store_backend(cli).await?;
    match (backend, &cli.projection_prefix) {
        (backend, None) => Ok(backend),
        (Backend::Aws { store, .. }, Some(prefix)) => {
            let projection = event_store_dynamodb::projection::DynamoProjection::new(
                store.client().clone(),
                event_store_dynamodb::projection::ProjectionTables::with_prefix(prefix),
            );
            Ok(Backend::Aws { store, projection })
        }
        (Backend::Embedded(_), Some(_)) => Err(refused(
            "--projection-prefix is for DynamoDB (--aws-endpoint or --aws)",
        )),
    }
}

/// Refuses `--source table` on the embedded store (which always reads its
/// events table).
fn check_source(backend: &Backend, source: SourceArgs) -> Result<(), Failure> {
    if source.source == Source::Table && matches!(backend, Backend::Embedded(_)) {
        return Err(refused(
            "--source table is for DynamoDB: the embedded store always reads its events table",
        ));
    }
    if source.segments == 0 || source.segments > TABLE_SCAN_SEGMENTS_MAX {
        return Err(refused(format!(
            "--segments must be 1 to {TABLE_SCAN_SEGMENTS_MAX}"
        )));
    }
    Ok(())
}

async fn store_backend(cli: &Cli) -> Result<Backend, Failure> {
    if let Some(endpoint) = &cli.aws_endpoint {
        let config = aws_emulator::sdk_config_for(endpoint);
        return Backend::aws(&config, &cli.table_prefix, false)
            .await
            .map_err(failed);
    }
    if cli.aws {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        return Backend::aws(&config, &cli.table_prefix, false)
            .await
            .map_err(failed);
    }
    let path = local_stack::database_path(&cli.data_dir);
    if !path.exists() {
        return Err(refused(format!(
            "{} does not exist: no embedded ledger here (use --data-dir, --aws-endpoint or --aws)",
            path.display()
        )));
    }
    Ok(Backend::Embedded(
        event_store_sqlite::SqliteEventStore::open(&path).map_err(failed)?,
    ))
}

fn tenant(value: &str) -> Result<TenantId, Failure> {
    TenantId::new(value).map_err(|e| refused(format!("--tenant: {e}")))
}

fn progress(len: Option<u64>) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let template = if len.is_some() {
        "{bar:40} {pos}/{len} events  {per_sec}  ETA {eta}"
    } else {
        "{spinner} {pos} events  {per_sec}"
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The CLI's own checkpoint when replaying into DynamoDB.
const AWS_REPLAY_CHECKPOINT: &str = "admin-replay";
/// The CLI's checkpoint when replaying from a scan of the events table.
const AWS_TABLE_REPLAY_CHECKPOINT: &str = "admin-replay-table";

async fn replay(
    backend: &Backend,
    from_scratch: bool,
    yes: bool,
    dry_run: bool,
    batch: usize,
    max_events: Option<u64>,
    source: SourceArgs,
) -> Result<(), Failure> {
    if batch == 0 || batch > event_store_sqlite::projection::PROJECTION_BATCH_MAX {
        return Err(refused(format!(
            "--batch must be 1 to {}",
            event_store_sqlite::projection::PROJECTION_BATCH_MAX
        )));
    }
    if from_scratch && !yes && !dry_run {
        return Err(refused(
            "--from-scratch clears the projection of every tenant until the replay ends: add --yes to do it, or --dry-run to see what it would do",
        ));
    }
    match backend {
        Backend::Embedded(store) => {
            let (total, done) = store.projection_progress().await.map_err(failed)?;
            let start = if from_scratch { 0 } else { done };
            if dry_run {
                if from_scratch {
                    println!(
                        "would clear the projection (journal lines, balances, maturities, profiles, draft counters) and its checkpoint"
                    );
                }
                println!(
                    "would project {} events (positions {} to {total})",
                    total - start,
                    start + 1
                );
                return Ok(());
            }
            if from_scratch {
                store.reset_ledger_projection().await.map_err(failed)?;
                println!("projection cleared");
            }
            let bar = progress(Some(total - start));
            let mut projected = 0u64;
            loop {
                if max_events.is_some_and(|m| projected >= m) {
                    break;
                }
                let report = store.project_ledger(batch).await.map_err(failed)?;
                if report.events == 0 {
                    break;
                }
                projected += report.events as u64;
                bar.inc(report.events as u64);
            }
            bar.finish_and_clear();
            let (total, done) = store.projection_progress().await.map_err(failed)?;
            println!(
                "projected {projected} events; the projection is at position {done} of {total}"
            );
            if done < total {
                println!("stopped before the end: run replay again to go on from position {done}");
            }
            Ok(())
        }
        Backend::Aws { store, projection } if source.source == Source::Table => {
            replay_from_table(
                store,
                projection,
                from_scratch,
                dry_run,
                batch,
                max_events,
                source.segments,
            )
            .await
        }
        Backend::Aws { store, projection } => {
            let mut cursor = if from_scratch {
                None
            } else {
                store
                    .load_checkpoint(AWS_REPLAY_CHECKPOINT)
                    .await
                    .map_err(failed)?
            };
            if dry_run {
                println!(
                    "would read the events table's stream (24 hours) from {} and project what the stream projector has not (each event is projected once; already projected events are skipped)",
                    cursor
                        .as_ref()
                        .map_or("the first event".to_owned(), |c| format!("cursor {}", c.0))
                );
                return Ok(());
            }
            let bar = progress(None);
            let mut read = 0u64;
            let mut newly = 0u64;
            loop {
                if max_events.is_some_and(|m| read >= m) {
                    break;
                }
                let page = store
                    .read_all(cursor.as_ref(), batch.min(event_store::READ_LIMIT_MAX))
                    .await
                    .map_err(failed)?;
                if page.events.is_empty() {
                    break;
                }
                let report = projection
                    .project(&page.events)
                    .await
                    .map_err(|f| failed(f.error))?;
                read += page.events.len() as u64;
                newly += (report.events - report.already_projected) as u64;
                bar.inc(page.events.len() as u64);
                store
                    .save_checkpoint(AWS_REPLAY_CHECKPOINT, &page.next)
                    .await
                    .map_err(failed)?;
                cursor = Some(page.next);
            }
            bar.finish_and_clear();
            println!(
                "read {read} events, {newly} newly projected; checkpoint {AWS_REPLAY_CHECKPOINT} saved (run again to go on)"
            );
            Ok(())
        }
    }
}

/// Replays from a scan of the events table, through the stream projector's
/// code (exactly once per event: what is projected already is skipped),
/// saving the scan's position after each round so a run resumes it.
async fn replay_from_table(
    store: &DynamoEventStore,
    projection: &DynamoProjection,
    from_scratch: bool,
    dry_run: bool,
    batch: usize,
    max_events: Option<u64>,
    segments: u32,
) -> Result<(), Failure> {
    let saved = if from_scratch {
        None
    } else {
        store
            .load_checkpoint(AWS_TABLE_REPLAY_CHECKPOINT)
            .await
            .map_err(failed)?
    };
    let mut scan = match &saved {
        Some(cursor) => TableScan::from_cursor(cursor).map_err(failed)?,
        None => TableScan::new(segments).map_err(failed)?,
    };
    if scan.is_done() {
        println!(
            "the scan of the events table is complete (checkpoint {AWS_TABLE_REPLAY_CHECKPOINT}); later events are the stream projector's: --from-scratch scans again"
        );
        return Ok(());
    }
    if dry_run {
        println!(
            "would scan the events table in {} segments {} and project what is not projected yet (each event is projected once; already projected events are skipped)",
            scan.total_segments(),
            if saved.is_some() {
                "from where the last scan stopped"
            } else {
                "from the start"
            }
        );
        return Ok(());
    }
    let bar = progress(None);
    let mut read = 0u64;
    let mut newly = 0u64;
    let page = batch.min(TABLE_SCAN_PAGE_MAX);
    while !scan.is_done() {
        if max_events.is_some_and(|m| read >= m) {
            break;
        }
        let events = store
            .scan_events_table(&mut scan, page)
            .await
            .map_err(failed)?;
        if !events.is_empty() {
            let report = projection
                .project(&events)
                .await
                .map_err(|f| failed(f.error))?;
            read += events.len() as u64;
            newly += (report.events - report.already_projected) as u64;
            bar.inc(events.len() as u64);
        }
        store
            .save_checkpoint(AWS_TABLE_REPLAY_CHECKPOINT, &scan.to_cursor())
            .await
            .map_err(failed)?;
    }
    bar.finish_and_clear();
    println!("read {read} events from the events table, {newly} newly projected");
    if scan.is_done() {
        println!("the scan of the events table is complete");
    } else {
        println!(
            "stopped before the end: checkpoint {AWS_TABLE_REPLAY_CHECKPOINT} saved, run replay --source table again to go on"
        );
    }
    Ok(())
}

async fn all_events(
    backend: &Backend,
    source: SourceArgs,
) -> Result<Vec<event_store::StoredEvent>, Failure> {
    if let (Backend::Aws { store, .. }, Source::Table) = (backend, source.source) {
        let mut scan = TableScan::new(source.segments).map_err(failed)?;
        let mut out = Vec::new();
        while !scan.is_done() {
            out.extend(
                store
                    .scan_events_table(&mut scan, TABLE_SCAN_PAGE_MAX)
                    .await
                    .map_err(failed)?,
            );
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = match backend {
            Backend::Embedded(s) => {
                s.read_all(cursor.as_ref(), event_store::READ_LIMIT_MAX)
                    .await
            }
            Backend::Aws { store, .. } => {
                store
                    .read_all(cursor.as_ref(), event_store::READ_LIMIT_MAX)
                    .await
            }
        }
        .map_err(failed)?;
        if page.events.is_empty() {
            return Ok(out);
        }
        out.extend(page.events);
        cursor = Some(page.next);
    }
}

async fn tenant_rows<R: LedgerReads + ?Sized>(
    reads: &R,
    tenant_id: &TenantId,
) -> Result<Vec<event_store::TenantRow>, Failure> {
    let mut rows = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = reads
            .tenant_rows(
                tenant_id,
                after.as_deref(),
                event_store::TENANT_ROWS_PAGE_MAX,
            )
            .await
            .map_err(failed)?;
        rows.extend(page.rows);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(rows),
        }
    }
}

type Row = (String, String);

/// The fields of balance rows that hold money (rows on DynamoDB carry
/// bookkeeping numbers beside them).
fn is_balance_field(name: &str) -> bool {
    reporting::trial::ACCOUNT_FIELDS.contains(&name)
        || name == ledger_domain::projection::PAID_OUT_FIELD
}

async fn verify(
    backend: &Backend,
    only: Option<TenantId>,
    source: SourceArgs,
) -> Result<bool, Failure> {
    if let Backend::Embedded(store) = backend {
        let (total, done) = store.projection_progress().await.map_err(failed)?;
        if done < total {
            return Err(refused(format!(
                "the projection is {} events behind the events: run `ledger-admin replay` first",
                total - done
            )));
        }
    }
    let events = all_events(backend, source).await?;
    let mut fold = BalanceDeltas::default();
    let mut tenants = BTreeSet::new();
    for stored in &events {
        let event = stored.decode().map_err(failed)?;
        if only.as_ref().is_some_and(|t| t != event.tenant_id()) {
            continue;
        }
        tenants.insert(event.tenant_id().clone());
        let entry = journal_entry(&event)
            .map_err(|e| failed(format!("{}@{}: {e}", stored.stream, stored.version)))?;
        fold.add(&entry).map_err(failed)?;
    }
    if let Some(t) = &only {
        tenants.insert(t.clone());
    }
    let mut expected: BTreeMap<Row, BTreeMap<String, i64>> = BTreeMap::new();
    for ((owner, currency), fields) in &fold.rows {
        if *currency == DRAFTS_ROW {
            continue;
        }
        let nonzero: BTreeMap<String, i64> = fields
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        if !nonzero.is_empty() {
            expected.insert((owner.key(), (*currency).to_owned()), nonzero);
        }
    }
    let mut ok = true;
    let mut differences = 0;
    for tenant_id in &tenants {
        let (rows, trial) = match backend {
            Backend::Embedded(s) => (
                tenant_rows(s, tenant_id).await?,
                reporting::trial::trial_balance(s, tenant_id).await,
            ),
            Backend::Aws { projection, .. } => (
                tenant_rows(projection, tenant_id).await?,
                reporting::trial::trial_balance(projection, tenant_id).await,
            ),
        };
        for line in trial.map_err(failed)? {
            println!(
                "trial balance {tenant_id} {}: debits {} credits {} over {} rows: {}",
                line.currency,
                line.debits_minor,
                line.credits_minor,
                line.rows,
                if line.balanced {
                    "balanced"
                } else {
                    "DOES NOT BALANCE"
                }
            );
            ok &= line.balanced;
        }
        let mut stored: BTreeMap<Row, BTreeMap<String, i64>> = BTreeMap::new();
        for row in rows {
            let fields: BTreeMap<String, i64> = row
                .fields
                .into_iter()
                .filter(|(k, v)| *v != 0 && is_balance_field(k))
                .collect();
            if !fields.is_empty() {
                stored.insert((row.owner.key(), row.currency), fields);
            }
        }
        let prefix = format!("{tenant_id}/");
        let keys: BTreeSet<&Row> = stored
            .keys()
            .chain(expected.keys().filter(|(o, _)| o.starts_with(&prefix)))
            .collect();
        let empty = BTreeMap::new();
        for key in keys {
            let (have, want) = (
                stored.get(key).unwrap_or(&empty),
                expected.get(key).unwrap_or(&empty),
            );
            let fields: BTreeSet<&String> = have.keys().chain(want.keys()).collect();
            for field in fields {
                let (h, w) = (
                    have.get(field).copied().unwrap_or(0),
                    want.get(field).copied().unwrap_or(0),
                );
                if h != w {
                    differences += 1;
                    println!(
                        "DIFFERENCE {} {} {field}: stored {h}, rebuilt from the events {w}",
                        key.0, key.1
                    );
                }
            }
        }
    }
    println!(
        "{} events of {} tenants folded; {differences} differences between stored and rebuilt balances",
        events.len(),
        tenants.len()
    );
    Ok(ok && differences == 0)
}

async fn show_affiliate<R: LedgerReads + ?Sized>(
    reads: &R,
    tenant_id: TenantId,
    affiliate: &str,
    currency: Option<&str>,
    lines: usize,
) -> Result<(), Failure> {
    let affiliate_id =
        AffiliateId::new(affiliate).map_err(|e| refused(format!("affiliate: {e}")))?;
    if lines == 0 || lines > 500 {
        return Err(refused("--lines must be 1 to 500"));
    }
    let owner = BalanceOwner::Affiliate {
        tenant_id,
        affiliate_id,
    };
    let balances = reads.balances(&owner).await.map_err(failed)?;
    if balances.is_empty() {
        println!("{}: no balances", owner.key());
        return Ok(());
    }
    println!("{}", owner.key());
    println!(
        "{:<8} {:>14} {:>14} {:>14} {:>14} {:>14}",
        "currency", "pending", "available", "reserved", "receivable", "paid_out"
    );
    for (c, fields) in &balances {
        let f = |name: &str| fields.get(name).copied().unwrap_or(0);
        // Stored signs (debit positive); liabilities shown as owed.
        println!(
            "{c:<8} {:>14} {:>14} {:>14} {:>14} {:>14}",
            -f("pending"),
            -f("available"),
            -f("reserved"),
            f("receivable"),
            f("paid_out")
        );
    }
    println!("(minor units; pending, available and reserved are owed to the affiliate)");
    for (c, _) in balances
        .iter()
        .filter(|(c, _)| currency.is_none_or(|want| want == c))
    {
        let page = reads
            .journal(&owner, c, None, lines)
            .await
            .map_err(failed)?;
        println!(
            "\njournal {c} (oldest first, {} lines{})",
            page.lines.len(),
            if page.next.is_some() { ", more" } else { "" }
        );
        for line in page.lines {
            let changes: Vec<String> = line
                .deltas
                .iter()
                .map(|(k, v)| format!("{k} {v:+}"))
                .collect();
            println!(
                "  {} {:<26} {}@{}  {}",
                line.effective_at,
                line.event_type,
                line.stream,
                line.version,
                changes.join(", ")
            );
        }
    }
    Ok(())
}

async fn show_batch<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: TenantId,
    batch: &str,
) -> Result<(), Failure> {
    let batch_id = PayoutBatchId::new(batch).map_err(|e| refused(format!("batch: {e}")))?;
    let stream = StreamId::new(stream_name(
        &tenant_id,
        AggregateRef::PayoutBatch(&batch_id),
    ))
    .map_err(failed)?;
    let events = ledger_app::load(store, &stream).await.map_err(failed)?;
    let batch = ledger_domain::payout::PayoutBatch::from_events(&events);
    let Some(state) = batch.state() else {
        return Err(refused(format!(
            "no payout batch {batch_id} in tenant {tenant_id}"
        )));
    };
    println!(
        "{stream}: {:?}, drafted by {}, {} events",
        state.status,
        state.maker,
        events.len()
    );
    for item in &state.items {
        let d = &item.drafted;
        println!(
            "\n{} {} {} {} via {}: {:?}",
            d.item_id,
            d.affiliate_id,
            d.amount.amount(),
            d.amount.currency().code(),
            d.processor.as_str(),
            item.status
        );
        for e in &events {
            let detail = match e.body() {
                EventBody::PayoutBatchDrafted(_) => Some("drafted".to_owned()),
                EventBody::PayoutBatchApproved(_) => Some("batch approved".to_owned()),
                EventBody::PayoutBatchRejected(r) => Some(format!("batch rejected: {}", r.reason)),
                EventBody::PayoutItemSubmitted(s) if s.item_id == d.item_id => Some(format!(
                    "submitted, reference {}",
                    s.processor_reference.as_deref().unwrap_or("-")
                )),
                EventBody::PayoutItemPaid(o)
                | EventBody::PayoutItemFailed(o)
                | EventBody::PayoutItemReturned(o)
                | EventBody::PayoutItemUnclaimed(o)
                    if o.item_id == d.item_id =>
                {
                    Some(format!(
                        "{} (money {:?}){}{}",
                        e.type_name(),
                        o.movement,
                        o.reason
                            .as_deref()
                            .map(|r| format!(", reason: {r}"))
                            .unwrap_or_default(),
                        o.processor_event_id
                            .as_deref()
                            .map(|r| format!(", processor event {r}"))
                            .unwrap_or_default()
                    ))
                }
                _ => None,
            };
            if let Some(detail) = detail {
                println!(
                    "  {} {:<10} {detail}",
                    e.recorded_at().to_rfc3339(),
                    e.actor().id
                );
            }
        }
    }
    Ok(())
}

async fn dead_letters(cli: &Cli, action: &DeadLetters) -> Result<(), Failure> {
    let (queue, dry_run) = match action {
        DeadLetters::List { queue } => (queue, true),
        DeadLetters::Redrive { queue, dry_run, .. } => (queue, *dry_run),
    };
    let tenant_id = tenant(&queue.tenant)?;
    if let Some(dlq) = &queue.sqs_dead_letter_url {
        return sqs_dead_letters(cli, action, dlq, dry_run).await;
    }
    let key = local_stack::signing_key(&cli.data_dir).map_err(failed)?;
    let token = local_stack::mint_token(&key, tenant_id.as_str(), "admin", "ledger-admin", None)
        .map_err(failed)?;
    let base = format!(
        "{}/local/queues/{}/dead-letters",
        queue.stack_url.trim_end_matches('/'),
        queue.queue.path()
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(failed)?;
    let listed: serde_json::Value = http
        .get(&base)
        .bearer_auth(&token)
        .send()
        .await
        .map_err(|e| failed(format!("the local stack at {}: {e}", queue.stack_url)))?
        .error_for_status()
        .map_err(failed)?
        .json()
        .await
        .map_err(failed)?;
    let letters = listed["dead_letters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let DeadLetters::Redrive {
        message_ids, all, ..
    } = action
    else {
        println!(
            "{} dead letters in {} for {tenant_id}",
            letters.len(),
            queue.queue.path()
        );
        for letter in &letters {
            println!("{letter}");
        }
        return Ok(());
    };
    if message_ids.is_empty() && !all {
        return Err(refused(
            "name the messages with --message-id, or pass --all to re-drive every dead letter of the tenant",
        ));
    }
    let chosen: Vec<&serde_json::Value> = letters
        .iter()
        .filter(|l| *all || message_ids.iter().any(|id| l["message_id"] == id.as_str()))
        .collect();
    let unknown: Vec<&String> = message_ids
        .iter()
        .filter(|id| !letters.iter().any(|l| l["message_id"] == id.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(refused(format!(
            "not dead letters of {tenant_id}: {unknown:?}"
        )));
    }
    if dry_run {
        println!(
            "would move {} dead letters back to {}:",
            chosen.len(),
            queue.queue.path()
        );
        for letter in chosen {
            println!("  {}", letter["message_id"].as_str().unwrap_or_default());
        }
        return Ok(());
    }
    let body = if *all {
        serde_json::json!({"all": true})
    } else {
        serde_json::json!({"message_ids": message_ids})
    };
    let moved: serde_json::Value = http
        .post(format!("{base}/redrive"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .map_err(failed)?
        .error_for_status()
        .map_err(failed)?
        .json()
        .await
        .map_err(failed)?;
    println!(
        "moved back to {}: {}",
        queue.queue.path(),
        moved["redriven"]
    );
    Ok(())
}

async fn sqs_dead_letters(
    cli: &Cli,
    action: &DeadLetters,
    dlq: &str,
    dry_run: bool,
) -> Result<(), Failure> {
    let config = match &cli.aws_endpoint {
        Some(endpoint) => aws_emulator::sdk_config_for(endpoint),
        None => aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
    };
    let sqs = aws_sdk_sqs::Client::new(&config);
    // Received with a short visibility timeout: listed messages reappear.
    let mut seen = BTreeMap::new();
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| failed(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            seen.insert(m.message_id().unwrap_or_default().to_owned(), m.clone());
        }
    }
    let DeadLetters::Redrive {
        message_ids,
        all,
        sqs_target_url,
        ..
    } = action
    else {
        println!(
            "{} dead letters in {dlq} (hidden for 30 s by this listing)",
            seen.len()
        );
        for (id, m) in &seen {
            println!("{id} {}", m.body().unwrap_or_default());
        }
        return Ok(());
    };
    if message_ids.is_empty() && !all {
        return Err(refused(
            "name the messages with --message-id, or pass --all to re-drive the whole queue",
        ));
    }
    let Some(target) = sqs_target_url else {
        return Err(refused("--sqs-target-url is required to re-drive from SQS"));
    };
    let chosen: Vec<_> = seen
        .iter()
        .filter(|(id, _)| *all || message_ids.contains(id))
        .collect();
    if dry_run {
        println!(
            "would move {} messages from {dlq} to {target}",
            chosen.len()
        );
        return Ok(());
    }
    for (id, m) in chosen {
        sqs.send_message()
            .queue_url(target)
            .message_body(m.body().unwrap_or_default())
            .set_message_attributes(m.message_attributes().cloned())
            .send()
            .await
            .map_err(|e| failed(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        sqs.delete_message()
            .queue_url(dlq)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await
            .map_err(|e| failed(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        println!("moved {id}");
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<bool, Failure> {
    match &cli.command {
        Command::Token {
            tenant: t,
            role,
            affiliate,
            subject,
        } => {
            tenant(t)?;
            let key = local_stack::signing_key(&cli.data_dir).map_err(failed)?;
            let token = local_stack::mint_token(
                &key,
                t,
                role,
                subject.as_deref().unwrap_or(role),
                affiliate.as_deref(),
            )
            .map_err(refused)?;
            println!("{token}");
            Ok(true)
        }
        Command::Replay {
            from_scratch,
            yes,
            dry_run,
            batch,
            max_events,
            source,
        } => {
            let backend = backend(&cli).await?;
            check_source(&backend, *source)?;
            replay(
                &backend,
                *from_scratch,
                *yes,
                *dry_run,
                *batch,
                *max_events,
                *source,
            )
            .await?;
            Ok(true)
        }
        Command::Verify { tenant: t, source } => {
            let only = t.as_deref().map(tenant).transpose()?;
            let backend = backend(&cli).await?;
            check_source(&backend, *source)?;
            verify(&backend, only, *source).await
        }
        Command::Show {
            what:
                Show::Affiliate {
                    tenant: t,
                    affiliate,
                    currency,
                    lines,
                },
        } => {
            let tenant_id = tenant(t)?;
            match backend(&cli).await? {
                Backend::Embedded(s) => {
                    show_affiliate(&s, tenant_id, affiliate, currency.as_deref(), *lines).await?
                }
                Backend::Aws { projection, .. } => {
                    show_affiliate(
                        &projection,
                        tenant_id,
                        affiliate,
                        currency.as_deref(),
                        *lines,
                    )
                    .await?
                }
            }
            Ok(true)
        }
        Command::Show {
            what: Show::Batch { tenant: t, batch },
        } => {
            let tenant_id = tenant(t)?;
            match backend(&cli).await? {
                Backend::Embedded(s) => show_batch(&s, tenant_id, batch).await?,
                Backend::Aws { store, .. } => show_batch(&store, tenant_id, batch).await?,
            }
            Ok(true)
        }
        Command::DeadLetters { action } => {
            dead_letters(&cli, action).await?;
            Ok(true)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    processors::install_crypto_provider();
    match run(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("ledger-admin: the ledger does not verify (see above)");
            ExitCode::from(1)
        }
        Err(Failure::Refused(message)) => {
            eprintln!("ledger-admin: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("ledger-admin: {message}");
            ExitCode::from(1)
        }
    }
}
