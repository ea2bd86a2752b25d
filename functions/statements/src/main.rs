//! The statements Lambda: a monthly EventBridge schedule, or invoked with
//! `{"tenant_id": "acme", "period": "2026-10", "reason": "…"}`.

use lambda_edge::config::{aws_from_env, projection_from_env, store_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use reporting::statements::StatementStores;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::config::init_logging();
    let tenants = statements::tenants(&std::env::var("STATEMENT_TENANTS").unwrap_or_default())?;
    let aws = aws_from_env().await;
    let reports = reporting::ReportFiles::from_env(&aws)?.ok_or("REPORTS_BUCKET is not set")?;
    let reads = projection_from_env(&aws)?;
    let events = store_from_env(&aws)?;
    let stores = StatementStores {
        reads: &reads,
        files: &reports.files,
        events: &events,
    };
    let (stores, reports, tenants) = (&stores, &reports, &tenants);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let request = statements::request(&event.payload)?;
        let done = statements::handle(
            stores,
            &reports.time_zones,
            tenants,
            &request,
            chrono::Utc::now(),
        )
        .await?;
        let failed: usize = done.iter().map(|(_, r)| r.failed.len()).sum();
        if failed > 0 {
            // The statements that tie were written; the run fails so the
            // alarm on this function's errors tells finance.
            return Err(Error::from(format!(
                "{failed} statements do not tie to the ledger and were not written: {}",
                serde_json::to_string(
                    &done
                        .iter()
                        .map(|(t, r)| (t.as_str(), &r.failed))
                        .collect::<Vec<_>>()
                )?
            )));
        }
        Ok::<Value, Error>(serde_json::json!(
            done.iter()
                .map(|(t, r)| serde_json::json!({"tenant_id": t.as_str(), "report": r}))
                .collect::<Vec<_>>()
        ))
    }))
    .await
}
