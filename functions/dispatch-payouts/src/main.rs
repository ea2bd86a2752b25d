//! The dispatch Lambda: SQS batches of payout items, partial failures
//! reported (`ReportBatchItemFailures`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use dispatch_payouts::handle_sqs;
use lambda_edge::config::{aws_from_env, init_logging, store_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_from_env().await;
    let store = store_from_env(&config)?;
    let s3 = std::env::var_os("SEPA_FILES_BUCKET").map(|_| file_store::s3_client(&config));
    let processors = processors::credentials::from_env(
        &config,
        processors::credentials::Settings::from_env(s3),
    )?;
    tracing::info!(processors = ?processors, "dispatch ready");
    let (store, processors) = (&store, &processors);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(handle_sqs(store, processors, event.payload).await)
    }))
    .await
}
