//! What readers of the ledger projection read: balances, journals and
//! tenant balance rows.

use async_trait::async_trait;

use crate::StoreError;

/// One line of an owner's journal, as the ledger projection keeps it: the
/// event, and its signed changes (minor units) per account field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    /// Where the line sits in the owner's journal; the next page starts after it.
    pub token: String,
    pub stream: String,
    pub version: u64,
    pub event_type: String,
    pub effective_at: String,
    pub deltas: std::collections::BTreeMap<String, i64>,
}

/// A balance row: signed minor units per field (debit positive).
pub type Fields = std::collections::BTreeMap<String, i64>;

/// A page of journal lines.
#[derive(Debug, Clone, Default)]
pub struct JournalPage {
    pub lines: Vec<JournalLine>,
    pub next: Option<String>,
}

/// One balance row of a tenant: an affiliate's or the tenant's own, in one
/// currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    pub owner: ledger_domain::projection::BalanceOwner,
    pub currency: String,
    pub fields: Fields,
}

/// A page of a tenant's balance rows and where the next page starts.
#[derive(Debug, Clone, Default)]
pub struct TenantRowPage {
    pub rows: Vec<TenantRow>,
    /// Opaque; `None` once every row was read.
    pub next: Option<String>,
}

/// The most rows one `tenant_rows` page returns.
pub const TENANT_ROWS_PAGE_MAX: usize = 1000;

/// What readers of the ledger projection (the API, statements, the trial
/// balance) read, wherever it is kept.
#[async_trait]
pub trait LedgerReads: Send + Sync {
    /// One owner's balance rows, by currency.
    async fn balances(
        &self,
        owner: &ledger_domain::projection::BalanceOwner,
    ) -> Result<Vec<(String, Fields)>, StoreError>;
    /// One owner's journal in one currency, oldest first, after a page token.
    async fn journal(
        &self,
        owner: &ledger_domain::projection::BalanceOwner,
        currency: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<JournalPage, StoreError>;
    /// Every balance row of a tenant (affiliates' and its own), in pages of
    /// at most `limit` ([`TENANT_ROWS_PAGE_MAX`]), after an opaque token.
    async fn tenant_rows(
        &self,
        tenant_id: &ledger_domain::TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TenantRowPage, StoreError>;
}

#[async_trait]
impl<T: LedgerReads + ?Sized> LedgerReads for std::sync::Arc<T> {
    async fn balances(
        &self,
        owner: &ledger_domain::projection::BalanceOwner,
    ) -> Result<Vec<(String, Fields)>, StoreError> {
        (**self).balances(owner).await
    }
    async fn journal(
        &self,
        owner: &ledger_domain::projection::BalanceOwner,
        currency: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<JournalPage, StoreError> {
        (**self).journal(owner, currency, after, limit).await
    }
    async fn tenant_rows(
        &self,
        tenant_id: &ledger_domain::TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TenantRowPage, StoreError> {
        (**self).tenant_rows(tenant_id, after, limit).await
    }
}

/// Reads every balance row of a tenant, one page of the most rows a read
/// returns at a time, so a caller can go through a large tenant without
/// holding all its rows at once:
/// `while let Some(rows) = pages.next(reads).await? { ... }`.
#[derive(Debug, Clone)]
pub struct TenantRowPages<'a> {
    tenant_id: &'a ledger_domain::TenantId,
    after: Option<String>,
    done: bool,
}

impl<'a> TenantRowPages<'a> {
    /// From the tenant's first row.
    pub fn new(tenant_id: &'a ledger_domain::TenantId) -> Self {
        TenantRowPages {
            tenant_id,
            after: None,
            done: false,
        }
    }

    /// The next page's rows; `None` once the last page was read.
    pub async fn next<R: LedgerReads + ?Sized>(
        &mut self,
        reads: &R,
    ) -> Result<Option<Vec<TenantRow>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let page = reads
            .tenant_rows(self.tenant_id, self.after.as_deref(), TENANT_ROWS_PAGE_MAX)
            .await?;
        match page.next {
            Some(next) => self.after = Some(next),
            None => self.done = true,
        }
        Ok(Some(page.rows))
    }
}

/// Checks a `tenant_rows` page size.
pub fn check_tenant_rows_limit(limit: usize) -> Result<(), StoreError> {
    if limit == 0 || limit > TENANT_ROWS_PAGE_MAX {
        return Err(StoreError::LimitExceeded {
            what: "tenant balance rows page".to_owned(),
            got: limit,
            limit: TENANT_ROWS_PAGE_MAX,
        });
    }
    Ok(())
}
