//! Which store the function uses, from its environment, built once at cold
//! start: the DynamoDB tables `template.yaml` names (`EVENTS_TABLE_PREFIX`,
//! `PROJECTION_TABLE_PREFIX`, `WEBHOOKS_TABLE`). A bootstrap without them
//! refuses to start, naming the variable: there is no embedded fallback in a
//! Lambda (its file system is read-only, and a silently empty ledger is worse
//! than no start), and leaving SQLite out keeps it out of every bootstrap.
//! The embedded store serves the local stack, the CLI and the tests, which
//! build it themselves. `AWS_ENDPOINT_URL` points the SDK at an emulator.

pub use aws_config::SdkConfig;

use event_store_dynamodb::DynamoEventStore;
use event_store_dynamodb::projection::{DynamoProjection, ProjectionTables};
use event_store_dynamodb::schema::Tables;

/// The default JWT claim that carries the tenant id.
pub const TENANT_CLAIM_DEFAULT: &str = "tenant_id";

pub fn tenant_claim() -> String {
    std::env::var("TENANT_CLAIM").unwrap_or_else(|_| TENANT_CLAIM_DEFAULT.to_owned())
}

/// JSON logs for CloudWatch, filtered by `RUST_LOG`: a default level and
/// per-target levels (`info`, `warn,ledger_app=debug`), the `Targets`
/// syntax; unset or unreadable, `info`. (Not `EnvFilter`: its span and
/// field filters bring a regex engine into every bootstrap for a feature
/// no function uses.)
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .without_time()
        .finish()
        .with(filter)
        .try_init();
}

/// The filter `RUST_LOG` names, `info` when it is unset or unreadable.
fn log_filter(value: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    value
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
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
/// `AWS_ENDPOINT_URL`), loaded once per cold start: a function's main loads
/// it once and hands it to every client it builds (and the credentials
/// chain uses the same HTTP client).
pub async fn aws_from_env() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The SDK's HTTPS client: rustls on ring, the one crypto library of every
/// function (the SDK's default client would add aws-lc beside it), with
/// the system's root certificates. Plain HTTP (an emulator) works too.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The DynamoDB event store at `EVENTS_TABLE_PREFIX`: every function's
/// store (a caller that needs the port wraps it, `Arc<dyn EventStore>`).
pub fn store_from_env(config: &aws_config::SdkConfig) -> Result<DynamoEventStore, String> {
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
pub fn dispatch_queue_from_env(config: &aws_config::SdkConfig) -> Result<SqsDispatchQueue, String> {
    let url = required_env("DISPATCH_QUEUE_URL")?;
    Ok(SqsDispatchQueue::new(aws_sdk_sqs::Client::new(config), url))
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

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn rust_log_names_a_default_and_per_target_levels() {
        let filter = log_filter(Some("warn,ledger_app=debug"));
        assert!(filter.would_enable("ledger_app::payouts", &tracing::Level::DEBUG));
        assert!(!filter.would_enable("ledger_api", &tracing::Level::INFO));
        assert!(filter.would_enable("ledger_api", &tracing::Level::WARN));
        assert_eq!(
            log_filter(Some("error")).default_level(),
            Some(LevelFilter::ERROR)
        );
        for unset in [None, Some(""), Some("not a level=at all=")] {
            assert_eq!(
                log_filter(unset).default_level(),
                Some(LevelFilter::INFO),
                "{unset:?}"
            );
        }
    }
}
