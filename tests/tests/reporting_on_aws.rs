//! Reconciliation and statements on AWS's wire protocols (the emulator):
//! DynamoDB for the ledger and its projection, S3 for the files. Every
//! mismatch class of each processor's sample report is found and recorded
//! once; statements are created once in S3 (conditional put), listed, and
//! downloaded through a presigned URL.

use aws_sdk_s3::config::Builder as S3ConfigBuilder;
use chrono::Utc;
use event_store::{Cursor, EventStore};
use event_store_dynamodb::DynamoEventStore;
use event_store_dynamodb::projection::DynamoProjection;
use file_store::FileStore;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ledger_domain::events::EventBody;
use ledger_domain::{AffiliateId, Processor, TenantId};
use reporting::ReportError;
use reporting::fixture::{paid_batch, sample_day, sample_items, sample_mismatches};
use reporting::reconcile::{ReconciliationReport, reconcile_report_with};
use reporting::statement::{Period, time_zone};
use reporting::statements::{RunScope, StatementStores, generate_statements, list_statements};

/// Reconciles a report on DynamoDB with the processors' own parsers, as a
/// deployment wires them.
async fn reconcile(
    store: &DynamoEventStore,
    projection: &DynamoProjection,
    files: &FileStore,
    key: &str,
    bytes: &[u8],
    now: chrono::DateTime<Utc>,
) -> Result<ReconciliationReport, ReportError> {
    let parsers = &processors::ProcessorReports;
    reconcile_report_with(parsers, store, projection, files, key, bytes, now).await
}

async fn project(store: &DynamoEventStore, projection: &DynamoProjection) {
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store.read_all(cursor.as_ref(), 1000).await.unwrap();
        if page.events.is_empty() {
            return;
        }
        projection.project(&page.events).await.unwrap();
        cursor = Some(page.next);
    }
}

async fn mismatch_kinds(store: &DynamoEventStore) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store.read_all(cursor.as_ref(), 1000).await.unwrap();
        if page.events.is_empty() {
            out.sort();
            return out;
        }
        for stored in &page.events {
            if let EventBody::ReconciliationMismatchFound(m) = stored.decode().unwrap().body() {
                out.push((m.kind.clone(), m.item_id.clone()));
            }
        }
        cursor = Some(page.next);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mismatch_class_on_dynamodb_and_statements_in_s3() {
    let emulator = aws_emulator::Emulator::start().expect("the AWS tests need the emulator");
    let config = emulator.sdk_config();
    let s3 = aws_sdk_s3::Client::from_conf(
        S3ConfigBuilder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket("reports").send().await.unwrap();
    let files = FileStore::S3 {
        client: s3.clone(),
        bucket: "reports".into(),
    };
    let acme = TenantId::new("acme").unwrap();
    let expected: Vec<(String, Option<String>)> = sample_mismatches()
        .into_iter()
        .map(|(k, i)| (k.to_owned(), i.map(str::to_owned)))
        .collect();
    for (processor, sample) in [
        (Processor::Stripe, "stripe-balance-change-from-activity.csv"),
        (Processor::Paypal, "paypal-settlement-report.csv"),
        (Processor::Sepa, "sepa-camt053.xml"),
    ] {
        let prefix = format!("rec{}-", processor.as_str());
        let (store, projection) = event_store_dynamodb::ledger_on_dynamodb(&config, &prefix)
            .await
            .unwrap();
        paid_batch(
            &store,
            &acme,
            processor,
            &sample_items(processor),
            sample_day(),
        )
        .await
        .unwrap();
        project(&store, &projection).await;
        let bytes = std::fs::read(format!(
            "{}/../events/reports/{sample}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let key = format!("reports/acme/{}/{sample}", processor.as_str());
        let report = reconcile(&store, &projection, &files, &key, &bytes, Utc::now())
            .await
            .unwrap();
        let mut found: Vec<_> = report
            .matching
            .mismatches
            .iter()
            .map(|m| (m.kind.to_string(), m.item_id.clone()))
            .collect();
        found.sort();
        assert_eq!(found, expected, "{processor:?}");
        assert_eq!(report.matching.matched.len(), 1);
        assert!(
            report.trial_balance.iter().all(|t| t.balanced),
            "{:?}",
            report.trial_balance
        );
        assert_eq!(
            mismatch_kinds(&store).await,
            expected,
            "{processor:?}: recorded"
        );
        // Again: the report exists (conditional put refused), nothing new recorded.
        reconcile(&store, &projection, &files, &key, &bytes, Utc::now())
            .await
            .unwrap();
        assert_eq!(mismatch_kinds(&store).await.len(), expected.len());
        let written = files
            .list(&format!("reconciliation/acme/{}/", processor.as_str()))
            .await
            .unwrap();
        assert_eq!(written.len(), 1, "{written:?}");

        if processor == Processor::Stripe {
            // Statements of November for every affiliate of the batch, in S3.
            let period = Period::month("2026-11", time_zone("Europe/Berlin").unwrap()).unwrap();
            let run = generate_statements(
                &StatementStores {
                    reads: &projection,
                    files: &files,
                    events: &store,
                },
                &acme,
                &period,
                &RunScope::default(),
                "month end",
                &ledger_domain::Actor::new(ledger_domain::ActorKind::Scheduler, "statements")
                    .unwrap(),
                Utc::now(),
            )
            .await
            .unwrap();
            assert_eq!((run.created, run.failed.len()), (6, 0), "{run:?}");
            let again = generate_statements(
                &StatementStores {
                    reads: &projection,
                    files: &files,
                    events: &store,
                },
                &acme,
                &period,
                &RunScope::default(),
                "month end",
                &ledger_domain::Actor::new(ledger_domain::ActorKind::Scheduler, "statements")
                    .unwrap(),
                Utc::now(),
            )
            .await
            .unwrap();
            assert_eq!((again.created, again.unchanged), (0, 6));
            let aff = AffiliateId::new("aff-1").unwrap();
            let listed = list_statements(&files, &acme, &aff).await.unwrap();
            assert_eq!(listed.len(), 1);
            let url = files
                .download_link(
                    &listed[0].csv_key,
                    reporting::DOWNLOAD_LINK_TTL,
                    None,
                    Utc::now(),
                )
                .await
                .unwrap()
                .unwrap();
            assert!(url.contains("X-Amz-Signature="), "{url}");
            let client = Client::builder(TokioExecutor::new()).build_http::<axum::body::Body>();
            let response = client.get(url.parse().unwrap()).await.unwrap();
            assert_eq!(response.status(), 200);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let csv = String::from_utf8_lossy(&body);
            assert!(csv.lines().last().unwrap().starts_with("closing,"), "{csv}");
            // aff-1 was paid 125.00: closing paid out.
            assert!(csv.lines().last().unwrap().ends_with(",125.00"), "{csv}");
        }
    }
}
