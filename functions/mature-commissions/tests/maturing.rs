//! Maturing on both backends: only commissions whose hold is over, bounded
//! per page, resumable, and never twice; a run with no cap drains a backlog
//! larger than the old per-run cap, and one out of time hands the rest on.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use event_store::{EventStore, MaturitySchedule};
use ledger_app::{
    MatureReport, mature_due, mature_until, rebuild_balances, record_commissions, run_commission,
};
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, CommissionCommand, CommissionId, Currency,
    Money, ReversalReason, TenantId,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn ctx(at: DateTime<Utc>) -> CommandContext {
    CommandContext {
        tenant_id: TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::Service, "tracking").unwrap(),
        now: at,
        effective_at: at,
    }
}

fn record(id: &str, hold_days: u32) -> (CommissionCommand, Option<DateTime<Utc>>) {
    (
        CommissionCommand::Record {
            commission_id: CommissionId::new(id).unwrap(),
            affiliate_id: AffiliateId::new("aff-1").unwrap(),
            amount: Money::from_minor(1000, Currency::EUR).unwrap(),
            hold_period_days: hold_days,
            source_conversion_id: format!("conv-{id}"),
            order_reference: None,
        },
        Some(t0()),
    )
}

async fn available<S: EventStore + ?Sized>(store: &S) -> i64 {
    pending_and_available(store).await.1
}

async fn pending_and_available<S: EventStore + ?Sized>(store: &S) -> (i64, i64) {
    let balances = rebuild_balances(store).await.unwrap();
    let account = balances
        .affiliate(
            &TenantId::new("acme").unwrap(),
            &AffiliateId::new("aff-1").unwrap(),
            Currency::EUR,
        )
        .unwrap();
    (
        account.pending.amount_minor(),
        account.available.amount_minor(),
    )
}

/// The most one run matured before runs had no cap.
const OLD_RUN_CAP: usize = 500;

/// Records `n` commissions of 10.00 EUR with no hold, in bulk requests.
async fn record_backlog<S: EventStore + ?Sized>(store: &S, n: usize) {
    let commands: Vec<_> = (0..n).map(|i| record(&format!("b{i}"), 0)).collect();
    for chunk in commands.chunks(50) {
        record_commissions(store, &ctx(t0()), chunk, None)
            .await
            .unwrap();
    }
}

/// A backlog larger than the old cap, drained by one run with time to
/// spare; each commission matured once.
async fn drain_in_one_run<S, M, P, F>(store: &S, schedule: &M, project: P, backlog: usize)
where
    S: EventStore + ?Sized,
    M: MaturitySchedule + ?Sized,
    P: Fn() -> F,
    F: std::future::Future<Output = ()>,
{
    assert!(backlog > OLD_RUN_CAP);
    record_backlog(store, backlog).await;
    project().await;
    let day1 = t0() + Duration::days(1);
    let generous = Instant::now() + std::time::Duration::from_secs(600);
    let report = mature_until(store, schedule, day1, generous).await.unwrap();
    assert_eq!(
        report,
        MatureReport {
            matured: backlog,
            settled: 0,
            failed: 0,
            more: false,
        }
    );
    project().await;
    assert_eq!(
        pending_and_available(store).await,
        (0, 1000 * backlog as i64)
    );
    assert!(schedule.due(day1, 1000).await.unwrap().is_empty());
    let again = mature_until(store, schedule, day1, generous).await.unwrap();
    assert_eq!(again, MatureReport::default());
}

/// A run short of time stops early and says more is due; the next run
/// finishes; each commission matured once.
async fn hand_on_when_out_of_time<S, M, P, F>(store: &S, schedule: &M, project: P)
where
    S: EventStore + ?Sized,
    M: MaturitySchedule + ?Sized,
    P: Fn() -> F,
    F: std::future::Future<Output = ()>,
{
    const BACKLOG: usize = 100;
    record_backlog(store, BACKLOG).await;
    project().await;
    let day1 = t0() + Duration::days(1);
    let tiny = Instant::now() + std::time::Duration::from_millis(100);
    let first = mature_until(store, schedule, day1, tiny).await.unwrap();
    assert!(first.more, "{first:?}");
    assert!(first.matured < BACKLOG, "{first:?}");
    assert_eq!((first.settled, first.failed), (0, 0));
    project().await;
    assert_eq!(
        pending_and_available(store).await,
        (
            1000 * (BACKLOG - first.matured) as i64,
            1000 * first.matured as i64
        )
    );
    let generous = Instant::now() + std::time::Duration::from_secs(600);
    let second = mature_until(store, schedule, day1, generous).await.unwrap();
    assert!(!second.more, "{second:?}");
    assert_eq!(first.matured + second.matured, BACKLOG);
    assert_eq!((second.settled, second.failed), (0, 0));
    project().await;
    assert_eq!(
        pending_and_available(store).await,
        (0, 1000 * BACKLOG as i64)
    );
}

