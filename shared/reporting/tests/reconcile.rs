//! Reconciliation on the embedded store: every mismatch class found in each
//! processor's sample report, recorded once as events, the trial balance
//! included; bad reports quarantined with their reason and nothing applied.

use std::path::PathBuf;

use chrono::{Duration, Utc};
use event_store::EventStore;
use event_store_sqlite::SqliteEventStore;
use file_store::FileStore;
use ledger_domain::events::EventBody;
use ledger_domain::{Processor, TenantId};
use reporting::ReportError;
use reporting::fixture::{paid_batch, sample_day, sample_items, sample_mismatches};
use reporting::reconcile::{ReconciliationReport, Rejection, reconcile_report_with};

/// Reconciles a report on the embedded store with the processors' own
/// parsers, as a deployment wires them.
async fn reconcile(
    store: &SqliteEventStore,
    files: &FileStore,
    key: &str,
    bytes: &[u8],
    now: chrono::DateTime<Utc>,
) -> Result<ReconciliationReport, ReportError> {
    reconcile_report_with(
        &processors::ProcessorReports,
        store,
        store,
        files,
        key,
        bytes,
        now,
    )
    .await
}

fn sample(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/reports")
        .join(name);
    std::fs::read(path).unwrap()
}

async fn ledger(processor: Processor) -> SqliteEventStore {
    let store = SqliteEventStore::in_memory().unwrap();
    let acme = TenantId::new("acme").unwrap();
    paid_batch(
        &store,
        &acme,
        processor,
        &sample_items(processor),
        sample_day(),
    )
    .await
    .unwrap();
    while store.project_ledger(10_000).await.unwrap().events > 0 {}
    store
}

async fn mismatch_events(store: &SqliteEventStore) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store.read_all(after.as_ref(), 1000).await.unwrap();
        for stored in &page.events {
            if let EventBody::ReconciliationMismatchFound(m) = stored.decode().unwrap().body() {
                out.push((m.kind.clone(), m.item_id.clone()));
            }
        }
        if page.events.is_empty() {
            break;
        }
        after = Some(page.next);
    }
    out.sort();
    out
}

fn expected() -> Vec<(String, Option<String>)> {
    sample_mismatches()
        .into_iter()
        .map(|(k, i)| (k.to_owned(), i.map(str::to_owned)))
        .collect()
}

