//! Balances: a projection of the journal, folded entry by entry.
//!
//! The fold is a sum, so it gives the same result however a sequence of
//! entries is split into batches. Account balances are kept in exact minor
//! units per (account, currency).

use std::collections::BTreeMap;

use iso_currency::Currency;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::ids::{AffiliateId, TenantId};
use crate::ledger::{Account, AffiliateAccount, JournalEntry};
use crate::money::{Money, MoneyError};

/// One affiliate's position in one currency, as finance and the affiliate see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AffiliateBalances {
    /// Earned, still in the hold period.
    pub pending: Money,
    /// Matured and payable.
    pub available: Money,
    /// Set aside for payouts in flight.
    pub reserved: Money,
    /// Clawbacks owed by the affiliate, netted against the next payout.
    pub receivable: Money,
    /// Paid through processors, less what came back.
    pub paid_out: Money,
    /// `available - receivable`: what the next payout would pay (may be negative).
    pub net_payable: Money,
}

/// The balance of every account touched so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balances {
    /// Signed minor units: debit positive, credit negative.
    accounts: FxHashMap<(Account, Currency), i64>,
    paid_out: FxHashMap<(TenantId, AffiliateId, Currency), i64>,
    entries_applied: u64,
}

/// A balance left the representable range: the ledger is far outside any
/// real program's size, so the fold refuses to go on rather than wrap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("balance of {account:?} in {currency} would overflow")]
pub struct BalanceOverflow {
    pub account: Box<Account>,
    pub currency: &'static str,
}

fn add(slot: &mut i64, delta: i64) -> Option<()> {
    *slot = slot.checked_add(delta)?;
    Some(())
}

impl Balances {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one journal entry in.
    pub fn apply(&mut self, entry: &JournalEntry) -> Result<(), BalanceOverflow> {
        for posting in entry.postings() {
            let currency = posting.amount.currency();
            let delta = posting.amount.amount_minor();
            let key = (posting.account.clone(), currency);
            // Cloning an account bumps reference counts; it never copies ids.
            let slot = self.accounts.entry(key).or_insert(0);
            add(slot, delta).ok_or_else(|| BalanceOverflow {
                account: Box::new(posting.account.clone()),
                currency: currency.code(),
            })?;
        }
        if let Some((tenant_id, affiliate_id, amount)) = entry.paid_out() {
            let currency = amount.currency();
            let slot = self
                .paid_out
                .entry((tenant_id.clone(), affiliate_id.clone(), currency))
                .or_insert(0);
            add(slot, amount.amount_minor()).ok_or_else(|| BalanceOverflow {
                account: Box::new(Account::Affiliate {
                    tenant_id: tenant_id.clone(),
                    affiliate_id: affiliate_id.clone(),
                    account: AffiliateAccount::Available,
                }),
                currency: currency.code(),
            })?;
        }
        self.entries_applied += 1;
        Ok(())
    }

    /// Folds many entries in, in order.
    pub fn apply_all<'a>(
        &mut self,
        entries: impl IntoIterator<Item = &'a JournalEntry>,
    ) -> Result<(), BalanceOverflow> {
        entries.into_iter().try_for_each(|e| self.apply(e))
    }

    pub fn entries_applied(&self) -> u64 {
        self.entries_applied
    }

    /// The signed balance (debit positive) of one account in one currency.
    pub fn account_balance(
        &self,
        account: &Account,
        currency: Currency,
    ) -> Result<Money, MoneyError> {
        let minor = self
            .accounts
            .get(&(account.clone(), currency))
            .copied()
            .unwrap_or(0);
        Money::from_minor(minor, currency)
    }

    /// One affiliate's balances in one currency, each shown with its natural
    /// sign (liabilities as positive amounts owed to the affiliate).
    pub fn affiliate(
        &self,
        tenant_id: &TenantId,
        affiliate_id: &AffiliateId,
        currency: Currency,
    ) -> Result<AffiliateBalances, MoneyError> {
        let get = |account: AffiliateAccount| {
            self.accounts
                .get(&(
                    Account::Affiliate {
                        tenant_id: tenant_id.clone(),
                        affiliate_id: affiliate_id.clone(),
                        account,
                    },
                    currency,
                ))
                .copied()
                .unwrap_or(0)
        };
        let pending = -get(AffiliateAccount::Pending);
        let available = -get(AffiliateAccount::Available);
        let reserved = -get(AffiliateAccount::Reserved);
        let receivable = get(AffiliateAccount::Receivable);
        let paid_out = self
            .paid_out
            .get(&(tenant_id.clone(), affiliate_id.clone(), currency))
            .copied()
            .unwrap_or(0);
        Ok(AffiliateBalances {
            pending: Money::from_minor(pending, currency)?,
            available: Money::from_minor(available, currency)?,
            reserved: Money::from_minor(reserved, currency)?,
            receivable: Money::from_minor(receivable, currency)?,
            paid_out: Money::from_minor(paid_out, currency)?,
            net_payable: Money::from_minor(available - receivable, currency)?,
        })
    }

    /// Every (account, currency) with its signed balance, sorted, for
    /// comparisons and reports.
    pub fn snapshot(&self) -> BTreeMap<(Account, &'static str), i64> {
        self.accounts
            .iter()
            .map(|((account, currency), minor)| ((account.clone(), currency.code()), *minor))
            .collect()
    }

    /// Every (tenant, affiliate, currency) that has an account, sorted.
    pub fn affiliate_keys(&self) -> Vec<(TenantId, AffiliateId, Currency)> {
        let mut keys: Vec<(TenantId, AffiliateId, Currency)> = self
            .accounts
            .keys()
            .filter_map(|(account, currency)| match account {
                Account::Affiliate {
                    tenant_id,
                    affiliate_id,
                    ..
                } => Some((tenant_id.clone(), affiliate_id.clone(), *currency)),
                _ => None,
            })
            .collect();
        keys.sort_by(|a, b| (&a.0, &a.1, a.2.code()).cmp(&(&b.0, &b.1, b.2.code())));
        keys.dedup();
        keys
    }

    /// The trial balance: the sum of all accounts per (tenant, currency).
    /// Every value is zero in a correct ledger.
    pub fn trial_balance(&self) -> BTreeMap<(TenantId, &'static str), i128> {
        let mut sums = BTreeMap::new();
        for ((account, currency), minor) in &self.accounts {
            *sums
                .entry((account.tenant_id().clone(), currency.code()))
                .or_insert(0i128) += i128::from(*minor);
        }
        sums
    }
}
