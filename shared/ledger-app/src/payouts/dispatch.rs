//! Dispatching one payout item to its processor, exactly once: claiming
//! it, asking the processor (or writing its batch's file, for a processor
//! paid by file: SEPA), and recording what it answered.

use event_store::EventStore;
use ledger_domain::events::DraftedItem;
use ledger_domain::payout::ItemStatus;
use ledger_domain::{
    CommandContext, ItemOutcome, OutcomeFacts, PayoutBatchCommand, PayoutBatchId, PayoutMethod,
    TenantId,
};

use super::batches::load_batch;
use super::ports::{
    DispatchMessage, FetchPaymentStatus, PaymentOrder, PaymentStatus, ProcessorError,
    ProcessorPorts, ProcessorRegistry, SubmitBatchFile, SubmitPayment,
};
use super::profile::load_profile;
use crate::AppError;

/// What dispatching one item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatched {
    /// Sent (accepted, or already paid by the processor's answer).
    Submitted { reference: String, paid: bool },
    /// The processor refused it, or it cannot be paid as drafted: the
    /// money went back to available.
    Failed { reason: String },
    /// Already sent or settled earlier (a redelivered message), or its
    /// batch is not payable: nothing done.
    AlreadyHandled,
}

/// Why dispatching must be retried later (the message stays queued).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("payment outcome unknown, will ask again: {0}")]
    Unknown(String),
    /// Another dispatcher holds the item (a redelivery racing the first
    /// delivery): left to it; the message comes back after the queue's
    /// visibility timeout and finds the item settled or the lease over.
    #[error("item is being sent by another dispatcher until {0}")]
    InFlight(chrono::DateTime<chrono::Utc>),
    /// The item cannot be sent as it stands, and an earlier attempt whose
    /// outcome nobody recorded may have paid it: failing it would put its
    /// money back on available beside a payment that may exist. Held (the
    /// message is retried, then dead-lettered for a person) until the
    /// processor's own news settles it.
    #[error("held, neither sent nor failed: {0}; an earlier attempt's outcome is unknown")]
    Held(String),
    #[error(transparent)]
    App(#[from] AppError),
}

/// Pays one item, exactly once (see the module documentation). `ctx`'s
/// actor is the dispatcher. The processor is always asked first: an
/// earlier attempt (a redelivery, a re-drive, a second message for the same
/// item) may have reached it with an outcome nobody recorded.
pub async fn dispatch_item<S, P>(
    store: &S,
    processors: &P,
    message: &DispatchMessage,
    ctx: &CommandContext,
) -> Result<Dispatched, DispatchError>
where
    S: EventStore + ?Sized,
    P: ProcessorRegistry + ?Sized,
{
    let batch = load_batch(store, &message.tenant_id, &message.batch_id).await?;
    let Some(state) = batch.state() else {
        return Ok(Dispatched::AlreadyHandled);
    };
    if state.status != ledger_domain::payout::BatchStatus::Approved {
        return Ok(Dispatched::AlreadyHandled);
    }
    let Some(item) = state
        .items
        .iter()
        .find(|i| i.drafted.item_id == message.item_id)
    else {
        return Ok(Dispatched::AlreadyHandled);
    };
    if item.status != ItemStatus::Awaiting {
        return Ok(Dispatched::AlreadyHandled);
    }
    let drafted = &item.drafted;
    // A claim was taken before: an attempt reached (or may have reached)
    // the processor, with an outcome nobody recorded.
    let attempted = item.claim.is_some();
    let profile = load_profile(store, &message.tenant_id, &drafted.affiliate_id).await?;
    let method = match profile.profile().method.clone() {
        Some(method) if method.processor() == drafted.processor => method,
        Some(_) => {
            return refuse(
                store,
                message,
                ctx,
                attempted,
                "the payout method changed to another processor after drafting",
            )
            .await;
        }
        None => {
            return refuse(
                store,
                message,
                ctx,
                attempted,
                "the affiliate has no payout method",
            )
            .await;
        }
    };
    // The money goes where the approver saw it go, or nowhere.
    if let Some(destination) = &drafted.destination {
        if method.fingerprint() != destination.fingerprint {
            return refuse(
                store,
                message,
                ctx,
                attempted,
                &format!(
                    "the payout method changed after drafting: this item pays only the approved destination {}",
                    destination.masked
                ),
            )
            .await;
        }
    }
    // Take the item before any processor call, so that two deliveries of
    // the same message never both submit; the claim names the account it
    // would pay from, and is refused if an earlier attempt named another.
    let claim_id = claim_id(ctx);
    let ports = processors.ports(drafted.processor);
    let account = match &ports {
        Some(ProcessorPorts::Api { submit, .. }) => submit.paying_account(),
        _ => None,
    };
    match claim(store, message, &claim_id, account, ctx).await {
        Ok(()) => {}
        Err(AppError::PayoutBatch(ledger_domain::PayoutBatchError::Claimed {
            lease_until,
            ..
        })) => {
            return Err(DispatchError::InFlight(lease_until));
        }
        Err(AppError::PayoutBatch(ledger_domain::PayoutBatchError::AlreadySubmitted(_))) => {
            return Ok(Dispatched::AlreadyHandled);
        }
        Err(e) => return Err(e.into()),
    }
    let result = dispatch_claimed(
        store, ports, message, state, drafted, method, attempted, ctx,
    )
    .await;
    if matches!(
        result,
        Err(DispatchError::Unknown(_) | DispatchError::Held(_))
    ) {
        // Let the retry take it at once; if this fails, the lease ends.
        let _ = crate::run_payout_batch(
            store,
            &message.batch_id,
            PayoutBatchCommand::Release {
                item_id: message.item_id.clone(),
                claim_id,
            },
            ctx,
            None,
        )
        .await;
    }
    result
}

