//! The SEPA status files Lambda: S3 `ObjectCreated` events for pain.002 and
//! camt.054 files; each transaction is recorded against its item once. A
//! file that cannot be read fails the invocation (S3 retries, then the
//! event goes to the function's failure destination).

use aws_lambda_events::event::s3::S3Event;
use lambda_edge::config::{init_logging, store_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let store = store_from_env().await?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let (store, s3) = (&store, &s3);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        let mut recorded = 0;
        for record in event.payload.records {
            let (Some(bucket), Some(key)) = (record.s3.bucket.name, record.s3.object.key) else {
                continue;
            };
            let object = s3.get_object().bucket(&bucket).key(&key).send().await?;
            let bytes = object.body.collect().await?.into_bytes();
            recorded += processor_webhooks::handle_sepa_file(&**store, &key, &bytes)
                .await?
                .len();
        }
        Ok::<serde_json::Value, Error>(serde_json::json!({ "recorded": recorded }))
    }))
    .await
}
