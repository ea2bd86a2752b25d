//! `replay`: projecting the events into the ledger, resumably.

use event_store::EventStore;
use event_store_dynamodb::DynamoEventStore;
use event_store_dynamodb::projection::DynamoProjection;
use event_store_dynamodb::table_scan::{TABLE_SCAN_PAGE_MAX, TableScan};
use indicatif::{ProgressBar, ProgressStyle};
use local_stack::Backend;

use crate::cli::{Source, SourceArgs};
use crate::failure::{Failure, failed, refused};

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

pub(crate) async fn replay(
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
