//! The dispatch Lambda: SQS batches of payout items, partial failures
//! reported (`ReportBatchItemFailures`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use dispatch_payouts::handle_sqs;
use lambda_edge::config::{aws_from_env, init_logging, store_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use processors::Processors;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_from_env().await;
    let store = store_from_env(&config)?;
    let s3 = match std::env::var("SEPA_FILES_BUCKET") {
        Ok(_) => {
            let s3 = aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(std::env::var("AWS_ENDPOINT_URL").is_ok())
                .build();
            Some(aws_sdk_s3::Client::from_conf(s3))
        }
        Err(_) => None,
    };
    let processors = Processors::from_env(s3)?;
    tracing::info!(processors = ?processors, "dispatch ready");
    let (store, processors) = (&store, &processors);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(handle_sqs(&**store, processors, event.payload).await)
    }))
    .await
}
