//! Appends 1,000,000 new-commission events with idempotency keys to the
//! embedded store, 100 per transaction, and prints events per second beside
//! the raw insert rate of plain rows of the same size (every column the store
//! writes, with the same contents, no constraint and no index) through the
//! same SQLite library with the same settings and the same batching, in the
//! same run. Each measurement gets a fresh database file in the same
//! directory. The two sides are measured in pairs, five rounds, the order
//! within a pair swapped each round, so neither inherits the other's warm
//! file or the machine's state; the figure is the median of the rounds'
//! ratios (each taken from two runs side by side), printed with their
//! spread, so a noisy neighbour moves one round, not the result.
//!
//! Run: `cargo bench -p event-store-sqlite --bench append` (EVENTS=n to change the size).

use std::path::Path;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use event_store::{AppendRequest, EventStore, IdempotencyKey, TRANSACTION_ITEMS_MAX};
use event_store_sqlite::SqliteEventStore;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, Commission, CommissionCommand, CommissionId,
    Currency, Money, TenantId,
};

const ROUNDS: usize = 5;

struct RawRow {
    stream: String,
    event_type: String,
    payload: String,
    payload_hash: String,
    recorded_at: String,
    idempotency_key: String,
    request_hash: String,
}

fn prepare(events_n: usize) -> Vec<AppendRequest> {
    let tenant = TenantId::new("acme").unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..events_n)
        .map(|i| {
            let ctx = CommandContext {
                tenant_id: tenant.clone(),
                actor: Actor::new(ActorKind::Service, "tracking-network").unwrap(),
                now: t0 + Duration::milliseconds(i as i64),
                effective_at: t0,
            };
            let command = CommissionCommand::Record {
                commission_id: CommissionId::new(format!("c-{i}")).unwrap(),
                affiliate_id: AffiliateId::new(format!("aff-{}", i % 1000)).unwrap(),
                amount: Money::from_minor(100 + (i as i64 % 10_000), Currency::EUR).unwrap(),
                hold_period_days: 30,
                source_conversion_id: format!("conv-{i}"),
                order_reference: Some(format!("order-{i}")),
            };
            let events = Commission::default().handle(command, &ctx).unwrap();
            AppendRequest::from_domain(0, &events)
                .unwrap()
                .with_idempotency_key(IdempotencyKey::new(format!("conv-{i}")).unwrap())
        })
        .collect()
}

fn run_store(path: &Path, requests: Vec<AppendRequest>) -> (usize, f64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = SqliteEventStore::open(path).unwrap();
    let start = Instant::now();
    let mut written = 0usize;
    runtime.block_on(async {
        let mut batch = Vec::with_capacity(TRANSACTION_ITEMS_MAX);
        for request in requests {
            batch.push(request);
            if batch.len() == TRANSACTION_ITEMS_MAX {
                written += store
                    .append_transaction(std::mem::take(&mut batch))
                    .await
                    .unwrap()
                    .len();
            }
        }
        if !batch.is_empty() {
            written += store.append_transaction(batch).await.unwrap().len();
        }
    });
    (written, start.elapsed().as_secs_f64())
}

fn run_raw(path: &Path, rows: &[RawRow]) -> f64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.execute_batch(
        "CREATE TABLE raw_rows (id INTEGER PRIMARY KEY, stream TEXT, version INTEGER, event_type TEXT, \
         schema_version INTEGER, payload TEXT, payload_hash TEXT, recorded_at TEXT, idempotency_key TEXT, \
         request_hash TEXT, append_last_version INTEGER)",
    )
    .unwrap();
    let start = Instant::now();
    for chunk in rows.chunks(TRANSACTION_ITEMS_MAX) {
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO raw_rows (stream, version, event_type, schema_version, payload, payload_hash, \
                     recorded_at, idempotency_key, request_hash, append_last_version) \
                     VALUES (?1, 1, ?2, 1, ?3, ?4, ?5, ?6, ?7, 1)",
                )
                .unwrap();
            for r in chunk {
                insert
                    .execute((
                        &r.stream,
                        &r.event_type,
                        &r.payload,
                        &r.payload_hash,
                        &r.recorded_at,
                        &r.idempotency_key,
                        &r.request_hash,
                    ))
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    start.elapsed().as_secs_f64()
}

fn main() {
    let events_n: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let requests = prepare(events_n);
    let raw_rows: Vec<RawRow> = requests
        .iter()
        .map(|r| {
            let e = &r.events[0];
            RawRow {
                stream: r.stream.to_string(),
                event_type: e.event_type.clone(),
                payload: e.payload.clone(),
                payload_hash: e.payload_hash.clone(),
                recorded_at: e
                    .recorded_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                idempotency_key: r
                    .idempotency_key
                    .as_ref()
                    .map(|k| k.as_str().to_owned())
                    .unwrap_or_default(),
                request_hash: r.request_hash(),
            }
        })
        .collect();
    let payload_bytes: usize = raw_rows.iter().map(|r| r.payload.len()).sum();
    println!(
        "prepared {} commission events (mean payload {} bytes) in {:.2?}",
        raw_rows.len(),
        payload_bytes / raw_rows.len().max(1),
        started.elapsed()
    );

    let mut written = 0;
    // (ratio, store events/s, raw rows/s) per round.
    let mut rounds: Vec<(f64, f64, f64)> = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let raw_path = dir.path().join(format!("raw-{round}.sqlite"));
        let store_path = dir.path().join(format!("store-{round}.sqlite"));
        let ((n, store_seconds), raw_seconds) = if round % 2 == 0 {
            let raw = run_raw(&raw_path, &raw_rows);
            (run_store(&store_path, requests.clone()), raw)
        } else {
            let store = run_store(&store_path, requests.clone());
            (store, run_raw(&raw_path, &raw_rows))
        };
        written = n;
        let (rate, raw_rate) = (
            n as f64 / store_seconds,
            raw_rows.len() as f64 / raw_seconds,
        );
        println!(
            "round {}: store {rate:.0} events/s, raw {raw_rate:.0} rows/s, {:.1}%",
            round + 1,
            100.0 * rate / raw_rate
        );
        rounds.push((rate / raw_rate, rate, raw_rate));
    }
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (low, high) = (rounds[0].0 * 100.0, rounds[ROUNDS - 1].0 * 100.0);
    let (_, rate, raw_rate) = rounds[ROUNDS / 2];
    println!("| benchmark | rows | median of {ROUNDS} rounds | per second | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| embedded store append (idempotency keys, 100 per transaction) | {written} | {:.2} s | {rate:.0} | >= 100,000 and >= 50% of raw |",
        written as f64 / rate
    );
    println!(
        "| baseline: raw insert of plain rows, same size | {} | {:.2} s | {raw_rate:.0} | - |",
        raw_rows.len(),
        raw_rows.len() as f64 / raw_rate
    );
    let ratio = 100.0 * rate / raw_rate;
    let met = rate >= 100_000.0 && ratio >= 50.0;
    println!(
        "SUMMARY|embedded append, new commissions with keys (median of {ROUNDS} paired rounds; ratios {low:.0}% to {high:.0}%)|{rate:.0} events/s ({ratio:.0}% of raw)|raw inserts: {raw_rate:.0}/s|>= 100,000/s and >= 50% of raw|{}",
        if met { "MET" } else { "MISSED" }
    );
    println!(
        "store runs at {ratio:.1}% of the raw insert rate; target {}",
        if met { "MET" } else { "MISSED" }
    );
}
