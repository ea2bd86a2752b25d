//! Statements on the embedded store: they tie to the ledger for random
//! histories (property), and are stored as immutable versions.

mod support {
    pub mod tie;
}

use chrono::{Duration, TimeZone, Utc};
use event_store::{AppendRequest, EventStore, StreamId};
use event_store_sqlite::SqliteEventStore;
use file_store::FileStore;
use ledger_domain::sample::{Op, SampleProgram};
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, CommissionCommand, CommissionId, Currency,
    Event, Money, TenantId,
};
use proptest::prelude::*;
use reporting::statement::{Period, time_zone};
use reporting::statements::{
    RunScope, StatementStores, Stored, generate_statements, list_statements, statement_for,
    store_statement,
};

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<u8>(), any::<u8>(), any::<u8>(), 1u32..100_000, 0u8..20).prop_map(|(tenant, affiliate, currency, amount_minor, hold_days)| Op::Record { tenant, affiliate, currency, amount_minor, hold_days }),
        3 => any::<u32>().prop_map(|pick| Op::Mature { pick }),
        2 => (any::<u32>(), any::<u8>(), any::<u8>()).prop_map(|(pick, percent, reason)| Op::Reverse { pick, percent, reason }),
        1 => (any::<u32>(), -5_000i32..5_000).prop_map(|(pick, delta_minor)| Op::Adjust { pick, delta_minor }),
        // Long ticks: histories span several months.
        2 => (1u8..25).prop_map(|days| Op::Tick { days }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(tenant, currency)| Op::Draft { tenant, currency }),
        1 => (any::<u32>(), any::<bool>()).prop_map(|(pick, by_maker)| Op::Approve { pick, by_maker }),
        1 => any::<u32>().prop_map(|pick| Op::Reject { pick }),
        3 => (any::<u32>(), any::<u16>(), any::<u8>()).prop_map(|(pick, item, outcome)| Op::Outcome { pick, item, outcome }),
    ]
}

fn history(ops: &[Op]) -> Vec<Event> {
    let mut program = SampleProgram::new(3);
    for op in ops {
        program.step(*op);
    }
    program.finish().events
}

async fn stored(events: &[Event]) -> SqliteEventStore {
    let store = SqliteEventStore::in_memory().unwrap();
    append(&store, events).await;
    store
}

async fn append(store: &SqliteEventStore, events: &[Event]) {
    let mut versions = std::collections::HashMap::new();
    for event in events {
        let stream = StreamId::of(event).unwrap();
        let version = versions.entry(stream).or_insert(0u64);
        store
            .append(AppendRequest::from_domain(*version, std::slice::from_ref(event)).unwrap())
            .await
            .unwrap();
        *version += 1;
    }
    while store.project_ledger(10_000).await.unwrap().events > 0 {}
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn statements_tie_to_the_ledger_for_random_histories(ops in prop::collection::vec(op(), 1..160)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let events = history(&ops);
            let store = stored(&events).await;
            support::tie::statements_tie(&store, &events).await;
        });
    }
}

#[tokio::test]
async fn a_broken_balance_row_is_refused_not_written() {
    let events = history(&[
        Op::Record {
            tenant: 0,
            affiliate: 0,
            currency: 0,
            amount_minor: 1234,
            hold_days: 0,
        },
        Op::Tick { days: 3 },
        Op::Mature { pick: 0 },
    ]);
    let db = tempfile::tempdir().unwrap();
    let path = db.path().join("ledger.sqlite");
    let store = SqliteEventStore::open(&path).unwrap();
    append(&store, &events).await;
    let built = support::tie::statements_tie(&store, &events).await;
    assert!(built >= 1);
    // Corrupt the stored balance: the statement no longer ties.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let changed = conn
        .execute(
            "UPDATE balances SET available = available - 1 WHERE owner = 'acme/affiliate/aff-0'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let dir = tempfile::tempdir().unwrap();
    let files = FileStore::Directory(dir.path().to_owned());
    let acme = TenantId::new("acme").unwrap();
    let period = Period::month("2026-01", time_zone("UTC").unwrap()).unwrap();
    let report = generate_statements(
        &StatementStores {
            reads: &store,
            files: &files,
            events: &store,
        },
        &acme,
        &period,
        &RunScope::default(),
        "test",
        &ledger_domain::Actor::new(ledger_domain::ActorKind::Scheduler, "statements").unwrap(),
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(report.created, 0);
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].error.contains("does not tie"),
        "{report:?}"
    );
    assert!(files.list("statements/").await.unwrap().is_empty());
}

