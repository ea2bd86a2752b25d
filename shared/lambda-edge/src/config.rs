//! Which store the function uses, from its environment, built once at cold
//! start: DynamoDB when `EVENTS_TABLE_PREFIX` is set (as `template.yaml`
//! sets it), otherwise the embedded SQLite file at `LEDGER_SQLITE_PATH`
//! (default `data/ledger.sqlite`). `AWS_ENDPOINT_URL` points the SDK at an
//! emulator.

use std::sync::Arc;

use event_store::EventStore;
use event_store_dynamodb::DynamoEventStore;
use event_store_dynamodb::schema::Tables;
use event_store_sqlite::SqliteEventStore;

/// The default JWT claim that carries the tenant id.
pub const TENANT_CLAIM_DEFAULT: &str = "tenant_id";

pub async fn store_from_env() -> Result<Arc<dyn EventStore>, String> {
    if let Ok(prefix) = std::env::var("EVENTS_TABLE_PREFIX") {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        return Ok(Arc::new(DynamoEventStore::from_config(
            &config,
            Tables::with_prefix(&prefix),
            None,
        )));
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
