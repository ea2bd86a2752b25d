//! The payload of `statement.published`: a statement version was written.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::AffiliateId;
use crate::money::Money;

/// A statement version was written: one affiliate's statement of one
/// currency and month (in the tenant's time zone), kept as files beside
/// this event. Moves no money; kept in the statement's own stream, one
/// event per version written, so the statement's history is auditable and
/// a receiver hears when an affiliate has something new to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementPublished {
    pub affiliate_id: AffiliateId,
    /// ISO 4217 code of the statement's currency.
    pub currency: String,
    /// `YYYY-MM`.
    pub period: String,
    /// The IANA zone the month is taken in.
    pub time_zone: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// The statement version (1, 2, ...) and the one it supersedes.
    pub version: u32,
    pub supersedes: Option<u32>,
    pub reason: String,
    /// The closing available and receivable balances it states.
    pub closing_available: Money,
    pub closing_receivable: Money,
    /// SHA-256 (hex) of the CSV rendering, as the JSON file records it.
    pub content_sha256: String,
}
