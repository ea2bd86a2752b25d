//! mature-commissions: one bounded maturing run per scheduled invocation.

use event_store::{EventStore, MaturitySchedule};
use ledger_app::{AppError, MATURE_PER_RUN_MAX, mature_due};
use serde_json::{Value, json};

/// Handles one scheduled event. The run's time is the schedule's `time`
/// when the event carries one (so a delayed invocation matures what was due
/// then and no more), else `now`.
pub async fn handle<S, M>(
    store: &S,
    schedule: &M,
    event: &Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, AppError>
where
    S: EventStore + ?Sized,
    M: MaturitySchedule + ?Sized,
{
    let at = event
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .filter(|t| *t <= now)
        .unwrap_or(now);
    let report = mature_due(store, schedule, at, MATURE_PER_RUN_MAX).await?;
    tracing::info!(
        matured = report.matured,
        settled = report.settled,
        failed = report.failed,
        "maturing run"
    );
    Ok(json!({"matured": report.matured, "settled": report.settled, "failed": report.failed}))
}
