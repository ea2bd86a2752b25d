//! Pays approved payout items: one SQS message per item (`tenant_id`,
//! `batch_id`, `item_id`), each paid at most once through its processor,
//! from the tenant's own processor accounts where the deployment keeps
//! credentials per tenant (`processors::credentials`).
//!
//! A message whose payment outcome is unknown (a timeout, a 5xx) is
//! reported as a batch item failure: SQS redelivers it after the visibility
//! timeout; every attempt asks the processor before sending anything.
//! After the queue's receive count it lands in the dead-letter queue, where
//! finance sees it (an alarm is declared on it). A message that cannot be
//! read goes the same way: it is never silently dropped.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use event_store::EventStore;
use ledger_app::payouts::{DispatchMessage, Dispatched, TenantProcessors, dispatch_item};
use ledger_domain::{Actor, ActorKind, CommandContext};

/// The actor every dispatch event records.
pub const DISPATCHER: &str = "dispatch-payouts";

/// What one message came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    Done(Dispatched),
    /// Left on the queue to be retried (and dead-lettered when exhausted).
    Retry(String),
}

/// Handles one message.
pub async fn handle_message<S, P>(store: &S, processors: &P, message: &SqsMessage) -> MessageOutcome
where
    S: EventStore + ?Sized,
    P: TenantProcessors + ?Sized,
{
    let Some(body) = message.body.as_deref() else {
        return MessageOutcome::Retry("message has no body".into());
    };
    let dispatch: DispatchMessage = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => return MessageOutcome::Retry(format!("not a dispatch message: {e}")),
    };
    let now = Utc::now();
    let actor = match Actor::new(ActorKind::Processor, DISPATCHER)
        .and_then(|a| a.acting(None, message.message_id.as_deref()))
    {
        Ok(a) => a,
        Err(e) => return MessageOutcome::Retry(e.to_string()),
    };
    let ctx = CommandContext {
        tenant_id: dispatch.tenant_id.clone(),
        actor,
        now,
        effective_at: now,
    };
    // The tenant's own processor accounts where it has them: a lookup that
    // did not answer leaves the message to be retried, it fails nothing.
    let registry = match processors.for_tenant(&dispatch.tenant_id).await {
        Ok(registry) => registry,
        Err(e) => {
            return MessageOutcome::Retry(format!(
                "processors of tenant {}: {e}",
                dispatch.tenant_id
            ));
        }
    };
    match dispatch_item(store, &*registry, &dispatch, &ctx).await {
        Ok(done) => {
            tracing::info!(tenant = %dispatch.tenant_id, batch = %dispatch.batch_id, item = %dispatch.item_id, outcome = ?done, "payout item dispatched");
            MessageOutcome::Done(done)
        }
        Err(e) => MessageOutcome::Retry(e.to_string()),
    }
}

/// Handles a batch, reporting only the messages to retry.
pub async fn handle_sqs<S, P>(store: &S, processors: &P, event: SqsEvent) -> SqsBatchResponse
where
    S: EventStore + ?Sized,
    P: TenantProcessors + ?Sized,
{
    let mut failures = Vec::new();
    let (mut paid, mut submitted, mut failed, mut handled) = (0, 0, 0, 0);
    for message in &event.records {
        let outcome = handle_message(store, processors, message).await;
        match &outcome {
            MessageOutcome::Done(Dispatched::Submitted { paid: true, .. }) => paid += 1,
            MessageOutcome::Done(Dispatched::Submitted { .. }) => submitted += 1,
            MessageOutcome::Done(Dispatched::Failed { .. }) => failed += 1,
            MessageOutcome::Done(Dispatched::AlreadyHandled) => handled += 1,
            MessageOutcome::Retry(_) => {}
        }
        if let MessageOutcome::Retry(reason) = outcome {
            let id = message.message_id.clone().unwrap_or_default();
            tracing::warn!(message_id = %id, %reason, "payout item left for retry");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
        }
    }
    lambda_edge::metrics::Metrics::new("dispatch-payouts")
        .count("PayoutItemsPaid", paid)
        .count("PayoutItemsSubmitted", submitted)
        .count("PayoutItemsFailed", failed)
        .count("PayoutItemsAlreadyHandled", handled)
        .count("PayoutItemsRetried", failures.len())
        .emit();
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}
