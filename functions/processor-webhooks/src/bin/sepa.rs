//! The SEPA status files Lambda: S3 `ObjectCreated` events for pain.002 and
//! camt.054 files under `sepa-status/`. A file is checked against the
//! pain.001 files this system wrote (`SEPA_FILES_BUCKET`, the same bucket):
//! one that answers them has each transaction recorded against its item
//! once; any other is quarantined whole under `sepa-quarantine/` with the
//! rule it broke, nothing recorded, and the invocation succeeds (a retry
//! would not change the file). Store or S3 trouble fails the invocation:
//! Lambda retries it, then sends the event to the function's failure
//! destination (a queue with an alarm).

use aws_lambda_events::event::s3::S3Event;
use lambda_edge::config::{aws_from_env, init_logging, store_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use processor_webhooks::SepaFileOutcome;
use processors::sepa::FileStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_from_env().await;
    let store = store_from_env(&config)?;
    let s3 = file_store::s3_client(&config);
    let bucket = std::env::var("SEPA_FILES_BUCKET").map_err(|_| "SEPA_FILES_BUCKET is not set")?;
    let files = FileStore::S3 {
        client: s3,
        bucket: bucket.clone(),
    };
    let (store, files, bucket) = (&store, &files, &bucket);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        let (mut recorded, mut quarantined) = (0, 0);
        for record in event.payload.records {
            let (Some(source), Some(key)) = (record.s3.bucket.name, record.s3.object.key) else {
                continue;
            };
            if &source != bucket {
                tracing::warn!(%source, %key, "a status file from another bucket; not read");
                continue;
            }
            // Keys are plain `[A-Za-z0-9._/-]` (S3 encodes nothing else);
            // any other key is refused by the file store's key check.
            let Some(bytes) = files.read(&key).await? else {
                tracing::warn!(%key, "the status file is gone; nothing to record");
                continue;
            };
            match processor_webhooks::handle_sepa_file(store, files, &key, &bytes).await? {
                SepaFileOutcome::Recorded(notices) => recorded += notices.len(),
                SepaFileOutcome::Quarantined { .. } => quarantined += 1,
            }
        }
        Ok::<serde_json::Value, Error>(
            serde_json::json!({ "recorded": recorded, "quarantined": quarantined }),
        )
    }))
    .await
}
