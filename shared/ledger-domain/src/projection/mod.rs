//! How the balances projection is stored: one balance row per owner (an
//! affiliate, or the tenant itself) and currency, with one field per
//! account. A batch of journal entries is coalesced into one delta per row,
//! so a projector writes each row once per batch, however many events of a
//! hot affiliate the batch holds.

use std::collections::BTreeMap;

use crate::ids::{AffiliateId, TenantId};
use crate::ledger::{Account, JournalEntry};

/// Who a balance row belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BalanceOwner {
    Affiliate {
        tenant_id: TenantId,
        affiliate_id: AffiliateId,
    },
    /// The tenant's own accounts: commission expense and processor clearing.
    Tenant { tenant_id: TenantId },
}

impl BalanceOwner {
    /// A stable key for stores: `acme/affiliate/aff-1` or `acme/tenant`.
    pub fn key(&self) -> String {
        match self {
            BalanceOwner::Affiliate {
                tenant_id,
                affiliate_id,
            } => format!("{tenant_id}/affiliate/{affiliate_id}"),
            BalanceOwner::Tenant { tenant_id } => format!("{tenant_id}/tenant"),
        }
    }

    /// The tenant part of a key written by [`BalanceOwner::key`]
    /// (`{tenant}/...`), without reading the rest.
    pub fn tenant_of_key(key: &str) -> Option<&str> {
        key.split_once('/')
            .map(|(tenant, _)| tenant)
            .filter(|t| !t.is_empty())
    }

    /// Reads a key written by [`BalanceOwner::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        let (tenant, rest) = key.split_once('/')?;
        let tenant_id = TenantId::new(tenant).ok()?;
        if rest == "tenant" {
            return Some(BalanceOwner::Tenant { tenant_id });
        }
        let affiliate = rest.strip_prefix("affiliate/")?;
        Some(BalanceOwner::Affiliate {
            tenant_id,
            affiliate_id: AffiliateId::new(affiliate).ok()?,
        })
    }
}

/// The field of a balance row an account is kept in.
pub fn account_field(account: &Account) -> (BalanceOwner, &'static str) {
    match account {
        Account::Affiliate {
            tenant_id,
            affiliate_id,
            account,
        } => (
            BalanceOwner::Affiliate {
                tenant_id: tenant_id.clone(),
                affiliate_id: affiliate_id.clone(),
            },
            AffiliateField::of(*account).name(),
        ),
        Account::ProcessorClearing {
            tenant_id,
            processor,
        } => (
            BalanceOwner::Tenant {
                tenant_id: tenant_id.clone(),
            },
            clearing_field(*processor),
        ),
        Account::CommissionExpense { tenant_id } => (
            BalanceOwner::Tenant {
                tenant_id: tenant_id.clone(),
            },
            COMMISSION_EXPENSE_FIELD,
        ),
    }
}

/// The report-only field for what was paid out to an affiliate.
pub const PAID_OUT_FIELD: &str = AffiliateField::PaidOut.name();

/// The row (in place of a currency) that counts a tenant's drafted batches.
pub const DRAFTS_ROW: &str = "#drafts";
/// The field of `DRAFTS_ROW` holding the count.
pub const BATCHES_DRAFTED_FIELD: &str = "batches_drafted";

/// Signed minor-unit changes per field of one balance row.
pub type FieldDeltas = BTreeMap<&'static str, i64>;

/// The coalesced effect of a batch of journal entries: one delta per
/// (owner, currency code) row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BalanceDeltas {
    pub rows: BTreeMap<(BalanceOwner, &'static str), FieldDeltas>,
}

/// A coalesced delta left the representable range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("coalesced delta of {owner}/{currency}.{field} overflows")]
pub struct DeltaOverflow {
    pub owner: String,
    pub currency: &'static str,
    pub field: &'static str,
}

impl BalanceDeltas {
    pub fn add(&mut self, entry: &JournalEntry) -> Result<(), DeltaOverflow> {
        for posting in entry.postings() {
            let (owner, field) = account_field(&posting.account);
            self.bump(
                owner,
                posting.amount.currency().code(),
                field,
                posting.amount.amount_minor(),
            )?;
        }
        if let Some((tenant_id, affiliate_id, amount)) = entry.paid_out() {
            let owner = BalanceOwner::Affiliate {
                tenant_id: tenant_id.clone(),
                affiliate_id: affiliate_id.clone(),
            };
            self.bump(
                owner,
                amount.currency().code(),
                PAID_OUT_FIELD,
                amount.amount_minor(),
            )?;
        }
        if let Some(tenant_id) = entry.batch_drafted() {
            let owner = BalanceOwner::Tenant {
                tenant_id: tenant_id.clone(),
            };
            self.bump(owner, DRAFTS_ROW, BATCHES_DRAFTED_FIELD, 1)?;
        }
        Ok(())
    }

    fn bump(
        &mut self,
        owner: BalanceOwner,
        currency: &'static str,
        field: &'static str,
        delta: i64,
    ) -> Result<(), DeltaOverflow> {
        let fields = self.rows.entry((owner.clone(), currency)).or_default();
        let slot = fields.entry(field).or_insert(0);
        *slot = slot.checked_add(delta).ok_or_else(|| DeltaOverflow {
            owner: owner.key(),
            currency,
            field,
        })?;
        Ok(())
    }

    /// Adds another batch's deltas, all or nothing: on an overflow nothing
    /// is changed.
    pub fn merge(&mut self, other: &BalanceDeltas) -> Result<(), DeltaOverflow> {
        let mut sums = Vec::new();
        for ((owner, currency), fields) in &other.rows {
            let current = self.rows.get(&(owner.clone(), *currency));
            for (field, delta) in fields {
                let now = current.and_then(|f| f.get(field)).copied().unwrap_or(0);
                let sum = now.checked_add(*delta).ok_or_else(|| DeltaOverflow {
                    owner: owner.key(),
                    currency,
                    field,
                })?;
                sums.push((owner, *currency, *field, sum));
            }
        }
        for (owner, currency, field, sum) in sums {
            self.rows
                .entry((owner.clone(), currency))
                .or_default()
                .insert(field, sum);
        }
        Ok(())
    }

    /// How many rows a projector writes for this batch.
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }
}

mod plan;
mod row;
pub use plan::{
    EventPlan, JOURNAL_LINE_VERSION_WIDTH, PlanError, PlannedLine, PlannedMaturity, PlannedProfile,
    ProjectionBatch, plan, plan_event, time_key,
};
pub use row::{
    ACCOUNT_FIELDS, AffiliateBalance, AffiliateField, COMMISSION_EXPENSE_FIELD, TENANT_FIELDS,
    clearing_field,
};
