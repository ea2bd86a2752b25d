//! The trial balance: per tenant and currency, every account of the ledger
//! (affiliates' pending, available, reserved and receivable, the tenant's
//! commission expense and processor clearing) summed from the projected
//! balance rows. Double entry makes it zero; anything else is reported.

use std::collections::BTreeMap;

use event_store::{LedgerReads, TenantRowPages};
use ledger_domain::TenantId;
use serde::Serialize;

use crate::ReportError;

/// The account fields of balance rows (`paid_out` is a report figure, not
/// an account, and is left out): the domain's.
pub use ledger_domain::projection::ACCOUNT_FIELDS;

/// One currency of a tenant's trial balance, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrialBalanceLine {
    pub currency: String,
    /// Sum of debits (positive fields).
    pub debits_minor: i128,
    /// Sum of credits (negative fields), as a positive number.
    pub credits_minor: i128,
    /// Debits minus credits: zero when the ledger balances.
    pub difference_minor: i128,
    pub balanced: bool,
    /// Balance rows read.
    pub rows: usize,
}

/// How many times an unbalanced trial balance is read again, and how long
/// apart, before it is reported.
const CONFIRM_READS: u32 = 2;
const CONFIRM_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The tenant's trial balance per currency, from every balance row.
///
/// The rows are read page by page while the projector keeps writing, and
/// on DynamoDB a row created a moment ago may not be in the tenant index
/// yet: one read can catch one side of an entry without the other. So an
/// unbalanced result is read again, up to twice, a second apart, and only
/// an imbalance that stays is reported (the last read's figures).
pub async fn trial_balance<R: LedgerReads + ?Sized>(
    reads: &R,
    tenant_id: &TenantId,
) -> Result<Vec<TrialBalanceLine>, ReportError> {
    let mut lines = read_trial_balance(reads, tenant_id).await?;
    for _ in 0..CONFIRM_READS {
        if lines.iter().all(|l| l.balanced) {
            break;
        }
        tokio::time::sleep(CONFIRM_AFTER).await;
        lines = read_trial_balance(reads, tenant_id).await?;
    }
    Ok(lines)
}

/// One read of the trial balance.
async fn read_trial_balance<R: LedgerReads + ?Sized>(
    reads: &R,
    tenant_id: &TenantId,
) -> Result<Vec<TrialBalanceLine>, ReportError> {
    let mut sums: BTreeMap<String, (i128, i128, usize)> = BTreeMap::new();
    let mut pages = TenantRowPages::new(tenant_id);
    while let Some(rows) = pages.next(reads).await? {
        for row in rows {
            let entry = sums.entry(row.currency).or_default();
            entry.2 += 1;
            for field in ACCOUNT_FIELDS {
                let value = i128::from(row.fields.get(field).copied().unwrap_or(0));
                if value > 0 {
                    entry.0 += value;
                } else {
                    entry.1 -= value;
                }
            }
        }
    }
    Ok(sums
        .into_iter()
        .map(|(currency, (debits, credits, rows))| TrialBalanceLine {
            currency,
            debits_minor: debits,
            credits_minor: credits,
            difference_minor: debits - credits,
            balanced: debits == credits,
            rows,
        })
        .collect())
}
