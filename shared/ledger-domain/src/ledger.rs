//! Double-entry: the chart of accounts, journal entries, and the posting
//! rules that turn every event into exactly one journal entry.
//!
//! Sign convention: a posting's amount is positive for a debit and negative
//! for a credit. Every entry's postings sum to zero in each currency. A
//! `JournalEntry` can only be built through [`JournalEntry::new`], which
//! refuses an unbalanced set of postings, so an unbalanced entry cannot exist.
//!
//! | event | debit | credit |
//! |---|---|---|
//! | commission recorded | tenant commission expense | affiliate pending |
//! | commission matured | affiliate pending | affiliate available |
//! | reversed / negative adjustment, pending | affiliate pending | tenant commission expense |
//! | reversed / negative adjustment, matured | affiliate receivable (clawback) | tenant commission expense |
//! | positive adjustment | tenant commission expense | affiliate pending or available |
//! | batch drafted (per item) | affiliate available (amount + netted) | affiliate reserved (amount), affiliate receivable (netted) |
//! | batch rejected (per item) | affiliate reserved, affiliate receivable | affiliate available |
//! | item paid | affiliate reserved | processor clearing |
//! | item failed / returned / unclaimed before paid | affiliate reserved | affiliate available |
//! | item failed / returned after paid | processor clearing | affiliate available |
//! | item reversed (partly or wholly), the part not moved before | processor clearing | affiliate available |
//! | approved, submitted, news that moves no money | (no postings) | |

use iso_currency::Currency;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::events::{
    CommissionStage, Event, EventBody, MoneyMovement, PayoutItemOutcome, Processor,
};
use crate::ids::{AffiliateId, TenantId};
use crate::money::{Money, MoneyError};

/// The accounts an affiliate has in each currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AffiliateAccount {
    /// Earned but still in the hold period (liability, credit-normal).
    Pending,
    /// Matured and payable (liability, credit-normal).
    Available,
    /// Set aside for a payout batch in flight (liability, credit-normal).
    Reserved,
    /// Clawbacks the affiliate owes (asset, debit-normal), netted at payout.
    Receivable,
}

/// One account of the chart. The currency is carried by the posting's money.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Account {
    Affiliate {
        tenant_id: TenantId,
        affiliate_id: AffiliateId,
        account: AffiliateAccount,
    },
    /// Money handed to a processor for disbursement, owed to it until settled.
    ProcessorClearing {
        tenant_id: TenantId,
        processor: Processor,
    },
    /// What the tenant's program spends on commissions.
    CommissionExpense { tenant_id: TenantId },
}

impl Account {
    pub fn tenant_id(&self) -> &TenantId {
        match self {
            Account::Affiliate { tenant_id, .. }
            | Account::ProcessorClearing { tenant_id, .. }
            | Account::CommissionExpense { tenant_id } => tenant_id,
        }
    }
}

/// One line of a journal entry: positive debits, negative credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub account: Account,
    pub amount: Money,
}

/// A set of postings that does not balance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "journal entry for {event_type} does not balance: {currency} postings sum to {sum_minor} minor units"
)]
pub struct UnbalancedEntry {
    pub event_type: &'static str,
    pub currency: &'static str,
    pub sum_minor: i64,
}

/// Why an event could not be turned into a journal entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostingError {
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Unbalanced(#[from] UnbalancedEntry),
}

/// The journal entry of one event: postings that balance in every currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    event_type: &'static str,
    postings: Vec<Posting>,
    /// Paid-out movement for the affiliate report (not an account): the
    /// amount an item paid (+) or that came back after payment (-).
    paid_out: Option<(TenantId, AffiliateId, Money)>,
    /// Set on a drafted batch: the tenant's count of drafted batches the
    /// projection has applied is what guards drafting (see
    /// `PayoutDraftRegistered`).
    batch_drafted: Option<TenantId>,
}

impl JournalEntry {
    /// Builds an entry, refusing postings that do not sum to zero in every
    /// currency. This is the only constructor.
    pub fn new(event_type: &'static str, postings: Vec<Posting>) -> Result<Self, UnbalancedEntry> {
        check_balanced(event_type, &postings)?;
        Ok(JournalEntry {
            event_type,
            postings,
            paid_out: None,
            batch_drafted: None,
        })
    }

