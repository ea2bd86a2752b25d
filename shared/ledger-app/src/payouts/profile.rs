//! Affiliates' payout profiles: changing one, and loading it from its events.

use event_store::{AppendRequest, EventStore, StoreError, StreamId};
use ledger_domain::events::{AggregateRef, stream_name};
use ledger_domain::{
    AffiliateId, CommandContext, Event, ProfileAggregate, ProfileChange, TenantId,
};

use crate::{AppError, COMMAND_ATTEMPTS_MAX, load};

/// Runs a change against an affiliate's payout profile.
pub async fn change_profile<S: EventStore + ?Sized>(
    store: &S,
    affiliate_id: &AffiliateId,
    change: ProfileChange,
    ctx: &CommandContext,
) -> Result<Vec<Event>, AppError> {
    let stream = StreamId::new(stream_name(
        &ctx.tenant_id,
        AggregateRef::PayoutProfile(affiliate_id),
    ))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let history = load(store, &stream).await?;
        let aggregate = ProfileAggregate::from_events(&history);
        let events = aggregate.handle(affiliate_id, change.clone(), ctx)?;
        if events.is_empty() {
            return Ok(events);
        }
        let request = AppendRequest::from_domain(aggregate.version(), &events)?;
        match store.append(request).await {
            Ok(_) => return Ok(events),
            Err(StoreError::VersionConflict { .. }) if attempt < COMMAND_ATTEMPTS_MAX => {
                crate::after_conflict(attempt).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// An affiliate's payout profile, from its events (the source of truth).
pub async fn load_profile<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
    affiliate_id: &AffiliateId,
) -> Result<ProfileAggregate, AppError> {
    let stream = StreamId::new(stream_name(
        tenant_id,
        AggregateRef::PayoutProfile(affiliate_id),
    ))?;
    Ok(ProfileAggregate::from_events(&load(store, &stream).await?))
}
