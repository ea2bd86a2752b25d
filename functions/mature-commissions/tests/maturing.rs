//! Maturing on both backends: only commissions whose hold is over, bounded
//! per run, resumable, and never twice.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use event_store::{EventStore, MaturitySchedule};
use ledger_app::{mature_due, rebuild_balances, record_commissions, run_commission};
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
    let balances = rebuild_balances(store).await.unwrap();
    balances
        .affiliate(
            &TenantId::new("acme").unwrap(),
            &AffiliateId::new("aff-1").unwrap(),
            Currency::EUR,
        )
        .unwrap()
        .available
        .amount_minor()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maturing_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let (store, projection) = aws_emulator::ledger_on_dynamodb(&emulator.sdk_config(), "mature-")
        .await
        .unwrap();
    let store = Arc::new(store);
    // The projector follows the events table's stream, as Lambda would.
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
    scenario(&*store, &projection, project).await;
}

#[tokio::test]
async fn the_scheduled_event_runs_one_bounded_run_at_its_time() {
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
    let result = mature_commissions::handle(&store, &store, &event, now)
        .await
        .unwrap();
    assert_eq!(
        result,
        serde_json::json!({"matured": 1, "settled": 0, "failed": 0})
    );
}
