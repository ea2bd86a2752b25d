//! The statements function's runs on the embedded store: the schedule's
//! empty payload generates last month for every configured tenant in its
//! time zone; requests are checked; reruns write nothing new.

use chrono::{TimeZone, Utc};
use event_store::EventStore;
use event_store_sqlite::SqliteEventStore;
use file_store::FileStore;
use ledger_domain::{Processor, TenantId};
use reporting::fixture::{paid_batch, sample_day, sample_items};
use reporting::statement::TimeZones;
use reporting::statements::StatementStores;
use statements::{handle, request, tenants};

#[tokio::test]
async fn the_schedule_writes_last_months_statements_once() {
    let store = SqliteEventStore::in_memory().unwrap();
    let acme = TenantId::new("acme").unwrap();
    paid_batch(
        &store,
        &acme,
        Processor::Stripe,
        &sample_items(Processor::Stripe),
        sample_day(),
    )
    .await
    .unwrap();
    while store.project_ledger(10_000).await.unwrap().events > 0 {}
    let dir = tempfile::tempdir().unwrap();
    let files = FileStore::Directory(dir.path().to_owned());
    let stores = StatementStores {
        reads: &store,
        files: &files,
        events: &store,
    };
    let zones = TimeZones::parse(None, Some(r#"{"acme": "America/New_York"}"#)).unwrap();
    let configured = tenants("acme, globex").unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap();
    // 03:00 UTC on 1 December is still November in New York: last month
    // there is October, which holds nothing.
    let early = handle(
        &stores,
        &zones,
        &configured,
        &request(&serde_json::json!({})).unwrap(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(early[0].1.period, "2026-10");
    assert_eq!(early[0].1.created, 0);
    let later = now + chrono::Duration::hours(6);
    let done = handle(
        &stores,
        &zones,
        &configured,
        &request(&serde_json::Value::Null).unwrap(),
        later,
    )
    .await
    .unwrap();
    assert_eq!(done.len(), 2);
    assert_eq!(done[0].1.period, "2026-11");
    assert_eq!(done[0].1.time_zone, "America/New_York");
    assert_eq!(done[0].1.created, 6, "one statement per affiliate");
    assert!(done[0].1.failed.is_empty());
    assert_eq!(done[1].1.created, 0, "globex has no ledger");
    let again = handle(
        &stores,
        &zones,
        &configured,
        &request(&serde_json::json!({})).unwrap(),
        later,
    )
    .await
    .unwrap();
    assert_eq!((again[0].1.created, again[0].1.unchanged), (0, 6));
    let written = files.list("statements/acme/").await.unwrap();
    assert_eq!(written.len(), 12, "a CSV and a JSON each: {written:?}");
    let json: serde_json::Value = serde_json::from_slice(
        &files
            .read("statements/acme/aff-5/EUR/2026-11/v0001.json")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    // aff-5's payout failed: the money is back on available.
    assert_eq!(json["closing"]["available"], "30.00");
    assert_eq!(json["closing"]["paid_out"], "0.00");
    assert_eq!(json["reason"], "scheduled month end");

    // On demand, for one affiliate and period.
    let one = request(&serde_json::json!({"tenant_id": "acme", "affiliate_id": "aff-1", "period": "2026-11", "reason": "dispute 42"})).unwrap();
    let done = handle(&stores, &zones, &configured, &one, later)
        .await
        .unwrap();
    assert_eq!((done[0].1.created, done[0].1.unchanged), (0, 1));

    // Each version written is one `statement.published` event in the
    // statement's stream, however often the period is run again.
    let stream = event_store::StreamId::new("acme/statement/aff-5/EUR/2026-11").unwrap();
    let recorded = store.read_stream(&stream, 1, 100).await.unwrap();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let event = recorded[0].decode().unwrap();
    let public = ledger_domain::public::public_events(stream.as_str(), 1, &event);
    assert_eq!(public.len(), 1);
    assert_eq!(public[0].event_type, "statement.published");
    assert_eq!(public[0].data["version"], 1);
    assert_eq!(public[0].data["period"], "2026-11");
    assert_eq!(public[0].data["time_zone"], "America/New_York");
    assert_eq!(public[0].data["closing_available"]["amount"], "30.00");
    assert_eq!(public[0].data["content_sha256"], json["content_sha256"]);
    assert_eq!(event.actor().kind, ledger_domain::ActorKind::Scheduler);
}

#[test]
fn bad_requests_are_refused_with_the_field() {
    assert!(
        request(&serde_json::json!({"tenant": "acme"}))
            .unwrap_err()
            .contains("unknown field")
    );
    assert!(
        tenants("acme,bad tenant")
            .unwrap_err()
            .contains("STATEMENT_TENANTS")
    );
    assert!(TimeZones::parse(Some("Mars/Base"), None).is_err());
    assert!(
        TimeZones::parse(None, Some(r#"{"acme": "Nowhere"}"#))
            .unwrap_err()
            .contains("acme")
    );
}

#[tokio::test]
async fn bad_periods_and_lone_affiliates_are_refused() {
    let store = SqliteEventStore::in_memory().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = FileStore::Directory(dir.path().to_owned());
    let stores = StatementStores {
        reads: &store,
        files: &files,
        events: &store,
    };
    let zones = TimeZones::default();
    let now = Utc::now();
    let bad_period =
        request(&serde_json::json!({"tenant_id": "acme", "period": "2026-13"})).unwrap();
    assert!(
        handle(&stores, &zones, &[], &bad_period, now)
            .await
            .unwrap_err()
            .contains("2026-13")
    );
    let lone = request(&serde_json::json!({"affiliate_id": "aff-1"})).unwrap();
    assert!(
        handle(&stores, &zones, &[], &lone, now)
            .await
            .unwrap_err()
            .contains("needs tenant_id")
    );
}

#[test]
fn the_sample_invocations_are_requests() {
    let read = |name: &str| -> serde_json::Value {
        let path = format!(
            "{}/../../events/schedule/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    assert_eq!(
        request(&read("statements.json")).unwrap(),
        Default::default()
    );
    let on_demand = request(&read("statements-on-demand.json")).unwrap();
    assert_eq!(on_demand.tenant_id.as_deref(), Some("acme"));
    assert_eq!(on_demand.period.as_deref(), Some("2026-10"));
}
