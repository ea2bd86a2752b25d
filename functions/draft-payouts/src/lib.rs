//! Scheduled drafting: for each configured tenant, one bounded drafting run
//! (`MAX_BATCHES_PER_RUN`) as the scheduler (so any finance approver may
//! approve what it drafts). A run that stops at its bound needs no saved
//! position: what it drafted is reserved, so once projected those balances
//! have nothing available and the next run, reading from the start, goes
//! straight to what is left.

use chrono::{DateTime, Utc};
use event_store::{EventStore, PayoutReads};
use ledger_app::AppError;
use ledger_app::payouts::{DraftOptions, DraftReport, draft_payouts};
use ledger_domain::{Actor, ActorKind, CommandContext, PayoutRunId, TenantId};

/// The actor of scheduled drafts.
pub const SCHEDULER: &str = "draft-payouts";
/// Batches one scheduled run drafts per tenant at most.
pub const MAX_BATCHES_PER_RUN: usize = 40;

/// Parses `PAYOUT_TENANTS` (comma separated).
pub fn tenants(list: &str) -> Result<Vec<TenantId>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| TenantId::new(t).map_err(|e| format!("PAYOUT_TENANTS: {e}")))
        .collect()
}

/// Drafts for one tenant, up to the bound.
pub async fn draft_tenant<S, R>(
    store: &S,
    reads: &R,
    tenant_id: &TenantId,
    now: DateTime<Utc>,
) -> Result<DraftReport, AppError>
where
    S: EventStore + ?Sized,
    R: PayoutReads + ?Sized,
{
    let ctx = CommandContext {
        tenant_id: tenant_id.clone(),
        actor: Actor::new(ActorKind::Scheduler, SCHEDULER)
            .map_err(ledger_domain::PayoutBatchError::from)?,
        now,
        effective_at: now,
    };
    let mut options = DraftOptions::new(PayoutRunId::new(format!(
        "sched-{}",
        now.format("%Y%m%dT%H%M%S")
    ))?);
    options.max_batches = MAX_BATCHES_PER_RUN;
    draft_payouts(store, reads, &ctx, &options).await
}

/// One scheduled run over every tenant; a tenant's failure does not stop
/// the others. Returns a summary for the invocation's result.
pub async fn handle<S, R>(
    store: &S,
    reads: &R,
    tenants: &[TenantId],
    now: DateTime<Utc>,
) -> serde_json::Value
where
    S: EventStore + ?Sized,
    R: PayoutReads + ?Sized,
{
    let mut results = Vec::new();
    for tenant_id in tenants {
        match draft_tenant(store, reads, tenant_id, now).await {
            Ok(report) => {
                tracing::info!(tenant = %tenant_id, batches = report.batches.len(), items = report.items, skipped = report.skipped, resumes = report.next.is_some(), "scheduled draft");
                results.push(serde_json::json!({
                    "tenant_id": tenant_id.as_str(),
                    "batches": report.batches.len(),
                    "items": report.items,
                    "skipped": report.skipped,
                    "complete": report.next.is_none(),
                }));
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant_id, error = %e, "scheduled draft failed; the next run retries");
                results.push(
                    serde_json::json!({"tenant_id": tenant_id.as_str(), "error": e.to_string()}),
                );
            }
        }
    }
    serde_json::json!({ "tenants": results })
}
