//! The stack's background loop: the projector, the maturing job, the
//! in-process queues, the sandbox's notifications, the dropped files and
//! public events out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::sandbox::{deliver_sandbox_notifications, sandbox_webhook_secret};
use crate::{
    AWS_PROJECTOR_CHECKPOINT, Backend, EventsOut, LocalDispatchQueue, LocalQueue, StackError,
    sepa_status_inbox,
};

/// How often the projector looks for new events when idle.
pub const PROJECTOR_IDLE_MS: u64 = 100;
/// Events per projector step.
pub const PROJECTOR_BATCH: usize = 1000;

/// How long the projector waits after a failed step.
pub const PROJECTOR_RETRY_MS: u64 = 1_000;

/// How often the local stack runs the maturing job.
pub const MATURE_EVERY_MS: u64 = 2_000;

/// Runs the projector until `stop` resolves, then drains what is left, so
/// every acknowledged event is projected before the stack exits.
pub async fn run_projector(
    backend: Backend,
    workers: Workers,
    processors: Arc<processors::Processors>,
    notifications: Option<(Vec<u8>, Option<PathBuf>)>,
    reports: Option<(Arc<reporting::ReportFiles>, PathBuf)>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<u64, StackError> {
    let Workers {
        queue,
        dispatch,
        events_out,
    } = workers;
    let webhooks = notifications
        .as_ref()
        .map(|(key, _)| (backend.webhooks(key), sandbox_webhook_secret(key)));
    let inbox = notifications.and_then(|(_, files)| {
        files.map(|f| {
            // Status files answer the payment files the SEPA processor writes.
            let payment_files = processors
                .sepa
                .as_ref()
                .map(|s| s.store().clone())
                .unwrap_or_else(|| processors::sepa::FileStore::Directory(f.clone()));
            (sepa_status_inbox(&f), payment_files)
        })
    });
    let mut projected = 0u64;
    let mut last_maturing = tokio::time::Instant::now() - Duration::from_millis(MATURE_EVERY_MS);
    loop {
        // The maturing job, as the schedule runs it on AWS.
        if last_maturing.elapsed() >= Duration::from_millis(MATURE_EVERY_MS) && !*stop.borrow() {
            last_maturing = tokio::time::Instant::now();
            match backend.mature().await {
                Ok(report) if report.matured + report.settled + report.failed > 0 => {
                    tracing::info!(
                        matured = report.matured,
                        settled = report.settled,
                        failed = report.failed,
                        "maturing run"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "maturing run failed; retrying on the next run")
                }
            }
        }
        let events = match backend.project_step().await {
            Ok(events) => events,
            // The projector stays at an event it cannot project (never
            // skipping it) and says so, while the stack keeps serving.
            Err(e) if !*stop.borrow() => {
                tracing::error!(error = %e, "projection stopped; retrying");
                tokio::time::sleep(Duration::from_millis(PROJECTOR_RETRY_MS)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        projected += events as u64;
        // The local commissions queue, as the SQS event source would poll it.
        let delivered = queue.deliver(&backend).await;
        // The dispatch queue, as the dispatch-payouts function consumes it.
        let dispatched = dispatch.deliver(&backend, &processors).await;
        // The sandbox's notifications and the bank's status files.
        let mut notified = 0;
        if let Some((router, secret)) = &webhooks {
            notified += deliver_sandbox_notifications(router, &processors, secret).await;
        }
        if let Some((inbox, payment_files)) = &inbox {
            notified += backend.sepa_status_files(inbox, payment_files).await;
        }
        if let Some((reports, files_dir)) = &reports {
            notified += backend.reconcile_inbox(reports, files_dir).await;
        }
        // Public events out: webhooks and the live feed.
        let sent = match events_out.step(&backend).await {
            Ok(step) => step.public_events + step.passed_over + step.queued + step.delivered,
            Err(e) => {
                tracing::error!(error = %e, "webhook fan-out stopped; retrying");
                0
            }
        };
        if events > 0 || delivered > 0 || dispatched > 0 || notified > 0 || sent > 0 {
            continue;
        }
        if *stop.borrow() {
            return Ok(projected);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(PROJECTOR_IDLE_MS)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// What the stack's background loop works through besides projecting: the
/// in-process queues, as their event sources would poll them on AWS, and
/// public events out.
pub struct Workers {
    pub queue: LocalQueue,
    pub dispatch: LocalDispatchQueue,
    pub events_out: EventsOut,
}

impl Backend {
    /// One projector step; returns how many events it projected.
    async fn project_step(&self) -> Result<usize, StackError> {
        use event_store::EventStore;
        match self {
            Backend::Embedded(store) => {
                let report = store.project_ledger(PROJECTOR_BATCH).await?;
                if report.events > 0 {
                    tracing::info!(
                        events = report.events,
                        balance_writes = report.balance_writes,
                        position = report.position,
                        "projected"
                    );
                }
                Ok(report.events)
            }
            Backend::Aws { store, projection } => {
                let cursor = store.load_checkpoint(AWS_PROJECTOR_CHECKPOINT).await?;
                let page = store
                    .read_all(cursor.as_ref(), event_store::READ_LIMIT_MAX)
                    .await?;
                if page.events.is_empty() {
                    return Ok(0);
                }
                let report = projection
                    .project(&page.events)
                    .await
                    .map_err(|f| StackError::Store(f.error))?;
                store
                    .save_checkpoint(AWS_PROJECTOR_CHECKPOINT, &page.next)
                    .await?;
                tracing::info!(
                    events = report.events,
                    balance_writes = report.balance_writes,
                    "projected"
                );
                Ok(page.events.len())
            }
        }
    }

    async fn mature(&self) -> Result<ledger_app::MatureReport, ledger_app::AppError> {
        let (now, limit) = (chrono::Utc::now(), ledger_app::MATURE_PER_RUN_MAX);
        match self {
            Backend::Embedded(store) => ledger_app::mature_due(store, store, now, limit).await,
            Backend::Aws { store, projection } => {
                ledger_app::mature_due(store, projection, now, limit).await
            }
        }
    }
}
