//! Statement runs: the monthly schedule generates last month's statements
//! of every configured tenant (`STATEMENT_TENANTS`); an invocation with a
//! request generates one tenant's (or one affiliate's) for a given period,
//! with a reason. Each tenant's month follows its time zone. Runs go through
//! every balance row of the tenant, page by page; statements already
//! written with the same content are left as they are, so a retried run
//! writes only what is missing.

use chrono::{DateTime, Utc};
use event_store::{EventStore, LedgerReads};
use ledger_domain::{Actor, ActorKind, AffiliateId, TenantId};
use reporting::statement::{Period, TimeZones};
use reporting::statements::{RunScope, StatementRunReport, StatementStores, generate_statements};
use serde::Deserialize;

/// What an invocation asks for. An empty object (the schedule's) means
/// last month for every configured tenant.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StatementRequest {
    pub tenant_id: Option<String>,
    /// `YYYY-MM`; the last complete month in the tenant's zone if absent.
    pub period: Option<String>,
    pub affiliate_id: Option<String>,
    pub reason: Option<String>,
}

/// Parses `STATEMENT_TENANTS` (comma separated).
pub fn tenants(list: &str) -> Result<Vec<TenantId>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| TenantId::new(t).map_err(|e| format!("STATEMENT_TENANTS: {e}")))
        .collect()
}

/// Reads an invocation's payload: a scheduled event (EventBridge Scheduler
/// passes the target's input, `{}`), or a request.
pub fn request(payload: &serde_json::Value) -> Result<StatementRequest, String> {
    // The schedule passes its input (`{}`); an EventBridge envelope (a
    // rule or a schedule without input) means the same: last month.
    if payload.is_null()
        || payload
            .get("detail-type")
            .is_some_and(|t| t == "Scheduled Event")
    {
        return Ok(StatementRequest::default());
    }
    serde_json::from_value(payload.clone()).map_err(|e| format!("statement request: {e}"))
}

/// Runs a request; returns one report per tenant.
pub async fn handle<R: LedgerReads + ?Sized, S: EventStore + ?Sized>(
    stores: &StatementStores<'_, R, S>,
    zones: &TimeZones,
    configured: &[TenantId],
    request: &StatementRequest,
    now: DateTime<Utc>,
) -> Result<Vec<(TenantId, StatementRunReport)>, String> {
    let targets = match &request.tenant_id {
        Some(t) => vec![TenantId::new(t.as_str()).map_err(|e| format!("tenant_id: {e}"))?],
        None => configured.to_vec(),
    };
    let only = request
        .affiliate_id
        .as_deref()
        .map(AffiliateId::new)
        .transpose()
        .map_err(|e| format!("affiliate_id: {e}"))?;
    if only.is_some() && request.tenant_id.is_none() {
        return Err("affiliate_id needs tenant_id".to_owned());
    }
    let reason = match (&request.reason, &request.period) {
        (Some(r), _) => r.clone(),
        (None, None) => "scheduled month end".to_owned(),
        (None, Some(_)) => "on demand".to_owned(),
    };
    let mut out = Vec::new();
    for tenant_id in targets {
        let tz = zones.of(&tenant_id);
        let period = match &request.period {
            None => Period::previous_month(now, tz),
            Some(p) => Period::month(p, tz).map_err(|e| e.to_string())?,
        };
        let scope = RunScope {
            only: only.clone(),
            after: None,
            max_rows: 0,
        };
        let actor = Actor::new(ActorKind::Scheduler, "statements").map_err(|e| e.to_string())?;
        let report = generate_statements(stores, &tenant_id, &period, &scope, &reason, &actor, now)
            .await
            .map_err(|e| format!("{tenant_id}: {e}"))?;
        tracing::info!(tenant = %tenant_id, period = %report.period, created = report.created, unchanged = report.unchanged, empty = report.empty, failed = report.failed.len(), "statements generated");
        out.push((tenant_id, report));
    }
    Ok(out)
}
