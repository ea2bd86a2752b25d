//! Maturing due commissions: reading the maturity schedule page by page and
//! maturing each entry, a bounded number at a time, within a time budget.

use chrono::{DateTime, Utc};
use event_store::{EventStore, READ_LIMIT_MAX};
use ledger_domain::{CommandContext, CommissionCommand, CommissionError, CommissionId};

use crate::{AppError, run_commission};

/// The most due commissions one page reads: one `mature_due` call, and each
/// page of a `mature_until` run (a run reads page after page).
pub const MATURE_PER_RUN_MAX: usize = 500;

/// How many commissions a run matures at once. Each maturity is a few
/// store calls; more at once would only queue behind the store's own limits.
pub const MATURE_CONCURRENCY: usize = 16;

/// The most entries a `mature_until` run leaves failed before it stops: a
/// failed entry stays at the head of the schedule, so each one widens the
/// next page by one (`MATURE_PER_RUN_MAX` + this stays within a read).
pub const MATURE_FAILED_MAX: usize = READ_LIMIT_MAX - MATURE_PER_RUN_MAX;

/// What one maturing run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatureReport {
    pub matured: usize,
    /// Already matured, or reversed entirely: removed from the schedule.
    pub settled: usize,
    /// Left for the next run (store trouble); never lost.
    pub failed: usize,
    /// Due commissions are left that this run did not try (its time was up,
    /// or too many failed): the next run carries on.
    pub more: bool,
}

/// What became of one due commission.
enum Outcome {
    Matured,
    Settled,
    Failed,
    /// The run's time was up before it started.
    NotTried,
}

/// Matures up to `limit` due commissions (one page), `MATURE_CONCURRENCY`
/// at a time. `more` is set when the page was full.
pub async fn mature_due<S, M>(
    store: &S,
    schedule: &M,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<MatureReport, AppError>
where
    S: EventStore + ?Sized,
    M: event_store::MaturitySchedule + ?Sized,
{
    let limit = limit.min(MATURE_PER_RUN_MAX);
    let page = schedule.due(now, limit).await?;
    let mut report = MatureReport {
        more: page.len() == limit,
        ..MatureReport::default()
    };
    let outcomes = mature_page(store, schedule, now, page, None).await?;
    for (_, outcome) in outcomes {
        count(&mut report, &outcome);
    }
    Ok(report)
}

/// Matures every commission due at `now`, page after page and
/// `MATURE_CONCURRENCY` at a time, with no cap on how many: it starts no
/// maturity at or after `stop_at` (the caller's time budget less a safety
/// margin), and then reports `more` if due commissions are left. Entries
/// that fail stay in the schedule for the next run and are not retried in
/// this one.
pub async fn mature_until<S, M>(
    store: &S,
    schedule: &M,
    now: DateTime<Utc>,
    stop_at: std::time::Instant,
) -> Result<MatureReport, AppError>
where
    S: EventStore + ?Sized,
    M: event_store::MaturitySchedule + ?Sized,
{
    let mut report = MatureReport::default();
    let mut failed = std::collections::HashSet::new();
    loop {
        let page = schedule.due(now, MATURE_PER_RUN_MAX + failed.len()).await?;
        let fresh: Vec<_> = page
            .into_iter()
            .filter(|d| !failed.contains(&d.slot))
            .collect();
        if fresh.is_empty() {
            return Ok(report);
        }
        if std::time::Instant::now() >= stop_at || failed.len() >= MATURE_FAILED_MAX {
            report.more = true;
            return Ok(report);
        }
        for (slot, outcome) in mature_page(store, schedule, now, fresh, Some(stop_at)).await? {
            match outcome {
                Outcome::Failed => {
                    failed.insert(slot);
                }
                Outcome::Matured | Outcome::Settled | Outcome::NotTried => {}
            }
            count(&mut report, &outcome);
        }
        if report.more {
            return Ok(report);
        }
    }
}

fn count(report: &mut MatureReport, outcome: &Outcome) {
    match outcome {
        Outcome::Matured => report.matured += 1,
        Outcome::Settled => report.settled += 1,
        Outcome::Failed => report.failed += 1,
        Outcome::NotTried => report.more = true,
    }
}

/// Matures one page, `MATURE_CONCURRENCY` at a time; none starts at or
/// after `stop_at`. Each entry is a distinct commission, so the ones in
/// flight never race each other.
async fn mature_page<S, M>(
    store: &S,
    schedule: &M,
    now: DateTime<Utc>,
    page: Vec<event_store::DueCommission>,
    stop_at: Option<std::time::Instant>,
) -> Result<Vec<(String, Outcome)>, AppError>
where
    S: EventStore + ?Sized,
    M: event_store::MaturitySchedule + ?Sized,
{
    use futures::stream::{self, StreamExt, TryStreamExt};
    stream::iter(page)
        .map(|due| async move {
            if stop_at.is_some_and(|t| std::time::Instant::now() >= t) {
                return Ok((due.slot, Outcome::NotTried));
            }
            let outcome = mature_one(store, schedule, now, &due).await?;
            Ok::<_, AppError>((due.slot, outcome))
        })
        .buffer_unordered(MATURE_CONCURRENCY)
        .try_collect()
        .await
}

async fn mature_one<S, M>(
    store: &S,
    schedule: &M,
    now: DateTime<Utc>,
    due: &event_store::DueCommission,
) -> Result<Outcome, AppError>
where
    S: EventStore + ?Sized,
    M: event_store::MaturitySchedule + ?Sized,
{
    let ids = (
        ledger_domain::TenantId::new(&due.tenant_id),
        CommissionId::new(&due.commission_id),
    );
    let (Ok(tenant_id), Ok(commission_id)) = ids else {
        // Not an id this system writes: nothing can mature it.
        schedule.remove(due).await?;
        return Ok(Outcome::Settled);
    };
    let ctx = CommandContext {
        tenant_id,
        actor: ledger_domain::Actor {
            kind: ledger_domain::ActorKind::Scheduler,
            id: "mature-commissions".to_owned(),
            role: None,
            request_id: None,
        },
        now,
        effective_at: due.matures_at,
    };
    match run_commission(store, &commission_id, CommissionCommand::Mature, &ctx, None).await {
        Ok(_) => {
            schedule.remove(due).await?;
            Ok(Outcome::Matured)
        }
        Err(AppError::Commission(
            CommissionError::AlreadyMatured(_)
            | CommissionError::NothingToMature(_)
            | CommissionError::NotRecorded,
        )) => {
            schedule.remove(due).await?;
            Ok(Outcome::Settled)
        }
        // The hold moved (an earlier, later-dated recording) or the store
        // is busy: the entry stays for the next run.
        Err(_) => Ok(Outcome::Failed),
    }
}