fn ctx(at: chrono::DateTime<Utc>) -> CommandContext {
    CommandContext {
        tenant_id: TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::Service, "tracker").unwrap(),
        now: at,
        effective_at: at,
    }
}

async fn earn(store: &SqliteEventStore, id: &str, minor: i64, at: chrono::DateTime<Utc>) {
    let commission_id = CommissionId::new(id).unwrap();
    ledger_app::run_commission(
        store,
        &commission_id,
        CommissionCommand::Record {
            commission_id: commission_id.clone(),
            affiliate_id: AffiliateId::new("aff-1").unwrap(),
            amount: Money::from_minor(minor, Currency::EUR).unwrap(),
            hold_period_days: 30,
            source_conversion_id: format!("conv-{id}"),
            order_reference: None,
        },
        &ctx(at),
        None,
    )
    .await
    .unwrap();
    while store.project_ledger(10_000).await.unwrap().events > 0 {}
}

#[tokio::test]
async fn statements_are_versions_never_overwritten_and_late_events_make_a_new_one() {
    let store = SqliteEventStore::in_memory().unwrap();
    let october = Utc.with_ymd_and_hms(2026, 10, 10, 12, 0, 0).unwrap();
    earn(&store, "c-1", 10_000, october).await;
    let dir = tempfile::tempdir().unwrap();
    let files = FileStore::Directory(dir.path().to_owned());
    let acme = TenantId::new("acme").unwrap();
    let aff = AffiliateId::new("aff-1").unwrap();
    let period = Period::month("2026-10", time_zone("Europe/Berlin").unwrap()).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap();

    let first = generate_statements(
        &StatementStores {
            reads: &store,
            files: &files,
            events: &store,
        },
        &acme,
        &period,
        &RunScope::default(),
        "month end",
        &ledger_domain::Actor::new(ledger_domain::ActorKind::Scheduler, "statements").unwrap(),
        now,
    )
    .await
    .unwrap();
    assert_eq!((first.created, first.unchanged), (1, 0));
    let again = generate_statements(
        &StatementStores {
            reads: &store,
            files: &files,
            events: &store,
        },
        &acme,
        &period,
        &RunScope::default(),
        "month end",
        &ledger_domain::Actor::new(ledger_domain::ActorKind::Scheduler, "statements").unwrap(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        (again.created, again.unchanged),
        (0, 1),
        "same content: nothing written"
    );

    // A conversion of October recorded late, in November.
    earn(&store, "c-2", 2_500, october + Duration::days(5)).await;
    let third = generate_statements(
        &StatementStores {
            reads: &store,
            files: &files,
            events: &store,
        },
        &acme,
        &period,
        &RunScope {
            only: Some(aff.clone()),
            ..RunScope::default()
        },
        "on demand by finance",
        &ledger_domain::Actor::new(ledger_domain::ActorKind::Scheduler, "statements").unwrap(),
        now + Duration::days(2),
    )
    .await
    .unwrap();
    assert_eq!(third.created, 1);
    let listed = list_statements(&files, &acme, &aff).await.unwrap();
    assert_eq!(
        listed.iter().map(|l| l.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let v1: serde_json::Value =
        serde_json::from_slice(&files.read(&listed[0].json_key).await.unwrap().unwrap()).unwrap();
    let v2: serde_json::Value =
        serde_json::from_slice(&files.read(&listed[1].json_key).await.unwrap().unwrap()).unwrap();
    assert_eq!(v1["closing"]["pending"], "100.00");
    assert_eq!(v2["closing"]["pending"], "125.00");
    assert_eq!(v2["supersedes"], 1);
    assert!(
        v2["reason"]
            .as_str()
            .unwrap()
            .contains("on demand by finance; the ledger changed since version 1")
    );
    assert_eq!(v2["lines"].as_array().unwrap().len(), 2);
    let csv = files.read(&listed[1].csv_key).await.unwrap().unwrap();
    assert_eq!(v2["content_sha256"], reporting::statement::sha256_hex(&csv));
    // The first version is untouched.
    assert_eq!(
        v1["content_sha256"],
        reporting::statement::sha256_hex(&files.read(&listed[0].csv_key).await.unwrap().unwrap())
    );

    // Storing a statement whose version was taken concurrently moves on.
    let rows = store.affiliate_balances(&acme, &aff).await.unwrap();
    let fields = rows[0]
        .fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    let statement = statement_for(&store, &acme, &aff, "EUR", &period, &fields)
        .await
        .unwrap();
    assert_eq!(
        store_statement(&files, &statement, "x", now).await.unwrap(),
        Stored::Unchanged { version: 2 }
    );
}
