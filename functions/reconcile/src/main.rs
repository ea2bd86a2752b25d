//! The reconcile Lambda: S3 `ObjectCreated` events for processor reports
//! under `reports/{tenant}/{stripe|paypal|sepa}/` in the reports bucket.
//! Each report is reconciled once (its run id is its content hash): a
//! retried event finds the mismatch events recorded and the report written.
//! A report that cannot be read is quarantined with the reason, not retried;
//! a store or S3 failure fails the invocation (S3 retries, then the event
//! goes to the function's failure destination).

use aws_lambda_events::event::s3::S3Event;
use lambda_edge::config::{aws_from_env, init_logging, projection_from_env, store_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let aws = aws_from_env().await;
    let store = store_from_env(&aws)?;
    let reports = reporting::ReportFiles::from_env(&aws)?.ok_or("REPORTS_BUCKET is not set")?;
    let reads = projection_from_env(&aws)?;
    let (store, reads, reports) = (&store, &reads, &reports);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        let mut done = Vec::new();
        for record in event.payload.records {
            let Some(key) = record.s3.object.key else { continue };
            // Keys are plain `[A-Za-z0-9._/-]` (S3 encodes nothing else);
            // any other key is refused by the file store's key check.
            let Some(bytes) = reports.files.read(&key).await? else {
                tracing::warn!(report = %key, "the report is gone; nothing to reconcile");
                continue;
            };
            // The processor's own parser (the registry's), behind the port.
            let report = reporting::reconcile::reconcile_report_with(
                &processors::ProcessorReports,
                store,
                reads,
                &reports.files,
                &key,
                &bytes,
                chrono::Utc::now(),
            )
            .await?;
            tracing::info!(report = %key, status = report.status.as_str(), matched = report.matching.matched.len(), mismatches = report.matching.mismatches.len(), "reconciled");
            done.push(serde_json::json!({
                "source": key,
                "run_id": report.run_id,
                "status": report.status,
                "mismatches": report.matching.mismatches.len(),
            }));
        }
        Ok::<serde_json::Value, Error>(serde_json::json!(done))
    }))
    .await
}