/// The processor part of a dispatch, once the item is claimed: through
/// `ports`, the item's processor as the registry has it (`None`: not
/// configured); `attempted`: an earlier attempt claimed it before.
#[allow(clippy::too_many_arguments)]
async fn dispatch_claimed<S>(
    store: &S,
    ports: Option<ProcessorPorts<'_>>,
    message: &DispatchMessage,
    state: &ledger_domain::payout::DraftedBatch,
    drafted: &DraftedItem,
    method: PayoutMethod,
    attempted: bool,
    ctx: &CommandContext,
) -> Result<Dispatched, DispatchError>
where
    S: EventStore + ?Sized,
{
    let Some(ports) = ports else {
        return refuse(
            store,
            message,
            ctx,
            attempted,
            &format!("processor {} is not configured", drafted.processor.as_str()),
        )
        .await;
    };
    let order = order_for(&message.tenant_id, &message.batch_id, drafted, method);
    let (submit, status) = match ports {
        ProcessorPorts::Api { submit, status } => (submit, status),
        ProcessorPorts::File(file) => {
            return dispatch_by_file(store, file, message, state, &order, ctx).await;
        }
    };
    let ports = ApiPorts { submit, status };
    // A previous attempt may have paid and crashed before recording it:
    // ask first, so a retry never pays twice even without the key.
    let answer = match ports.status.status(&order).await {
        Ok(Some(status)) => status,
        Ok(None) => match ports.submit.submit(&order).await {
            Ok(status) => status,
            Err(ProcessorError::Unknown(detail)) => match ports.status.status(&order).await {
                Ok(Some(status)) => status,
                Ok(None) | Err(ProcessorError::Unknown(_)) => {
                    return Err(DispatchError::Unknown(detail));
                }
                Err(ProcessorError::Invalid(reason)) => {
                    return fail(store, message, ctx, &reason).await;
                }
            },
            Err(ProcessorError::Invalid(reason)) => {
                return fail(store, message, ctx, &reason).await;
            }
        },
        Err(ProcessorError::Unknown(detail)) => return Err(DispatchError::Unknown(detail)),
        Err(ProcessorError::Invalid(reason)) => return fail(store, message, ctx, &reason).await,
    };
    record(store, message, ctx, answer).await
}

struct ApiPorts<'a> {
    submit: &'a dyn SubmitPayment,
    status: &'a dyn FetchPaymentStatus,
}

pub(super) fn order_for(
    tenant_id: &TenantId,
    batch_id: &PayoutBatchId,
    drafted: &DraftedItem,
    method: PayoutMethod,
) -> PaymentOrder {
    PaymentOrder {
        tenant_id: tenant_id.clone(),
        batch_id: batch_id.clone(),
        item_id: drafted.item_id.clone(),
        affiliate_id: drafted.affiliate_id.clone(),
        amount: drafted.amount,
        method,
        idempotency_key: format!("{tenant_id}:{}", drafted.item_id),
        reference: None,
    }
}

/// How long a dispatcher holds an item: longer than one dispatch
/// function's run (its timeout), so a live call is never overtaken.
pub const DISPATCH_LEASE_SECONDS: i64 = 300;

/// One id per dispatch attempt: the actor and request, the time and a
/// counter of this process, so two attempts never share a claim.
fn claim_id(ctx: &CommandContext) -> String {
    static ATTEMPTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = ctx.now.timestamp_nanos_opt().unwrap_or_default();
    let id: String = format!(
        "{}:{}:{nanos}:{n}:{}",
        ctx.actor.id,
        ctx.actor.request_id.as_deref().unwrap_or("-"),
        std::process::id()
    );
    id.chars()
        .take(ledger_domain::events::TEXT_LEN_MAX)
        .collect()
}

async fn claim<S: EventStore + ?Sized>(
    store: &S,
    message: &DispatchMessage,
    claim_id: &str,
    account: Option<String>,
    ctx: &CommandContext,
) -> Result<(), AppError> {
    crate::run_payout_batch(
        store,
        &message.batch_id,
        PayoutBatchCommand::Claim {
            item_id: message.item_id.clone(),
            claim_id: claim_id.to_owned(),
            lease_until: ctx.now + chrono::Duration::seconds(DISPATCH_LEASE_SECONDS),
            account,
        },
        ctx,
        None,
    )
    .await?;
    Ok(())
}

