//! Generates one month's statements for 100,000 affiliates on the embedded
//! store and prints statements per second beside the time to read the same
//! journal entries (and the balance rows that enumerate them) alone, in the
//! same run. Target: generating costs at most 2x the read. Generating means
//! reading, building (with both tie checks), rendering CSV and JSON and
//! hashing; writing the files is measured apart on a sample, since it
//! depends on the disk (or S3) and not on this code.
//!
//! Run: `cargo bench -p reporting --bench statements` (AFFILIATES=n to change the size).

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use event_store::{AppendRequest, EventStore, LedgerReads};
use event_store_sqlite::SqliteEventStore;
use file_store::FileStore;
use ledger_domain::projection::BalanceOwner;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, Commission, CommissionCommand, CommissionId,
    Currency, Money, TenantId,
};
use reporting::statement::{Period, Statement, VersionMeta, sha256_hex, time_zone};
use reporting::statements::{read_journal, store_statement};

fn ctx(at: chrono::DateTime<Utc>) -> CommandContext {
    CommandContext {
        tenant_id: TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::Service, "tracker").unwrap(),
        now: at,
        effective_at: at,
    }
}

/// Each affiliate: a commission in September (the opening balance), one in
/// October that matures in October, one in October still pending, and one
/// in November (after the period): five events, five journal lines.
async fn load(store: &SqliteEventStore, affiliates: usize) {
    let day = |m: u32, d: u32| Utc.with_ymd_and_hms(2026, m, d, 12, 0, 0).unwrap();
    let mut requests: Vec<AppendRequest> = Vec::new();
    for a in 0..affiliates {
        let affiliate_id = AffiliateId::new(format!("aff-{a:07}")).unwrap();
        for (n, (at, mature)) in [
            (day(9, 20), None),
            (day(10, 3), Some(day(10, 20))),
            (day(10, 25), None),
            (day(11, 2), None),
        ]
        .into_iter()
        .enumerate()
        {
            let id = CommissionId::new(format!("c-{a}-{n}")).unwrap();
            let mut events = Commission::default()
                .handle(
                    CommissionCommand::Record {
                        commission_id: id.clone(),
                        affiliate_id: affiliate_id.clone(),
                        amount: Money::from_minor(1_000 + (a as i64 % 997), Currency::EUR).unwrap(),
                        hold_period_days: 0,
                        source_conversion_id: format!("conv-{a}-{n}"),
                        order_reference: None,
                    },
                    &ctx(at),
                )
                .unwrap();
            if let Some(m) = mature {
                events.extend(
                    Commission::from_events(&events)
                        .handle(CommissionCommand::Mature, &ctx(m))
                        .unwrap(),
                );
            }
            requests.push(AppendRequest::from_domain(0, &events).unwrap());
        }
        if requests.len() >= 20 {
            store
                .append_transaction(std::mem::take(&mut requests))
                .await
                .unwrap();
        }
    }
    if !requests.is_empty() {
        store.append_transaction(requests).await.unwrap();
    }
    while store.project_ledger(10_000).await.unwrap().events > 0 {}
}

/// Every affiliate row of the tenant, page by page.
async fn rows(store: &SqliteEventStore, tenant: &TenantId) -> Vec<event_store::TenantRow> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .tenant_rows(tenant, after.as_deref(), 1000)
            .await
            .unwrap();
        out.extend(page.rows);
        after = page.next;
        if after.is_none() {
            return out;
        }
    }
}

async fn read_only(store: &SqliteEventStore, tenant: &TenantId) -> (usize, Duration) {
    let started = Instant::now();
    let mut lines = 0;
    for row in rows(store, tenant).await {
        let journal = read_journal(store, &row.owner, &row.currency)
            .await
            .unwrap();
        lines += journal.len();
        std::hint::black_box(&journal);
    }
    (lines, started.elapsed())
}

async fn generate(
    store: &SqliteEventStore,
    tenant: &TenantId,
    period: &Period,
) -> (usize, usize, Duration) {
    let started = Instant::now();
    let (mut statements, mut bytes) = (0, 0);
    let now = Utc::now();
    for row in rows(store, tenant).await {
        let BalanceOwner::Affiliate { affiliate_id, .. } = &row.owner else {
            continue;
        };
        let journal = read_journal(store, &row.owner, &row.currency)
            .await
            .unwrap();
        let statement = Statement::build(
            tenant.clone(),
            affiliate_id.clone(),
            &row.currency,
            period.clone(),
            journal,
            &row.fields,
        )
        .unwrap();
        let csv = statement.to_csv();
        let meta = VersionMeta {
            version: 1,
            supersedes: None,
            reason: "bench".into(),
            generated_at: now,
            content_sha256: sha256_hex(&csv),
        };
        let json = statement.to_json(&meta);
        bytes += csv.len() + json.len();
        statements += 1;
        std::hint::black_box((&csv, &json));
    }
    (statements, bytes, started.elapsed())
}

fn main() {
    let affiliates: usize = std::env::var("AFFILIATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteEventStore::open(dir.path().join("statements.sqlite")).unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let period = Period::month("2026-10", time_zone("Europe/Berlin").unwrap()).unwrap();
    runtime.block_on(async {
        let setup = Instant::now();
        load(&store, affiliates).await;
        println!(
            "setup: {affiliates} affiliates, 4 commissions each over September to November, projected in {:.1} s",
            setup.elapsed().as_secs_f64()
        );
        // Warm the cache, then measure the read and the generation.
        read_only(&store, &tenant).await;
        let (lines, read) = read_only(&store, &tenant).await;
        let (statements, bytes, generated) = generate(&store, &tenant, &period).await;
        assert_eq!(statements, affiliates);
        println!(
            "read journal entries: {lines} lines of {affiliates} affiliates in {:.3} s",
            read.as_secs_f64()
        );
        println!(
            "generate statements (read, build and tie, CSV + JSON, SHA-256): {statements} in {:.3} s ({:.0} statements/s, {:.1} MB rendered)",
            generated.as_secs_f64(),
            statements as f64 / generated.as_secs_f64(),
            bytes as f64 / 1e6
        );
        // Writing: a sample into a directory (two files each, created once).
        let sample = affiliates.min(5_000);
        let files = FileStore::Directory(dir.path().join("files"));
        let all = rows(&store, &tenant).await;
        let started = Instant::now();
        for row in all.iter().take(sample) {
            let BalanceOwner::Affiliate { affiliate_id, .. } = &row.owner else { continue };
            let journal = read_journal(&store, &row.owner, &row.currency).await.unwrap();
            let statement = Statement::build(tenant.clone(), affiliate_id.clone(), &row.currency, period.clone(), journal, &row.fields).unwrap();
            store_statement(&files, &statement, "bench", Utc::now()).await.unwrap();
        }
        let written = started.elapsed();
        println!(
            "generate and write to a local directory: {sample} statements in {:.3} s ({:.0} statements/s)",
            written.as_secs_f64(),
            sample as f64 / written.as_secs_f64()
        );
        let ratio = generated.as_secs_f64() / read.as_secs_f64();
        println!("generating costs {ratio:.2}x the read (target: at most 2x)");
        println!(
            "SUMMARY|statements, {affiliates} affiliates' months|{:.2} s, {:.0}/s ({ratio:.2}x the read)|read journal entries: {:.2} s|<= 2x the read|{}",
            generated.as_secs_f64(),
            statements as f64 / generated.as_secs_f64(),
            read.as_secs_f64(),
            if ratio <= 2.0 { "MET" } else { "MISSED" }
        );
    });
}
