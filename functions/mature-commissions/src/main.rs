//! The mature-commissions Lambda, run by an EventBridge schedule: matures up
//! to `MATURE_PER_RUN_MAX` due commissions per run; the next run resumes.

use event_store_dynamodb::DynamoEventStore;
use event_store_dynamodb::projection::{DynamoProjection, ProjectionTables};
use event_store_dynamodb::schema::Tables;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::config::init_logging();
    let events_prefix =
        std::env::var("EVENTS_TABLE_PREFIX").map_err(|_| "EVENTS_TABLE_PREFIX is not set")?;
    let projection_prefix = std::env::var("PROJECTION_TABLE_PREFIX")
        .map_err(|_| "PROJECTION_TABLE_PREFIX is not set")?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoEventStore::from_config(&config, Tables::with_prefix(&events_prefix), None);
    let schedule = DynamoProjection::new(
        aws_sdk_dynamodb::Client::new(&config),
        ProjectionTables::with_prefix(&projection_prefix),
    );
    let (store, schedule) = (&store, &schedule);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(
            mature_commissions::handle(store, schedule, &event.payload, chrono::Utc::now()).await?,
        )
    }))
    .await
}
