//! The ledger API Lambda: API Gateway HTTP API -> balances, journal, audit
//! trail, payouts and statements.

use std::sync::Arc;

use lambda_edge::config::{init_logging, tenant_claim};
use ledger_api::{ApiState, reads_from_env, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_logging();
    let aws = lambda_edge::config::aws_from_env().await;
    let reads = reads_from_env(&aws)?;
    let events = Arc::new(lambda_edge::config::store_from_env(&aws)?);
    let queue = Arc::new(lambda_edge::config::dispatch_queue_from_env(&aws)?);
    let limits = lambda_edge::config::approval_limits_from_env()?;
    let reports = reporting::ReportFiles::from_env(&aws)?.map(Arc::new);
    let webhooks = ledger_api::webhooks::router(Arc::new(ledger_api::webhooks::WebhookApi {
        store: Arc::new(lambda_edge::config::webhooks_from_env(&aws)?),
        tenant_claim: tenant_claim(),
        policy: tenant_webhooks::UrlPolicy::Production,
    }));
    lambda_http::run(
        router(Arc::new(ApiState {
            reads,
            events,
            tenant_claim: tenant_claim(),
            queue,
            limits,
            reports,
        }))
        .merge(webhooks),
    )
    .await
}
