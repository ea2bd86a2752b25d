//! The draft-payouts Lambda, run by an EventBridge schedule.

use lambda_edge::config::{aws_from_env, projection_from_env, store_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::config::init_logging();
    let tenants = draft_payouts::tenants(&std::env::var("PAYOUT_TENANTS").unwrap_or_default())?;
    let config = aws_from_env().await;
    let store = store_from_env(&config)?;
    let reads = projection_from_env(&config)?;
    let (store, reads, tenants) = (&store, &reads, &tenants);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(draft_payouts::handle(store, reads, tenants, chrono::Utc::now()).await)
    }))
    .await
}
