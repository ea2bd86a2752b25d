//! The draft-payouts Lambda, run by an EventBridge schedule.

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
    let tenants = draft_payouts::tenants(&std::env::var("PAYOUT_TENANTS").unwrap_or_default())?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoEventStore::from_config(&config, Tables::with_prefix(&events_prefix), None);
    let reads = DynamoProjection::new(
        aws_sdk_dynamodb::Client::new(&config),
        ProjectionTables::with_prefix(&projection_prefix),
    );
    let (store, reads, tenants) = (&store, &reads, &tenants);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(draft_payouts::handle(store, reads, tenants, chrono::Utc::now()).await)
    }))
    .await
}
