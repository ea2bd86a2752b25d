//! mature-commissions: one maturing run per scheduled invocation, with no
//! cap on how many commissions it matures; it works until close to its time
//! budget and leaves the rest to the next run.

use std::time::{Duration, Instant, SystemTime};

use event_store::{EventStore, MaturitySchedule};
use ledger_app::{AppError, mature_until};
use serde_json::{Value, json};

/// How long before the invocation's deadline a run stops starting
/// maturities: room for the ones in flight (a few store calls each, with
/// the SDK's retries) and the report.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(10);

/// When a run whose invocation ends at `deadline` stops starting
/// maturities: `SAFETY_MARGIN` before it (right away when less is left).
pub fn stop_at(deadline: SystemTime) -> Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Instant::now() + left.saturating_sub(SAFETY_MARGIN)
}

/// Handles one scheduled event. The run's time is the schedule's `time`
/// when the event carries one (so a delayed invocation matures what was due
/// then and no more), else `now`. No maturity starts at or after `stop_at`.
pub async fn handle<S, M>(
    store: &S,
    schedule: &M,
    event: &Value,
    now: chrono::DateTime<chrono::Utc>,
    stop_at: Instant,
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
    let report = mature_until(store, schedule, at, stop_at).await?;
    tracing::info!(
        matured = report.matured,
        settled = report.settled,
        failed = report.failed,
        more = report.more,
        "maturing run"
    );
    Ok(json!({
        "matured": report.matured,
        "settled": report.settled,
        "failed": report.failed,
        "more": report.more,
    }))
}
