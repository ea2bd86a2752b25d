//! The project-ledger Lambda: DynamoDB Stream batches of the events table.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_edge::config::{aws_from_env, projection_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::config::init_logging();
    let projection = projection_from_env(&aws_from_env().await)?;
    let projection = &projection;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<DynamoDbEventResponse, Error>(
            project_ledger::handle(projection, event.payload)
                .await
                .response,
        )
    }))
    .await
}
