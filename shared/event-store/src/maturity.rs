//! The maturity schedule port: commissions still in their hold period.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StoreError;

/// A commission whose hold period ends at `matures_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCommission {
    pub tenant_id: String,
    pub commission_id: String,
    pub matures_at: DateTime<Utc>,
    /// Where the schedule keeps it; opaque, handed back to `remove`.
    pub slot: String,
}

/// The maturity schedule: commissions still in their hold period, by the
/// time it ends. Kept by the ledger projector; read and pruned by the
/// scheduled maturing job.
#[async_trait]
pub trait MaturitySchedule: Send + Sync {
    /// Up to `limit` commissions due at `now`, earliest first.
    async fn due(&self, now: DateTime<Utc>, limit: usize)
    -> Result<Vec<DueCommission>, StoreError>;
    /// Removes a commission from the schedule (matured, or nothing to mature).
    async fn remove(&self, due: &DueCommission) -> Result<(), StoreError>;
}
