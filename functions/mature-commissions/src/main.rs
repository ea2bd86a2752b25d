//! The mature-commissions Lambda, run by an EventBridge schedule every
//! minute: each run matures due commissions, `MATURE_CONCURRENCY` at a
//! time and with no cap on how many, until `SAFETY_MARGIN` before the
//! invocation's deadline.
//!
//! What a run leaves (`"more": true`) is handed on to the next scheduled
//! run rather than to a self-invocation or a queue fan-out: a run a minute
//! working close to its whole budget drains far more than the daily volume
//! needs, needs no `lambda:InvokeFunction` permission and no extra SDK
//! client, cannot loop on itself, and a failed or lost run costs one
//! minute. Two runs overlapping is harmless: maturing a commission twice is
//! refused by its stream, and the second removes the entry as settled.

use lambda_edge::config::{aws_from_env, projection_from_env, store_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::config::init_logging();
    let config = aws_from_env().await;
    let store = store_from_env(&config)?;
    let schedule = projection_from_env(&config)?;
    let (store, schedule) = (&store, &schedule);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let stop_at = mature_commissions::stop_at(event.context.deadline());
        Ok::<Value, Error>(
            mature_commissions::handle(
                store,
                schedule,
                &event.payload,
                chrono::Utc::now(),
                stop_at,
            )
            .await?,
        )
    }))
    .await
}
