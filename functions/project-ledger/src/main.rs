//! The project-ledger Lambda: DynamoDB Stream batches of the events table.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use event_store_dynamodb::projection::{DynamoProjection, ProjectionTables};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::config::init_logging();
    let prefix = std::env::var("PROJECTION_TABLE_PREFIX")
        .map_err(|_| "PROJECTION_TABLE_PREFIX is not set")?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let projection = DynamoProjection::new(
        aws_sdk_dynamodb::Client::new(&config),
        ProjectionTables::with_prefix(&prefix),
    );
    let projection = &projection;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<DynamoDbEventResponse, Error>(project_ledger::handle(projection, event.payload).await)
    }))
    .await
}
