//! Drafts payout batches over 100,000 affiliates with 3 currencies each on
//! the embedded store, and prints the time beside the time to read those
//! same balances (with the profiles drafting needs) in the same run.
//! Target: drafting costs at most 3x the read.
//!
//! Run: `cargo bench -p ledger-app --bench drafting` (AFFILIATES=n to change the size).

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use event_store::{AppendRequest, EventStore, PayoutReads};
use event_store_sqlite::SqliteEventStore;
use ledger_app::payouts::{DraftOptions, draft_payouts};
use ledger_domain::profile::SandboxBehaviour;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, Commission, CommissionCommand, CommissionId,
    Currency, Money, PayoutMethod, PayoutRunId, ProfileAggregate, ProfileChange, TenantId,
};

const CURRENCIES: [Currency; 3] = [Currency::EUR, Currency::USD, Currency::GBP];

fn ctx(actor: &str) -> CommandContext {
    let t0 = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    CommandContext {
        tenant_id: TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::User, actor).unwrap(),
        now: t0,
        effective_at: t0,
    }
}

async fn load(store: &SqliteEventStore, affiliates: usize) {
    let tracker = ctx("tracker");
    let finance = ctx("finance");
    let mut requests: Vec<AppendRequest> = Vec::new();
    let flush = |requests: &mut Vec<AppendRequest>| {
        let batch = std::mem::take(requests);
        async move { store.append_transaction(batch).await.unwrap() }
    };
    for a in 0..affiliates {
        let affiliate_id = AffiliateId::new(format!("aff-{a:07}")).unwrap();
        for (c, currency) in CURRENCIES.iter().enumerate() {
            let id = CommissionId::new(format!("c-{a}-{c}")).unwrap();
            let mut events = Commission::default()
                .handle(
                    CommissionCommand::Record {
                        commission_id: id.clone(),
                        affiliate_id: affiliate_id.clone(),
                        amount: Money::from_minor(10_000 + (a as i64 % 997), *currency).unwrap(),
                        hold_period_days: 0,
                        source_conversion_id: format!("conv-{a}-{c}"),
                        order_reference: None,
                    },
                    &tracker,
                )
                .unwrap();
            events.extend(
                Commission::from_events(&events)
                    .handle(CommissionCommand::Mature, &tracker)
                    .unwrap(),
            );
            requests.push(AppendRequest::from_domain(0, &events).unwrap());
        }
        let method = PayoutMethod::Sandbox {
            behaviour: SandboxBehaviour::Settle,
        };
        let events = ProfileAggregate::default()
            .handle(&affiliate_id, ProfileChange::MethodSet { method }, &finance)
            .unwrap();
        requests.push(AppendRequest::from_domain(0, &events).unwrap());
        if requests.len() >= 40 {
            flush(&mut requests).await;
        }
    }
    if !requests.is_empty() {
        flush(&mut requests).await;
    }
    while store.project_ledger(10_000).await.unwrap().events > 0 {}
}

async fn read_all(store: &SqliteEventStore, tenant: &TenantId) -> (usize, Duration) {
    let started = Instant::now();
    let mut after = None;
    let mut rows = 0;
    loop {
        let page = store
            .payout_candidates(tenant, after.as_deref(), 1000)
            .await
            .unwrap();
        rows += page.candidates.len();
        std::hint::black_box(&page.candidates);
        after = page.next;
        if after.is_none() {
            return (rows, started.elapsed());
        }
    }
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
    let store = SqliteEventStore::open(dir.path().join("drafting.sqlite")).unwrap();
    let tenant = TenantId::new("acme").unwrap();
    runtime.block_on(async {
        let setup = Instant::now();
        load(&store, affiliates).await;
        println!(
            "setup: {affiliates} affiliates x {} currencies recorded, matured, projected in {:.1} s",
            CURRENCIES.len(),
            setup.elapsed().as_secs_f64()
        );
        // Warm the cache, then measure the read.
        read_all(&store, &tenant).await;
        let (rows, read) = read_all(&store, &tenant).await;
        let mut options = DraftOptions::new(PayoutRunId::new("bench-run").unwrap());
        options.max_batches = usize::MAX;
        let started = Instant::now();
        let report = draft_payouts(&store, &store, &ctx("maria"), &options)
            .await
            .unwrap();
        let draft = started.elapsed();
        assert_eq!(report.items, rows, "every balance is drafted");
        println!(
            "read balances + profiles: {rows} rows in {:.3} s ({:.0} rows/s)",
            read.as_secs_f64(),
            rows as f64 / read.as_secs_f64()
        );
        println!(
            "draft: {} items in {} batches in {:.3} s ({:.0} items/s)",
            report.items,
            report.batches.len(),
            draft.as_secs_f64(),
            report.items as f64 / draft.as_secs_f64()
        );
        let ratio = draft.as_secs_f64() / read.as_secs_f64();
        println!("drafting costs {ratio:.2}x the read (target: at most 3x)");
        println!(
            "SUMMARY|payout drafting, {} affiliates x 3 currencies|{:.2} s ({ratio:.2}x the read)|read balances + profiles: {:.2} s|<= 3x the read|{}",
            affiliates,
            draft.as_secs_f64(),
            read.as_secs_f64(),
            if ratio <= 3.0 { "MET" } else { "MISSED" }
        );
    });
}
