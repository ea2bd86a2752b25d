//! The payout profile aggregate: decides profile changes and stamps them
//! as `payout_profile.changed` events.

use crate::context::CommandContext;
use crate::events::{Event, EventBody};
use crate::ids::AffiliateId;
use crate::money::MoneyError;
use crate::text::{TextError, check_text};

use super::{HoldReason, PayeeError, PayoutProfile, PayoutProfileChanged, ProfileChange};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Payee(#[from] PayeeError),
    #[error("minimum must not be negative")]
    NegativeMinimum,
    #[error("affiliate {0} has no {1:?} hold to lift")]
    NoSuchHold(AffiliateId, HoldReason),
    #[error(
        "the method_changed hold of affiliate {affiliate_id} must be lifted by someone other than {changed_by}, who changed the payout method"
    )]
    OwnMethodChange {
        affiliate_id: AffiliateId,
        changed_by: String,
    },
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Text(#[from] TextError),
}

/// The payout profile aggregate of one affiliate (stream
/// `{tenant}/payout-profile/{affiliate}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileAggregate {
    profile: PayoutProfile,
    version: u64,
}

impl ProfileAggregate {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut aggregate = ProfileAggregate::default();
        for event in events {
            if let EventBody::PayoutProfileChanged(e) = event.body() {
                aggregate.profile = e.profile.clone();
                aggregate.version += 1;
            }
        }
        aggregate
    }

    pub fn profile(&self) -> &PayoutProfile {
        &self.profile
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Decides a change. A change that changes nothing writes nothing.
    pub fn handle(
        &self,
        affiliate_id: &AffiliateId,
        change: ProfileChange,
        ctx: &CommandContext,
    ) -> Result<Vec<Event>, ProfileError> {
        let mut profile = self.profile.clone();
        let change = match change {
            ProfileChange::MethodSet { method } => {
                let method = method.validated()?;
                if profile.method.as_ref() == Some(&method) {
                    return Ok(vec![]);
                }
                // A change of where money goes is held until a second
                // person lifts the hold; a first method is reviewed by the
                // approver, who sees every item's destination.
                if profile.method.is_some() {
                    profile.holds.insert(HoldReason::MethodChanged);
                }
                profile.method = Some(method.clone());
                profile.method_set_by = Some(ctx.actor.id.clone());
                ProfileChange::MethodSet { method }
            }
            ProfileChange::MinimumSet { minimum } => {
                if minimum.is_negative() {
                    return Err(ProfileError::NegativeMinimum);
                }
                profile
                    .minimums
                    .retain(|m| m.currency() != minimum.currency());
                profile.minimums.push(minimum);
                profile.minimums.sort_by_key(|m| m.currency().code());
                ProfileChange::MinimumSet { minimum }
            }
            ProfileChange::HoldPlaced { reason, note } => {
                check_text("note", &note, 1)?;
                profile.holds.insert(reason);
                ProfileChange::HoldPlaced { reason, note }
            }
            ProfileChange::HoldLifted { reason, note } => {
                check_text("note", &note, 1)?;
                if reason == HoldReason::MethodChanged
                    && profile.method_set_by.as_deref() == Some(ctx.actor.id.as_str())
                {
                    return Err(ProfileError::OwnMethodChange {
                        affiliate_id: affiliate_id.clone(),
                        changed_by: ctx.actor.id.clone(),
                    });
                }
                if !profile.holds.remove(&reason) {
                    return Err(ProfileError::NoSuchHold(affiliate_id.clone(), reason));
                }
                ProfileChange::HoldLifted { reason, note }
            }
        };
        if profile == self.profile {
            return Ok(vec![]);
        }
        Ok(vec![ctx.event_for(EventBody::PayoutProfileChanged(
            PayoutProfileChanged {
                affiliate_id: affiliate_id.clone(),
                change,
                profile,
            },
        ))])
    }
}
