//! Which store the function uses, from its environment, built once at cold
//! start: DynamoDB when `EVENTS_TABLE_PREFIX` is set (as `template.yaml`
//! sets it), otherwise the embedded SQLite file at `LEDGER_SQLITE_PATH`
//! (default `data/ledger.sqlite`). `AWS_ENDPOINT_URL` points the SDK at an
//! emulator.

use std::sync::Arc;

use event_store::EventStore;
use event_store_dynamodb::DynamoEventStore;
use event_store_dynamodb::projection::{DynamoProjection, ProjectionTables};
use event_store_dynamodb::schema::Tables;
use event_store_sqlite::SqliteEventStore;

/// The default JWT claim that carries the tenant id.
pub const TENANT_CLAIM_DEFAULT: &str = "tenant_id";

pub async fn store_from_env() -> Result<Arc<dyn EventStore>, String> {
    if std::env::var_os("EVENTS_TABLE_PREFIX").is_some() {
        return Ok(Arc::new(dynamo_store_from_env(&aws_from_env().await)?));
    }
    let path =
        std::env::var("LEDGER_SQLITE_PATH").unwrap_or_else(|_| "data/ledger.sqlite".to_owned());
    if let Some(dir) = std::path::Path::new(&path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    Ok(Arc::new(
        SqliteEventStore::open(&path).map_err(|e| e.to_string())?,
    ))
}

pub fn tenant_claim() -> String {
    std::env::var("TENANT_CLAIM").unwrap_or_else(|_| TENANT_CLAIM_DEFAULT.to_owned())
}

/// JSON logs for CloudWatch, filtered by `RUST_LOG` (default info).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .without_time()
        .try_init();
}

/// Dispatch messages to SQS: one message per payout item, sent in batches
/// of ten (SQS's limit), each entry's failure reported.
pub struct SqsDispatchQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDispatchQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: String) -> Self {
        SqsDispatchQueue { client, queue_url }
    }
}

#[async_trait::async_trait]
impl ledger_app::payouts::DispatchQueue for SqsDispatchQueue {
    async fn enqueue(
        &self,
        messages: &[ledger_app::payouts::DispatchMessage],
    ) -> Result<(), event_store::StoreError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let unavailable = |what: String| event_store::StoreError::Unavailable(what);
        for chunk in messages.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, m) in chunk.iter().enumerate() {
                let body = serde_json::to_string(m).map_err(|e| unavailable(e.to_string()))?;
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| unavailable(e.to_string()))?,
                );
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    unavailable(format!(
                        "send dispatch messages: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    ))
                })?;
            if let Some(failed) = out.failed().first() {
                return Err(unavailable(format!(
                    "send dispatch message {}: {}",
                    failed.id(),
                    failed.message().unwrap_or("refused")
                )));
            }
        }
        Ok(())
    }
}

/// A variable the function cannot start without.
pub fn required_env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

/// The AWS SDK configuration of the environment (region, credentials,
/// `AWS_ENDPOINT_URL`), loaded once at cold start.
pub async fn aws_from_env() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The DynamoDB event store at `EVENTS_TABLE_PREFIX`, for the functions
/// that only run on AWS (schedules and stream consumers).
pub fn dynamo_store_from_env(config: &aws_config::SdkConfig) -> Result<DynamoEventStore, String> {
    let prefix = required_env("EVENTS_TABLE_PREFIX")?;
    Ok(DynamoEventStore::from_config(
        config,
        Tables::with_prefix(&prefix),
        None,
    ))
}

/// The ledger projection's DynamoDB tables at `PROJECTION_TABLE_PREFIX`.
pub fn projection_from_env(config: &aws_config::SdkConfig) -> Result<DynamoProjection, String> {
    let prefix = required_env("PROJECTION_TABLE_PREFIX")?;
    Ok(DynamoProjection::new(
        aws_sdk_dynamodb::Client::new(config),
        ProjectionTables::with_prefix(&prefix),
    ))
}

/// The tenants' webhook endpoints and deliveries: the DynamoDB table
/// `WEBHOOKS_TABLE`.
pub fn webhooks_from_env(
    config: &aws_config::SdkConfig,
) -> Result<event_store_dynamodb::webhooks::DynamoWebhooks, String> {
    let name = required_env("WEBHOOKS_TABLE")?;
    Ok(event_store_dynamodb::webhooks::DynamoWebhooks::new(
        aws_sdk_dynamodb::Client::new(config),
        event_store_dynamodb::webhooks::WebhookTable { name },
    ))
}

/// The dispatch queue named by `DISPATCH_QUEUE_URL`.
pub async fn dispatch_queue_from_env() -> Result<SqsDispatchQueue, String> {
    let url = required_env("DISPATCH_QUEUE_URL")?;
    let config = aws_from_env().await;
    Ok(SqsDispatchQueue::new(
        aws_sdk_sqs::Client::new(&config),
        url,
    ))
}

/// Approval limits from `PAYOUT_APPROVAL_LIMITS` (JSON, see
/// `ledger_domain::ApprovalLimits::from_json`). Unset, there are none, and
/// every batch needs an admin's approval: a deployment states its limits.
pub fn approval_limits_from_env() -> Result<ledger_domain::ApprovalLimits, String> {
    approval_limits_or(None)
}

/// The local stack's limits when `PAYOUT_APPROVAL_LIMITS` is unset: the
/// demo program's currencies, so a second person can approve its batches
/// without an admin (and an admin is still needed above these).
pub const DEVELOPMENT_APPROVAL_LIMITS: &str = r#"{
  "EUR": {"item_max": "10000.00", "batch_total_max": "100000.00", "approver_daily_max": "250000.00"},
  "USD": {"item_max": "10000.00", "batch_total_max": "100000.00", "approver_daily_max": "250000.00"},
  "GBP": {"item_max": "10000.00", "batch_total_max": "100000.00", "approver_daily_max": "250000.00"},
  "JPY": {"item_max": "1500000", "batch_total_max": "15000000", "approver_daily_max": "37500000"},
  "KWD": {"item_max": "3000.000", "batch_total_max": "30000.000", "approver_daily_max": "75000.000"}
}"#;

/// Limits from `PAYOUT_APPROVAL_LIMITS`, or from `fallback` when it is
/// unset or empty (none at all without a fallback).
pub fn approval_limits_or(fallback: Option<&str>) -> Result<ledger_domain::ApprovalLimits, String> {
    match std::env::var("PAYOUT_APPROVAL_LIMITS") {
        Ok(json) if !json.trim().is_empty() => ledger_domain::ApprovalLimits::from_json(&json),
        _ => match fallback {
            Some(json) => ledger_domain::ApprovalLimits::from_json(json),
            None => Ok(ledger_domain::ApprovalLimits::default()),
        },
    }
}