/// Records four commissions (hold 0, 5, 10, and one wholly refunded), then
/// runs the job at several times; `project` brings the schedule up to date.
async fn scenario<S, M, P, F>(store: &S, schedule: &M, project: P)
where
    S: EventStore + ?Sized,
    M: MaturitySchedule + ?Sized,
    P: Fn() -> F,
    F: std::future::Future<Output = ()>,
{
    record_commissions(
        store,
        &ctx(t0()),
        &[
            record("c1", 0),
            record("c2", 5),
            record("c3", 10),
            record("c4", 0),
        ],
        None,
    )
    .await
    .unwrap();
    let refund = CommissionCommand::Reverse {
        amount: Money::from_minor(1000, Currency::EUR).unwrap(),
        reason: ReversalReason::Refund,
        reference: None,
    };
    run_commission(
        store,
        &CommissionId::new("c4").unwrap(),
        refund,
        &ctx(t0()),
        None,
    )
    .await
    .unwrap();
    project().await;

    // Day 6, one per run: bounded and resumable.
    let day6 = t0() + Duration::days(6);
    let first = mature_due(store, schedule, day6, 1).await.unwrap();
    assert_eq!(first.matured + first.settled, 1);
    let mut total = first;
    for _ in 0..5 {
        let next = mature_due(store, schedule, day6, 1).await.unwrap();
        total.matured += next.matured;
        total.settled += next.settled;
        assert_eq!(next.failed, 0);
    }
    assert_eq!(total.matured, 2, "c1 and c2, not c3 (on hold until day 10)");
    project().await;
    assert_eq!(available(store).await, 2000);
    // Again the same day: nothing to do, nothing matures twice.
    let again = mature_due(store, schedule, day6, 100).await.unwrap();
    assert_eq!(again.matured, 0);
    // Day 11: c3.
    let day11 = t0() + Duration::days(11);
    assert_eq!(
        mature_due(store, schedule, day11, 100)
            .await
            .unwrap()
            .matured,
        1
    );
    project().await;
    assert_eq!(available(store).await, 3000);
    assert!(
        schedule
            .due(day11 + Duration::days(400), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn maturing_on_the_embedded_store() {
    let store = event_store_sqlite::SqliteEventStore::in_memory().unwrap();
    scenario(&store, &store, || async {
        store.project_ledger(1000).await.unwrap();
    })
    .await;
}

/// Runs `$scenario` on the emulator's DynamoDB (tables named with
/// `$prefix`), the projector following the events table as Lambda would.
macro_rules! on_dynamodb {
    ($prefix:literal, $scenario:ident $(, $arg:expr)*) => {{
        let emulator =
            aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
        let (store, projection) = event_store_dynamodb::ledger_on_dynamodb(&emulator.sdk_config(), $prefix)
            .await
            .unwrap();
        let store = Arc::new(store);
        let cursor = tokio::sync::Mutex::new(None);
        let project = || async {
            let mut cursor = cursor.lock().await;
            loop {
                let page = store.read_all(cursor.as_ref(), 1000).await.unwrap();
                if page.events.is_empty() {
                    break;
                }
                projection.project(&page.events).await.unwrap();
                *cursor = Some(page.next);
            }
        };
        $scenario(&*store, &projection, project $(, $arg)*).await;
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maturing_on_dynamodb() {
    on_dynamodb!("mature-", scenario);
}

#[tokio::test]
async fn a_backlog_beyond_the_old_cap_drains_in_one_run_on_the_embedded_store() {
    let store = event_store_sqlite::SqliteEventStore::in_memory().unwrap();
    let project = || async { while store.project_ledger(1000).await.unwrap().events > 0 {} };
    drain_in_one_run(&store, &store, project, 1200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_beyond_the_old_cap_drains_in_one_run_on_dynamodb() {
    // Just over the old cap: the emulator is slow, and the cap is what counts.
    on_dynamodb!("drain-", drain_in_one_run, OLD_RUN_CAP + 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_out_of_time_hands_the_rest_on_on_dynamodb() {
    on_dynamodb!("hand-on-", hand_on_when_out_of_time);
}

#[test]
fn a_run_stops_the_safety_margin_before_its_deadline() {
    let margin = mature_commissions::SAFETY_MARGIN;
    let deadline = std::time::SystemTime::now() + margin + std::time::Duration::from_secs(30);
    let before = Instant::now();
    let stop = mature_commissions::stop_at(deadline);
    assert!(stop <= Instant::now() + std::time::Duration::from_secs(30));
    assert!(stop >= before + std::time::Duration::from_secs(29));
    // Less than the margin left, or the deadline past: stop right away.
    for deadline in [
        std::time::SystemTime::now() + margin / 2,
        std::time::SystemTime::now() - margin,
    ] {
        assert!(mature_commissions::stop_at(deadline) <= Instant::now());
    }
}

#[tokio::test]
async fn the_scheduled_event_runs_one_run_at_its_time_within_its_budget() {
    let store = event_store_sqlite::SqliteEventStore::in_memory().unwrap();
    record_commissions(
        &store,
        &ctx(t0()),
        &[record("c1", 0), record("c2", 365)],
        None,
    )
    .await
    .unwrap();
    store.project_ledger(100).await.unwrap();
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/schedule/mature-commissions.json");
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // The sample fires on 2026-11-22: c1 (no hold) is due, c2 (a long hold) is not.
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 0, 20, 0).unwrap();
    let generous = Instant::now() + std::time::Duration::from_secs(600);
    let result = mature_commissions::handle(&store, &store, &event, now, generous)
        .await
        .unwrap();
    assert_eq!(
        result,
        serde_json::json!({"matured": 1, "settled": 0, "failed": 0, "more": false})
    );
    // Out of time before it starts: nothing matured, the rest handed on.
    record_commissions(&store, &ctx(t0()), &[record("c3", 0)], None)
        .await
        .unwrap();
    store.project_ledger(100).await.unwrap();
    let result = mature_commissions::handle(&store, &store, &event, now, Instant::now())
        .await
        .unwrap();
    assert_eq!(
        result,
        serde_json::json!({"matured": 0, "settled": 0, "failed": 0, "more": true})
    );
}