    pub fn event_type(&self) -> &'static str {
        self.event_type
    }
    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }
    pub fn paid_out(&self) -> Option<&(TenantId, AffiliateId, Money)> {
        self.paid_out.as_ref()
    }
    pub fn batch_drafted(&self) -> Option<&TenantId> {
        self.batch_drafted.as_ref()
    }
}

fn check_balanced(event_type: &'static str, postings: &[Posting]) -> Result<(), UnbalancedEntry> {
    // Entries have a handful of postings in one or two currencies: a small
    // linear table beats a map here and keeps the hot path allocation-free.
    let mut sums: SmallVec<[(Currency, i128); 4]> = SmallVec::new();
    for posting in postings {
        let currency = posting.amount.currency();
        let minor = i128::from(posting.amount.amount_minor());
        match sums.iter_mut().find(|(c, _)| *c == currency) {
            Some((_, sum)) => *sum += minor,
            None => sums.push((currency, minor)),
        }
    }
    match sums.iter().find(|(_, sum)| *sum != 0) {
        None => Ok(()),
        Some((currency, sum)) => Err(UnbalancedEntry {
            event_type,
            currency: currency.code(),
            sum_minor: i64::try_from(*sum).unwrap_or(i64::MAX),
        }),
    }
}

/// Builds postings as (debit, credit) pairs of one amount, so each pair
/// balances by construction; `JournalEntry::new` still checks the whole.
struct EntryBuilder {
    postings: Vec<Posting>,
}

impl EntryBuilder {
    fn with_capacity(n: usize) -> Self {
        EntryBuilder {
            postings: Vec::with_capacity(n),
        }
    }

    fn transfer(&mut self, debit: Account, credit: Account, amount: Money) {
        if amount.is_zero() {
            return;
        }
        self.postings.push(Posting {
            account: debit,
            amount,
        });
        self.postings.push(Posting {
            account: credit,
            amount: amount.negated(),
        });
    }
}

fn affiliate(
    tenant_id: &TenantId,
    affiliate_id: &AffiliateId,
    account: AffiliateAccount,
) -> Account {
    Account::Affiliate {
        tenant_id: tenant_id.clone(),
        affiliate_id: affiliate_id.clone(),
        account,
    }
}

fn expense(tenant_id: &TenantId) -> Account {
    Account::CommissionExpense {
        tenant_id: tenant_id.clone(),
    }
}

fn take_back_account(stage: CommissionStage) -> AffiliateAccount {
    match stage {
        CommissionStage::Pending => AffiliateAccount::Pending,
        CommissionStage::Matured => AffiliateAccount::Receivable,
    }
}

