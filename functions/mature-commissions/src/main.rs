//! The mature-commissions Lambda, run by an EventBridge schedule: matures up
//! to `MATURE_PER_RUN_MAX` due commissions per run; the next run resumes.

use lambda_edge::config::{aws_from_env, dynamo_store_from_env, projection_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::config::init_logging();
    let config = aws_from_env().await;
    let store = dynamo_store_from_env(&config)?;
    let schedule = projection_from_env(&config)?;
    let (store, schedule) = (&store, &schedule);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(
            mature_commissions::handle(store, schedule, &event.payload, chrono::Utc::now()).await?,
        )
    }))
    .await
}
