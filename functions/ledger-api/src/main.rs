//! The read API Lambda: API Gateway HTTP API -> balances and journal.

use std::sync::Arc;

use lambda_edge::config::{init_logging, tenant_claim};
use ledger_api::{ApiState, reads_from_env, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_logging();
    let reads = reads_from_env().await?;
    lambda_http::run(router(Arc::new(ApiState {
        reads,
        tenant_claim: tenant_claim(),
    })))
    .await
}