async fn record<S: EventStore + ?Sized>(
    store: &S,
    message: &DispatchMessage,
    ctx: &CommandContext,
    answer: PaymentStatus,
) -> Result<Dispatched, DispatchError> {
    match answer {
        PaymentStatus::Accepted { reference } => {
            submit(store, message, ctx, &reference).await?;
            Ok(Dispatched::Submitted {
                reference,
                paid: false,
            })
        }
        PaymentStatus::Paid { reference } => {
            submit(store, message, ctx, &reference).await?;
            crate::run_payout_batch(
                store,
                &message.batch_id,
                PayoutBatchCommand::RecordOutcome {
                    item_id: message.item_id.clone(),
                    outcome: ItemOutcome::Paid,
                    processor_event_id: None,
                    reason: None,
                    facts: OutcomeFacts::default(),
                },
                ctx,
                None,
            )
            .await?;
            Ok(Dispatched::Submitted {
                reference,
                paid: true,
            })
        }
        PaymentStatus::Failed { reason, .. } => fail(store, message, ctx, &reason).await,
    }
}

pub(super) async fn submit<S: EventStore + ?Sized>(
    store: &S,
    message: &DispatchMessage,
    ctx: &CommandContext,
    reference: &str,
) -> Result<(), AppError> {
    crate::run_payout_batch(
        store,
        &message.batch_id,
        PayoutBatchCommand::Submit {
            item_id: message.item_id.clone(),
            processor_reference: Some(reference.to_owned()),
        },
        ctx,
        None,
    )
    .await?;
    Ok(())
}

/// An item that cannot be sent as it stands: failed (its money back on
/// available) if it was never attempted, else held (see
/// [`DispatchError::Held`]).
async fn refuse<S: EventStore + ?Sized>(
    store: &S,
    message: &DispatchMessage,
    ctx: &CommandContext,
    attempted: bool,
    reason: &str,
) -> Result<Dispatched, DispatchError> {
    if attempted {
        return Err(DispatchError::Held(reason.to_owned()));
    }
    fail(store, message, ctx, reason).await
}

pub(super) async fn fail<S: EventStore + ?Sized>(
    store: &S,
    message: &DispatchMessage,
    ctx: &CommandContext,
    reason: &str,
) -> Result<Dispatched, DispatchError> {
    let reason: String = reason
        .chars()
        .take(ledger_domain::events::TEXT_LEN_MAX / 4)
        .collect();
    crate::run_payout_batch(
        store,
        &message.batch_id,
        PayoutBatchCommand::RecordOutcome {
            item_id: message.item_id.clone(),
            outcome: ItemOutcome::Failed,
            processor_event_id: None,
            reason: Some(reason.clone()),
            facts: OutcomeFacts::default(),
        },
        ctx,
        None,
    )
    .await?;
    Ok(Dispatched::Failed { reason })
}

/// The file flow: write the batch's file if nobody has, then record this
/// item as submitted if the file holds it.
async fn dispatch_by_file<S: EventStore + ?Sized>(
    store: &S,
    file: &dyn SubmitBatchFile,
    message: &DispatchMessage,
    state: &ledger_domain::payout::DraftedBatch,
    order: &PaymentOrder,
    ctx: &CommandContext,
) -> Result<Dispatched, DispatchError> {
    let currency = order.amount.currency();
    let key = file.file_key(&message.tenant_id, &message.batch_id, currency);
    let unknown = |e: ProcessorError| match e {
        ProcessorError::Unknown(d) => DispatchError::Unknown(d),
        ProcessorError::Invalid(d) => DispatchError::Unknown(format!("batch file: {d}")),
    };
    let ids = match file.payment_ids(&key).await.map_err(unknown)? {
        Some(ids) => ids,
        None => {
            // Every item of this processor and currency, whatever its state,
            // so that every dispatcher would write the same file.
            let processor = order.method.processor();
            let mut orders = Vec::new();
            for item in &state.items {
                let d = &item.drafted;
                if d.processor != processor || d.amount.currency() != currency {
                    continue;
                }
                let profile = load_profile(store, &message.tenant_id, &d.affiliate_id).await?;
                match profile.profile().method.clone() {
                    Some(method)
                        if method.processor() == processor
                            && d.destination
                                .as_ref()
                                .is_none_or(|dest| dest.fingerprint == method.fingerprint()) =>
                    {
                        orders.push(order_for(&message.tenant_id, &message.batch_id, d, method));
                    }
                    // Left out: its own dispatch fails it (money back).
                    _ => {}
                }
            }
            file.write(&key, &orders).await.map_err(unknown)?
        }
    };
    let id = file.payment_id(order);
    if ids.contains(&id) {
        let reference = format!("{key}#{id}");
        submit(store, message, ctx, &reference).await?;
        Ok(Dispatched::Submitted {
            reference,
            paid: false,
        })
    } else {
        fail(
            store,
            message,
            ctx,
            "not in the batch's payment file (no valid payout method when it was written)",
        )
        .await
    }
}