#[tokio::test]
async fn every_mismatch_class_is_found_in_each_processors_report() {
    for (processor, file, key) in [
        (
            Processor::Stripe,
            "stripe-balance-change-from-activity.csv",
            "reports/acme/stripe/2026-11.csv",
        ),
        (
            Processor::Paypal,
            "paypal-settlement-report.csv",
            "reports/acme/paypal/STL-20261121.01.R.CSV",
        ),
        (
            Processor::Sepa,
            "sepa-camt053.xml",
            "reports/acme/sepa/camt053-2026-11.xml",
        ),
    ] {
        let store = ledger(processor).await;
        let dir = tempfile::tempdir().unwrap();
        let files = FileStore::Directory(dir.path().to_owned());
        let bytes = sample(file);
        let report = reconcile(&store, &files, key, &bytes, Utc::now())
            .await
            .unwrap();
        assert_eq!(report.status, "mismatches", "{processor:?}");
        let mut found: Vec<_> = report
            .matching
            .mismatches
            .iter()
            .map(|m| (m.kind.to_string(), m.item_id.clone()))
            .collect();
        found.sort();
        assert_eq!(found, expected(), "{processor:?}");
        assert_eq!(report.matching.matched.len(), 1, "{processor:?}");
        assert_eq!(report.matching.matched[0].item_id, "pb-000001.1");
        assert_eq!(report.other_lines, 1, "{processor:?}: the non-payout line");
        let eur = &report.matching.totals["EUR"];
        assert_eq!(eur.matched_total_minor, 12_500);
        // Paid in the period: items 1, 2, 3, 4 and 6 (5 failed).
        assert_eq!(
            eur.ledger_paid_in_period_minor,
            12_500 + 8_000 + 4_000 + 6_000 + 2_000
        );
        // The trial balance of the tenant: balanced, EUR.
        assert_eq!(report.trial_balance.len(), 1);
        assert!(
            report.trial_balance[0].balanced,
            "{:?}",
            report.trial_balance
        );
        assert!(report.trial_balance[0].debits_minor > 0);

        // Every mismatch is an event; the report is written once.
        assert_eq!(mismatch_events(&store).await, expected(), "{processor:?}");
        let written = files.list("reconciliation/acme/").await.unwrap();
        assert_eq!(written.len(), 1, "{written:?}");
        assert!(written[0].contains("/reports/rr-"), "{written:?}");
        let stored: serde_json::Value =
            serde_json::from_slice(&files.read(&written[0]).await.unwrap().unwrap()).unwrap();
        assert_eq!(stored["status"], "mismatches");
        assert_eq!(stored["mismatches"].as_array().unwrap().len(), 6);

        // The same report again: nothing new recorded or written.
        reconcile(&store, &files, key, &bytes, Utc::now() + Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(mismatch_events(&store).await.len(), 6);
        assert_eq!(files.list("reconciliation/acme/").await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_report_that_agrees_is_reconciled() {
    let store = ledger(Processor::Stripe).await;
    let dir = tempfile::tempdir().unwrap();
    let files = FileStore::Directory(dir.path().to_owned());
    let text = String::from_utf8(sample("stripe-balance-change-from-activity.csv")).unwrap();
    // Keep the charge and item 1's line only; the report covers 2026-11-03
    // to 2026-11-04, so items 2, 3, 4 and 6 paid then are missing. Make the
    // report say everything the ledger paid instead.
    let mut lines: Vec<String> = text.lines().take(3).map(str::to_owned).collect();
    for (n, amount) in [(2, "-80.00"), (3, "-40.00"), (4, "-60.00"), (6, "-20.00")] {
        lines.push(format!(
            "txn_ok{n},2026-11-04 09:00:0{n},2026-11-04 09:00:0{n},eur,{amount},0.00,{amount},transfer,tr_1QyB7bLkdIwHu7ixAAA{n},Payout,,,"
        ));
    }
    let bytes = (lines.join("\n") + "\n").into_bytes();
    let report = reconcile(
        &store,
        &files,
        "reports/acme/stripe/ok.csv",
        &bytes,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        report.status, "reconciled",
        "{:?}",
        report.matching.mismatches
    );
    assert_eq!(report.matching.matched.len(), 5);
    assert!(mismatch_events(&store).await.is_empty());
}

#[tokio::test]
async fn bad_reports_are_quarantined_with_the_reason_and_nothing_is_applied() {
    let stripe = String::from_utf8(sample("stripe-balance-change-from-activity.csv")).unwrap();
    let paypal = String::from_utf8(sample("paypal-settlement-report.csv")).unwrap();
    let camt = String::from_utf8(sample("sepa-camt053.xml")).unwrap();
    let second_line = stripe.lines().nth(2).unwrap().to_owned();
    let cases: Vec<(Processor, String, &str)> = vec![
        (
            Processor::Stripe,
            stripe.replacen("automatic_payout_id", "payout_secret_column", 1),
            "unknown_columns",
        ),
        (
            Processor::Stripe,
            stripe.replacen(",eur,-125.00", ",EURO,-125.00", 1),
            "bad_currency",
        ),
        (
            Processor::Stripe,
            format!("{stripe}{second_line}\n"),
            "duplicate_line",
        ),
        (
            Processor::Stripe,
            stripe[..stripe.len() - 40].to_owned(),
            "truncated",
        ),
        (
            Processor::Stripe,
            stripe.replacen("-125.00", "-1,25", 1),
            "truncated",
        ),
        (
            Processor::Stripe,
            stripe.replacen("-125.00", "12O.00", 1),
            "bad_value",
        ),
        (
            Processor::Paypal,
            paypal.replacen("\"Custom Field\"", "\"Secret Field\"", 1),
            "unknown_columns",
        ),
        (
            Processor::Paypal,
            paypal.replacen("7500,\"EUR\"", "7500,\"XYZ\"", 1),
            "bad_currency",
        ),
        (
            Processor::Paypal,
            paypal.replacen("1AB23456CD7890102", "1AB23456CD7890101", 1),
            "duplicate_line",
        ),
        (
            Processor::Paypal,
            paypal.split("\"SF\"").next().unwrap().to_owned(),
            "truncated",
        ),
        (
            Processor::Sepa,
            camt.replacen("Ccy=\"EUR\">30.00", "Ccy=\"EU\">30.00", 1),
            "bad_currency",
        ),
        (
            Processor::Sepa,
            camt.replacen("E2E-PB000001-5", "E2E-PB000001-1", 1),
            "duplicate_line",
        ),
        (
            Processor::Sepa,
            camt[..camt.len() / 2].to_owned(),
            "truncated",
        ),
        (
            Processor::Sepa,
            "<Document><Other/></Document>".to_owned(),
            "not_a_report",
        ),
    ];
    for (n, (processor, body, rule)) in cases.into_iter().enumerate() {
        let store = ledger(processor).await;
        let dir = tempfile::tempdir().unwrap();
        let files = FileStore::Directory(dir.path().to_owned());
        let key = format!("reports/acme/{}/bad-{n}", processor.as_str());
        let report = reconcile(&store, &files, &key, body.as_bytes(), Utc::now())
            .await
            .unwrap();
        assert_eq!(report.status, "quarantined", "case {n}");
        let rejection = report.rejection.clone().unwrap();
        let value = serde_json::to_value(&rejection).unwrap();
        assert_eq!(value["rule"], rule, "case {n}: {rejection}");
        assert!(report.matching.matched.is_empty() && report.matching.mismatches.is_empty());
        assert!(
            mismatch_events(&store).await.is_empty(),
            "case {n}: nothing recorded"
        );
        let written = files.list("reconciliation/acme/").await.unwrap();
        assert_eq!(written.len(), 1);
        assert!(written[0].contains("/quarantine/"), "{written:?}");
        let stored: serde_json::Value =
            serde_json::from_slice(&files.read(&written[0]).await.unwrap().unwrap()).unwrap();
        assert_eq!(stored["rejection"]["rule"], rule);
        if let Rejection::UnknownColumns { columns } = &rejection {
            assert!(columns[0].ends_with("Field") || columns[0].contains("secret"));
        }
    }
}

#[tokio::test]
async fn reports_of_other_kinds_of_keys_are_refused() {
    let store = ledger(Processor::Stripe).await;
    let dir = tempfile::tempdir().unwrap();
    let files = FileStore::Directory(dir.path().to_owned());
    for key in [
        "elsewhere/acme/stripe/x.csv",
        "reports/acme/bank/x.csv",
        "reports/acme/stripe/",
        "reports/a b/stripe/x",
    ] {
        assert!(
            reconcile(&store, &files, key, b"", Utc::now())
                .await
                .is_err(),
            "{key}"
        );
    }
}
