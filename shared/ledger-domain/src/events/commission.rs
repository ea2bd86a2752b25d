//! The payloads of the commission aggregate's events (`commission.*`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AffiliateId, CommissionId};
use crate::money::Money;

/// Why commission was taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReversalReason {
    Refund,
    Chargeback,
    Fraud,
    Manual,
}

/// Where a commission's money sat when a reversal or adjustment hit it. The
/// commission aggregate decides it, so posting rules need no other state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommissionStage {
    /// Still in the hold period: the money is on the pending account.
    Pending,
    /// Matured: the money was made available (and may since have been paid).
    /// Taking it back now creates a receivable (a clawback), netted against
    /// later earnings when the next payout is drafted.
    Matured,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionRecorded {
    pub commission_id: CommissionId,
    pub affiliate_id: AffiliateId,
    pub amount: Money,
    pub hold_period_days: u32,
    /// When the hold period ends and the commission may mature.
    pub matures_at: DateTime<Utc>,
    /// The tracking network's conversion that earned it.
    pub source_conversion_id: String,
    pub order_reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionMatured {
    pub commission_id: CommissionId,
    pub affiliate_id: AffiliateId,
    /// What moves from pending to available: earned less reversed so far.
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionReversed {
    pub commission_id: CommissionId,
    pub affiliate_id: AffiliateId,
    /// Positive: how much is taken back.
    pub amount: Money,
    pub reason: ReversalReason,
    pub stage: CommissionStage,
    /// True when this reversal takes back everything that was left.
    pub whole: bool,
    /// The refund or chargeback reference, if any.
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionAdjusted {
    pub commission_id: CommissionId,
    pub affiliate_id: AffiliateId,
    /// Signed: positive adds to what the affiliate earned, negative takes away.
    pub delta: Money,
    pub stage: CommissionStage,
    pub reason: String,
}
