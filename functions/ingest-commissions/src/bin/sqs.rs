//! The SQS Lambda: batches of commission messages, with partial batch
//! failure reporting (`ReportBatchItemFailures`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use ingest_commissions::handle_sqs;
use lambda_edge::config::{aws_from_env, init_logging, store_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let store = store_from_env(&aws_from_env().await)?;
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(handle_sqs(store, event.payload).await)
    }))
    .await
}