/// The posting rules: the one journal entry of an event.
pub fn journal_entry(event: &Event) -> Result<JournalEntry, PostingError> {
    use AffiliateAccount::*;
    let t = event.tenant_id();
    let mut b = EntryBuilder::with_capacity(2);
    let mut paid_out = None;
    match event.body() {
        EventBody::CommissionRecorded(e) => {
            b.transfer(expense(t), affiliate(t, &e.affiliate_id, Pending), e.amount);
        }
        EventBody::CommissionMatured(e) => b.transfer(
            affiliate(t, &e.affiliate_id, Pending),
            affiliate(t, &e.affiliate_id, Available),
            e.amount,
        ),
        EventBody::CommissionReversed(e) => b.transfer(
            affiliate(t, &e.affiliate_id, take_back_account(e.stage)),
            expense(t),
            e.amount,
        ),
        EventBody::CommissionAdjusted(e) => {
            if e.delta.is_negative() {
                b.transfer(
                    affiliate(t, &e.affiliate_id, take_back_account(e.stage)),
                    expense(t),
                    e.delta.negated(),
                );
            } else {
                let credited = match e.stage {
                    CommissionStage::Pending => Pending,
                    CommissionStage::Matured => Available,
                };
                b.transfer(expense(t), affiliate(t, &e.affiliate_id, credited), e.delta);
            }
        }
        EventBody::PayoutBatchDrafted(e) => {
            b = EntryBuilder::with_capacity(e.items.len() * 4);
            for item in &e.items {
                b.transfer(
                    affiliate(t, &item.affiliate_id, Available),
                    affiliate(t, &item.affiliate_id, Reserved),
                    item.amount,
                );
                b.transfer(
                    affiliate(t, &item.affiliate_id, Available),
                    affiliate(t, &item.affiliate_id, Receivable),
                    item.receivable_netted,
                );
            }
        }
        EventBody::PayoutBatchRejected(e) => {
            // The rejected event carries the items it releases, so this rule
            // needs no state: it is the exact mirror of the draft.
            b = EntryBuilder::with_capacity(e.released.len() * 4);
            for item in &e.released {
                b.transfer(
                    affiliate(t, &item.affiliate_id, Reserved),
                    affiliate(t, &item.affiliate_id, Available),
                    item.amount,
                );
                b.transfer(
                    affiliate(t, &item.affiliate_id, Receivable),
                    affiliate(t, &item.affiliate_id, Available),
                    item.receivable_netted,
                );
            }
        }
        EventBody::PayoutBatchApproved(_)
        | EventBody::PayoutItemSubmitted(_)
        | EventBody::PayoutProfileChanged(_)
        | EventBody::PayoutDraftRegistered(_)
        | EventBody::PayoutRunSkipped(_)
        | EventBody::ProcessorNoticeUnmatched(_)
        | EventBody::PayoutItemClaimed(_)
        | EventBody::PayoutApprovalTallied(_)
        | EventBody::ReconciliationMismatchFound(_)
        | EventBody::ReconciliationMismatchResolved(_)
        | EventBody::ReconciliationRunRecorded(_)
        | EventBody::StatementPublished(_) => {}
        EventBody::PayoutItemPaid(o)
        | EventBody::PayoutItemFailed(o)
        | EventBody::PayoutItemReturned(o)
        | EventBody::PayoutItemUnclaimed(o)
        | EventBody::PayoutItemReversed(o) => {
            paid_out = outcome_postings(&mut b, t, o);
        }
    }
    let mut entry = JournalEntry::new(event.type_name(), b.postings)?;
    entry.paid_out = paid_out;
    if matches!(event.body(), EventBody::PayoutBatchDrafted(_)) {
        entry.batch_drafted = Some(t.clone());
    }
    Ok(entry)
}

fn outcome_postings(
    b: &mut EntryBuilder,
    t: &TenantId,
    o: &PayoutItemOutcome,
) -> Option<(TenantId, AffiliateId, Money)> {
    use AffiliateAccount::*;
    let clearing = Account::ProcessorClearing {
        tenant_id: t.clone(),
        processor: o.processor,
    };
    match o.movement {
        MoneyMovement::ReservedToPaid => {
            b.transfer(affiliate(t, &o.affiliate_id, Reserved), clearing, o.amount);
            Some((t.clone(), o.affiliate_id.clone(), o.amount))
        }
        MoneyMovement::ReservedToAvailable => {
            b.transfer(
                affiliate(t, &o.affiliate_id, Reserved),
                affiliate(t, &o.affiliate_id, Available),
                o.amount,
            );
            None
        }
        MoneyMovement::PaidToAvailable => {
            b.transfer(clearing, affiliate(t, &o.affiliate_id, Available), o.amount);
            Some((t.clone(), o.affiliate_id.clone(), o.amount.negated()))
        }
        MoneyMovement::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expense_of(tenant: &str) -> Account {
        Account::CommissionExpense {
            tenant_id: TenantId::new(tenant).unwrap(),
        }
    }

    #[test]
    fn an_unbalanced_entry_cannot_be_built() {
        let eur = |minor| Money::from_minor(minor, Currency::EUR).unwrap();
        let postings = vec![
            Posting {
                account: expense_of("t"),
                amount: eur(100),
            },
            Posting {
                account: expense_of("t"),
                amount: eur(-99),
            },
        ];
        assert_eq!(
            JournalEntry::new("test", postings).unwrap_err(),
            UnbalancedEntry {
                event_type: "test",
                currency: "EUR",
                sum_minor: 1
            }
        );
        // Balanced in total but not per currency.
        let usd = Money::from_minor(-100, Currency::USD).unwrap();
        let postings = vec![
            Posting {
                account: expense_of("t"),
                amount: eur(100),
            },
            Posting {
                account: expense_of("t"),
                amount: usd,
            },
        ];
        assert!(JournalEntry::new("test", postings).is_err());
        assert!(JournalEntry::new("test", vec![]).is_ok());
    }
}
