//! What payout drafting reads from the ledger projection.

use async_trait::async_trait;

use crate::StoreError;

/// The most candidates one `payout_candidates` page returns.
pub const CANDIDATE_PAGE_MAX: usize = 1000;

/// Checks a `payout_candidates` page size.
pub fn check_candidate_limit(limit: usize) -> Result<(), StoreError> {
    if limit == 0 || limit > CANDIDATE_PAGE_MAX {
        return Err(StoreError::LimitExceeded {
            what: "payout candidates page".to_owned(),
            got: limit,
            limit: CANDIDATE_PAGE_MAX,
        });
    }
    Ok(())
}

/// A page of payout candidates and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CandidatePage {
    pub candidates: Vec<ledger_domain::PayoutCandidate>,
    /// Opaque; `None` once every candidate was read.
    pub next: Option<String>,
}

/// An event of a tenant the ledger projection could not project and set
/// aside ("parked") instead of skipping it: its balances miss the event
/// until an operator projects it again (`ledger-admin projection retry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedEvent {
    pub stream: String,
    pub version: u64,
    /// Why it could not be projected.
    pub reason: String,
    /// When it was parked (RFC 3339).
    pub parked_at: String,
}

/// What payout drafting reads from the ledger projection: one tenant's
/// affiliate balances with money available, each with the affiliate's
/// payout profile, how many drafted batches the projection has applied
/// (the draft sequence a new draft must follow), and the events it parked
/// (drafting refuses while there are any).
#[async_trait]
pub trait PayoutReads: Send + Sync {
    /// Up to `limit` (affiliate, currency) balances with a positive
    /// available balance, after the opaque `after` token of a previous page.
    async fn payout_candidates(
        &self,
        tenant_id: &ledger_domain::TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<CandidatePage, StoreError>;

    /// How many of the tenant's drafted batches the projection has applied.
    async fn batches_drafted(&self, tenant_id: &ledger_domain::TenantId)
    -> Result<u64, StoreError>;

    /// The tenant's parked events, oldest stream first (at most
    /// [`PARKED_EVENTS_MAX`]). A projection that stops at an event it cannot
    /// project instead of parking it has none.
    async fn parked_events(
        &self,
        tenant_id: &ledger_domain::TenantId,
    ) -> Result<Vec<ParkedEvent>, StoreError>;
}

/// The most parked events one `parked_events` read returns.
pub const PARKED_EVENTS_MAX: usize = 1000;

#[async_trait]
impl<T: PayoutReads + ?Sized> PayoutReads for std::sync::Arc<T> {
    async fn payout_candidates(
        &self,
        tenant_id: &ledger_domain::TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<CandidatePage, StoreError> {
        (**self).payout_candidates(tenant_id, after, limit).await
    }
    async fn batches_drafted(
        &self,
        tenant_id: &ledger_domain::TenantId,
    ) -> Result<u64, StoreError> {
        (**self).batches_drafted(tenant_id).await
    }
    async fn parked_events(
        &self,
        tenant_id: &ledger_domain::TenantId,
    ) -> Result<Vec<ParkedEvent>, StoreError> {
        (**self).parked_events(tenant_id).await
    }
}

/// Reads a stored profile snapshot (JSON) into a profile.
pub fn decode_profile(json: &str) -> Result<ledger_domain::PayoutProfile, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Unavailable(format!("stored payout profile is unreadable: {e}")))
}

/// A candidate from a stored balance row. Stored fields are signed (debit
/// positive): available is a credit, so the money available is its
/// negation; receivable is a debit.
pub fn payout_candidate(
    affiliate: &str,
    currency: &str,
    available: i64,
    receivable: i64,
    profile: Option<&str>,
) -> Result<ledger_domain::PayoutCandidate, StoreError> {
    let bad = |reason: String| {
        StoreError::Unavailable(format!("balance row {affiliate}/{currency}: {reason}"))
    };
    let affiliate_id =
        ledger_domain::AffiliateId::new(affiliate).map_err(|e| bad(e.to_string()))?;
    let currency =
        ledger_domain::money::currency_from_code(currency).map_err(|e| bad(e.to_string()))?;
    let money = |minor: i64| {
        ledger_domain::Money::from_minor(minor, currency).map_err(|e| bad(e.to_string()))
    };
    Ok(ledger_domain::PayoutCandidate {
        affiliate_id,
        available: money(available.checked_neg().unwrap_or(i64::MAX))?,
        receivable: money(receivable.max(0))?,
        profile: profile.map(decode_profile).transpose()?,
    })
}
