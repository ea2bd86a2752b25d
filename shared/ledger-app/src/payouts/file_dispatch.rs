//! Dispatching an item of a processor paid by file (SEPA): one file per
//! batch and currency, written by the first dispatcher to need it.

use event_store::EventStore;
use ledger_domain::CommandContext;

use super::dispatch::{DispatchError, Dispatched, fail, order_for, submit};
use super::ports::{DispatchMessage, PaymentOrder, ProcessorError, SubmitBatchFile};
use super::profile::load_profile;

/// The file flow: write the batch's file if nobody has, then record this
/// item as submitted if the file holds it.
pub(super) async fn dispatch_by_file<S: EventStore + ?Sized>(
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
