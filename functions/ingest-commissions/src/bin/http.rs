//! The HTTP Lambda: API Gateway HTTP API -> `POST /v1/commissions`.

use std::sync::Arc;

use ingest_commissions::{AppState, router};
use lambda_edge::config::{aws_from_env, init_logging, store_from_env, tenant_claim};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_logging();
    let store = store_from_env(&aws_from_env().await)?;
    let app = router(Arc::new(AppState {
        store,
        tenant_claim: tenant_claim(),
    }));
    lambda_http::run(app).await
}
