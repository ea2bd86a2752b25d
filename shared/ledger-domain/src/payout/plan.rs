//! Planning a payout: what drafting does with one affiliate's balance.

use crate::events::{Processor, SkipReason};
use crate::ids::AffiliateId;
use crate::money::Money;
use crate::profile::PayoutProfile;

/// One (affiliate, currency) balance drafting looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutCandidate {
    pub affiliate_id: AffiliateId,
    /// The available balance (what the affiliate may be paid).
    pub available: Money,
    /// Clawbacks owed, as a positive amount (zero if none).
    pub receivable: Money,
    pub profile: Option<PayoutProfile>,
}

/// What drafting does with one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// Pay `amount` through `processor`, settling `receivable_netted` of
    /// clawbacks from the same available money.
    Pay {
        amount: Money,
        receivable_netted: Money,
        processor: Processor,
        /// The method's destination, bound to the item.
        destination: crate::events::Destination,
    },
    /// Left out, for the recorded reason.
    Skip(SkipReason),
    /// Nothing available: not worth a record.
    Nothing,
}

/// Decides one candidate: pays what is available less clawbacks owed, if
/// the affiliate can be paid and it reaches their minimum (or the default).
pub fn plan_payout(candidate: &PayoutCandidate, default_minimum: Option<Money>) -> Planned {
    let currency = candidate.available.currency();
    if !candidate.available.is_positive() {
        return Planned::Nothing;
    }
    let profile = candidate.profile.as_ref();
    let Some(method) = profile.and_then(|p| p.method.as_ref()) else {
        return Planned::Skip(SkipReason::NoPayoutMethod);
    };
    let profile = profile.expect("a method implies a profile");
    if !profile.holds.is_empty() {
        return Planned::Skip(SkipReason::OnHold {
            holds: profile.holds.iter().copied().collect(),
        });
    }
    let processor = method.processor();
    if !processor.pays_in(currency) {
        return Planned::Skip(SkipReason::CurrencyNotSupported { processor });
    }
    let receivable =
        if candidate.receivable.is_positive() && candidate.receivable.currency() == currency {
            candidate.receivable
        } else {
            candidate.available.zero_like()
        };
    let amount = match candidate.available.checked_sub(&receivable) {
        Ok(amount) if amount.is_positive() => amount,
        _ => return Planned::Skip(SkipReason::ReceivableCoversAvailable { receivable }),
    };
    // The processor's own unit (whole forints, tens of fils): what does not
    // fit stays available for the next payout.
    let amount = match processor.payable(&amount) {
        Ok(payable) if payable.is_positive() => payable,
        _ => return Planned::Skip(SkipReason::CurrencyNotSupported { processor }),
    };
    let minimum = profile
        .minimum(currency)
        .or(default_minimum.filter(|m| m.currency() == currency));
    if let Some(minimum) = minimum {
        if amount.amount() < minimum.amount() {
            return Planned::Skip(SkipReason::BelowMinimum { minimum });
        }
    }
    Planned::Pay {
        amount,
        receivable_netted: receivable,
        processor,
        destination: method.destination(),
    }
}
