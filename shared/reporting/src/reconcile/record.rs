//! Recording a run's mismatches as events, and the run in the tenant's
//! list of runs with mismatches.

use chrono::{DateTime, Utc};
use event_store::{AppendRequest, EventStore, StreamId};
use ledger_domain::events::{
    AggregateRef, EventBody, Processor, ReconciliationMismatchFound, ReconciliationRunRecorded,
    stream_name,
};
use ledger_domain::{Actor, ActorKind, Event, ReconciliationRunId, TenantId};

use super::Mismatch;
use crate::ReportError;
use crate::app;

/// The most mismatch events appended in one request.
const EVENTS_PER_APPEND: usize = 50;

pub(super) async fn record_mismatches<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
    processor: Processor,
    source_key: &str,
    run_id: &str,
    mismatches: &[Mismatch],
    now: DateTime<Utc>,
) -> Result<(), ReportError> {
    if mismatches.is_empty() {
        return Ok(());
    }
    let run = ReconciliationRunId::new(run_id).map_err(|e| ReportError::Invalid(e.to_string()))?;
    let stream = StreamId::new(stream_name(tenant_id, AggregateRef::Reconciliation(&run)))?;
    let actor = Actor::new(ActorKind::Scheduler, "reconcile")
        .map_err(|e| ReportError::Invalid(e.to_string()))?;
    let recorded = ledger_app::load(store, &stream).await.map_err(app)?.len();
    for (chunk_index, chunk) in mismatches.chunks(EVENTS_PER_APPEND).enumerate() {
        let first = chunk_index * EVENTS_PER_APPEND;
        if first + chunk.len() <= recorded {
            continue; // recorded by an earlier run of this report
        }
        let events: Vec<Event> = chunk
            .iter()
            .map(|m| {
                Event::new(
                    tenant_id.clone(),
                    actor.clone(),
                    now,
                    now,
                    EventBody::ReconciliationMismatchFound(ReconciliationMismatchFound {
                        run_id: run.clone(),
                        processor,
                        kind: m.kind.as_str().to_owned(),
                        report: source_key.chars().take(200).collect(),
                        line: m.line,
                        processor_reference: m
                            .processor_reference
                            .as_ref()
                            .map(|r| r.chars().take(200).collect()),
                        batch_id: m.batch_id.clone(),
                        item_id: m.item_id.clone(),
                        ledger_amount: m.ledger_amount,
                        report_amount: m.report_amount,
                    }),
                )
            })
            .collect();
        let request = AppendRequest::from_domain(first as u64, &events)?;
        match store.append(request).await {
            Ok(_) => {}
            // A concurrent run of the same report recorded it.
            Err(event_store::StoreError::VersionConflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    register_run(
        store,
        tenant_id,
        &actor,
        processor,
        source_key,
        &run,
        mismatches.len(),
        now,
    )
    .await
}

/// Adds the run to the tenant's list of runs with mismatches, once.
#[allow(clippy::too_many_arguments)]
async fn register_run<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
    actor: &Actor,
    processor: Processor,
    source_key: &str,
    run: &ReconciliationRunId,
    mismatches: usize,
    now: DateTime<Utc>,
) -> Result<(), ReportError> {
    let stream = StreamId::new(stream_name(tenant_id, AggregateRef::ReconciliationRuns))?;
    for _ in 0..5 {
        let known = ledger_app::load(store, &stream).await.map_err(app)?;
        if known.iter().any(
            |e| matches!(e.body(), EventBody::ReconciliationRunRecorded(r) if &r.run_id == run),
        ) {
            return Ok(());
        }
        let event = Event::new(
            tenant_id.clone(),
            actor.clone(),
            now,
            now,
            EventBody::ReconciliationRunRecorded(ReconciliationRunRecorded {
                run_id: run.clone(),
                processor,
                report: source_key.chars().take(200).collect(),
                mismatches: mismatches as u64,
            }),
        );
        let request = AppendRequest::from_domain(known.len() as u64, &[event])?;
        match store.append(request).await {
            Ok(_) => return Ok(()),
            // Another run registered meanwhile: look again.
            Err(event_store::StoreError::VersionConflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ReportError::Invalid(
        "the list of reconciliation runs kept changing".to_owned(),
    ))
}
