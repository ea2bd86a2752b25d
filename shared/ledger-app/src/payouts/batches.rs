//! Loading payout batches: one by id, and the tenant's batch ids in the
//! order they were drafted.

use event_store::{EventStore, StreamId};
use ledger_domain::events::{AggregateRef, EventBody, stream_name};
use ledger_domain::{PayoutBatch, PayoutBatchId, TenantId};

use crate::{AppError, load};

/// One payout batch, from its events.
pub async fn load_batch<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
    batch_id: &PayoutBatchId,
) -> Result<PayoutBatch, AppError> {
    let stream = StreamId::new(stream_name(tenant_id, AggregateRef::PayoutBatch(batch_id)))?;
    Ok(PayoutBatch::from_events(&load(store, &stream).await?))
}

/// The tenant's batches in the order they were drafted, from its
/// `payout-drafts` stream.
pub(super) async fn drafted_batch_ids<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
) -> Result<Vec<PayoutBatchId>, AppError> {
    let drafts = StreamId::new(stream_name(tenant_id, AggregateRef::PayoutDrafts))?;
    Ok(load(store, &drafts)
        .await?
        .iter()
        .filter_map(|stored| match stored.body() {
            EventBody::PayoutDraftRegistered(r) => Some(r.batch_id.clone()),
            _ => None,
        })
        .collect())
}
