//! Projects 100,000 events of ONE affiliate (one tenant, one currency) on the
//! embedded store, in batches of 1,000, and prints the balance writes issued
//! per batch and the events projected per second, beside the rate of merely
//! reading and decoding the same events in the same run.
//!
//! Run: `cargo bench -p event-store-sqlite --bench projection` (EVENTS=n to change the size).

use std::collections::HashMap;
use std::time::Instant;

use event_store::{AppendRequest, EventStore, StreamId};
use event_store_sqlite::SqliteEventStore;
use ledger_domain::sample::mixed_events;
use ledger_domain::{Event, journal_entry};

const BATCH: usize = 1_000;

fn main() {
    let events_n: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let started = Instant::now();
    // One generated program, filtered to one tenant and currency, with one
    // affiliate per tenant: every kept event lands on acme/aff-0's EUR row.
    let mut generate = events_n * 6;
    let mut events: Vec<Event> = Vec::new();
    while events.len() < events_n {
        events = mixed_events(1, generate, 1)
            .into_iter()
            .filter(|e| e.tenant_id().as_str() == "acme")
            .filter(|e| {
                // Drafts also count the tenant's drafted batches on a row
                // of their own: left out, so every kept event lands on the
                // affiliate's and the tenant's EUR rows.
                journal_entry(e)
                    .map(|j| {
                        j.batch_drafted().is_none()
                            && j.postings()
                                .iter()
                                .all(|p| p.amount.currency().code() == "EUR")
                    })
                    .unwrap_or(false)
            })
            .collect();
        generate *= 2;
    }
    events.truncate(events_n);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteEventStore::open(dir.path().join("projection.sqlite")).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut versions: HashMap<StreamId, u64> = HashMap::new();
        let mut batch: Vec<AppendRequest> = Vec::new();
        for event in &events {
            let stream = StreamId::of(event).unwrap();
            // A transaction holds each stream once: flush before a repeat.
            if batch.len() == 50 || batch.iter().any(|r| r.stream == stream) {
                store
                    .append_transaction(std::mem::take(&mut batch))
                    .await
                    .unwrap();
            }
            let version = versions.entry(stream).or_insert(0);
            batch.push(AppendRequest::from_domain(*version, std::slice::from_ref(event)).unwrap());
            *version += 1;
        }
        if !batch.is_empty() {
            store.append_transaction(batch).await.unwrap();
        }
    });
    println!(
        "stored {} events of one affiliate (acme/aff-0, EUR) in {:.2?}",
        events.len(),
        started.elapsed()
    );

    // Baseline: read and decode the same events, batch by batch.
    let start = Instant::now();
    let read = runtime.block_on(async {
        let mut cursor = None;
        let mut n = 0;
        loop {
            let page = store.read_all(cursor.as_ref(), BATCH).await.unwrap();
            if page.events.is_empty() {
                break n;
            }
            for e in &page.events {
                std::hint::black_box(e.decode().unwrap());
            }
            n += page.events.len();
            cursor = Some(page.next);
        }
    });
    let read_seconds = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let (projected, batches, balance_writes, affiliate_row_writes_max) = runtime.block_on(async {
        let (mut projected, mut batches, mut writes, mut max_rows) = (0, 0, 0, 0);
        loop {
            let report = store.project_ledger(BATCH).await.unwrap();
            if report.events == 0 {
                break (projected, batches, writes, max_rows);
            }
            projected += report.events;
            batches += 1;
            writes += report.balance_writes;
            // Rows touched: the affiliate's and the tenant's own.
            max_rows = max_rows.max(report.balance_writes);
        }
    });
    let project_seconds = start.elapsed().as_secs_f64();
    assert_eq!(projected, events.len());
    assert_eq!(read, events.len());

    println!("| benchmark | events | batches | balance writes | per batch | events/s |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| projection of one hot affiliate (batches of {BATCH}) | {projected} | {batches} | {balance_writes} (affiliate row + tenant row) | {:.2} | {:.0} |",
        balance_writes as f64 / batches as f64,
        projected as f64 / project_seconds
    );
    println!(
        "| baseline: read and decode the same events | {read} | {batches} | 0 | 0 | {:.0} |",
        read as f64 / read_seconds
    );
    println!(
        "SUMMARY|balance writes per batch, hot affiliate|{} affiliate-row write(s) per batch, {:.0} events/s|read and decode: {:.0} events/s|<= 1 per (tenant, affiliate, currency) per batch|{}",
        affiliate_row_writes_max.saturating_sub(1),
        projected as f64 / project_seconds,
        read as f64 / read_seconds,
        if affiliate_row_writes_max <= 2 {
            "MET"
        } else {
            "MISSED"
        }
    );
    println!(
        "affiliate balance-row writes per batch: {}; target at most 1 per (tenant, affiliate, currency) per batch: {}",
        affiliate_row_writes_max.saturating_sub(1),
        if affiliate_row_writes_max <= 2 {
            "MET"
        } else {
            "MISSED"
        }
    );
}
