//! Reads of the embedded projection: balance rows, journals, the maturity
//! schedule, payout candidates.

use std::collections::BTreeMap;

use event_store::{JournalLine, StoreError};
use ledger_domain::projection::BalanceOwner;
use ledger_domain::{AffiliateId, TenantId};
use rusqlite::{OptionalExtension, params};

use ledger_domain::projection::time_key;

use super::{BALANCE_FIELDS, BalanceRow, JOURNAL_PAGE_MAX, owner_key};
use crate::{SqliteEventStore, unavailable};

impl SqliteEventStore {
    /// The projected balance row of an affiliate (None before its first event).
    pub async fn affiliate_balance(
        &self,
        tenant_id: &TenantId,
        affiliate_id: &AffiliateId,
        currency: &str,
    ) -> Result<Option<BalanceRow>, StoreError> {
        self.balance_row(owner_key(tenant_id, affiliate_id), currency.to_owned())
            .await
    }

    /// The projected balance row of a tenant's own accounts.
    pub async fn tenant_balance(
        &self,
        tenant_id: &TenantId,
        currency: &str,
    ) -> Result<Option<BalanceRow>, StoreError> {
        self.balance_row(
            BalanceOwner::Tenant {
                tenant_id: tenant_id.clone(),
            }
            .key(),
            currency.to_owned(),
        )
        .await
    }

    async fn balance_row(
        &self,
        owner: String,
        currency: String,
    ) -> Result<Option<BalanceRow>, StoreError> {
        self.with_conn(move |conn| {
            let sql = format!(
                "SELECT {}, position FROM balances WHERE owner = ?1 AND currency = ?2",
                BALANCE_FIELDS.join(", ")
            );
            conn.query_row(&sql, params![owner, currency], |row| {
                let mut fields = BTreeMap::new();
                for (i, f) in BALANCE_FIELDS.iter().enumerate() {
                    fields.insert(*f, row.get::<_, i64>(i)?);
                }
                Ok(BalanceRow {
                    owner: owner.clone(),
                    currency: currency.clone(),
                    fields,
                    position: row.get(BALANCE_FIELDS.len())?,
                })
            })
            .optional()
            .map_err(unavailable)
        })
        .await
    }

    /// Every projected balance row, sorted by owner and currency.
    pub async fn all_balances(&self) -> Result<Vec<BalanceRow>, StoreError> {
        self.balance_rows(None).await
    }

    async fn balance_rows(&self, owner: Option<String>) -> Result<Vec<BalanceRow>, StoreError> {
        self.with_conn(move |conn| {
            let sql = format!(
                "SELECT owner, currency, {}, position FROM balances WHERE ?1 IS NULL OR owner = ?1 ORDER BY owner, currency",
                BALANCE_FIELDS.join(", ")
            );
            let mut statement = conn.prepare_cached(&sql).map_err(unavailable)?;
            let rows = statement
                .query_map([owner], |row| {
                    let mut fields = BTreeMap::new();
                    for (i, f) in BALANCE_FIELDS.iter().enumerate() {
                        fields.insert(*f, row.get::<_, i64>(i + 2)?);
                    }
                    Ok(BalanceRow { owner: row.get(0)?, currency: row.get(1)?, fields, position: row.get(2 + BALANCE_FIELDS.len())? })
                })
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable)).collect()
        })
        .await
    }

    /// An affiliate's journal in one currency, in the order its events were
    /// recorded, after a line token (`None`: from the start).
    pub async fn affiliate_journal(
        &self,
        tenant_id: &TenantId,
        affiliate_id: &AffiliateId,
        currency: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JournalLine>, StoreError> {
        self.owner_journal(owner_key(tenant_id, affiliate_id), currency, after, limit)
            .await
    }

    /// An owner's journal in one currency, in the order its events were
    /// recorded, after a line token (`None`: from the start).
    pub async fn owner_journal(
        &self,
        owner: String,
        currency: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JournalLine>, StoreError> {
        if limit == 0 || limit > JOURNAL_PAGE_MAX {
            return Err(StoreError::LimitExceeded {
                what: "journal page size".to_owned(),
                got: limit,
                limit: JOURNAL_PAGE_MAX,
            });
        }
        let currency = currency.to_owned();
        let after = after.unwrap_or_default().to_owned();
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT line, stream, version, event_type, effective_at, deltas FROM journal_lines \
                     WHERE owner = ?1 AND currency = ?2 AND line > ?3 ORDER BY line",
                )
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![owner, currency, after], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(5)?,
                    ))
                })
                .map_err(unavailable)?;
            let mut lines = Vec::new();
            for row in rows.take(limit) {
                let (token, stream, version, event_type, effective_at, deltas) =
                    row.map_err(unavailable)?;
                let deltas: BTreeMap<String, i64> =
                    serde_json::from_str(&deltas).map_err(|e| StoreError::CorruptEvent {
                        stream: stream.clone(),
                        version: version as u64,
                        reason: format!("journal line deltas: {e}"),
                    })?;
                lines.push(JournalLine {
                    token,
                    stream,
                    version: version as u64,
                    event_type,
                    effective_at,
                    deltas,
                });
            }
            Ok(lines)
        })
        .await
    }
}

impl SqliteEventStore {
    /// Every projected balance row of an affiliate, one per currency.
    pub async fn affiliate_balances(
        &self,
        tenant_id: &TenantId,
        affiliate_id: &AffiliateId,
    ) -> Result<Vec<BalanceRow>, StoreError> {
        self.balance_rows(Some(owner_key(tenant_id, affiliate_id)))
            .await
    }
}

#[async_trait::async_trait]
impl event_store::MaturitySchedule for SqliteEventStore {
    async fn due(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<event_store::DueCommission>, StoreError> {
        event_store::check_read_limit(limit)?;
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare_cached("SELECT tenant_id, commission_id, matures_at FROM maturities WHERE matures_at <= ?1 ORDER BY matures_at")
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![time_key(now)], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                .map_err(unavailable)?;
            let mut due = Vec::new();
            for row in rows.take(limit) {
                let (tenant_id, commission_id, at) = row.map_err(unavailable)?;
                let matures_at = chrono::DateTime::parse_from_rfc3339(&at)
                    .map_err(|e| StoreError::Unavailable(format!("maturities: bad time {at:?}: {e}")))?
                    .with_timezone(&chrono::Utc);
                due.push(event_store::DueCommission { tenant_id, commission_id, matures_at, slot: at });
            }
            Ok(due)
        })
        .await
    }

    async fn remove(&self, due: &event_store::DueCommission) -> Result<(), StoreError> {
        let (tenant, commission) = (due.tenant_id.clone(), due.commission_id.clone());
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM maturities WHERE tenant_id = ?1 AND commission_id = ?2",
                params![tenant, commission],
            )
            .map(|_| ())
            .map_err(unavailable)
        })
        .await
    }
}

#[async_trait::async_trait]
impl event_store::PayoutReads for SqliteEventStore {
    async fn payout_candidates(
        &self,
        tenant_id: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<event_store::CandidatePage, StoreError> {
        event_store::check_candidate_limit(limit)?;
        let prefix = format!("{tenant_id}/affiliate/");
        // Owners of this tenant sort between "t/affiliate/" and "t/affiliate0".
        let end = format!("{tenant_id}/affiliate0");
        let (after_owner, after_currency) = match after {
            None => (prefix.clone(), String::new()),
            Some(token) => match token.split_once(' ') {
                Some((o, c)) if o.starts_with(&prefix) => (o.to_owned(), c.to_owned()),
                _ => {
                    return Err(StoreError::InvalidCursor {
                        cursor: token.to_owned(),
                        reason: "not a payout candidates token of this tenant".to_owned(),
                    });
                }
            },
        };
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT b.owner, b.currency, b.available, b.receivable, p.profile FROM balances b \
                     LEFT JOIN payout_profiles p ON p.owner = b.owner \
                     WHERE (b.owner, b.currency) > (?1, ?2) AND b.owner < ?3 AND b.available < 0 \
                     ORDER BY b.owner, b.currency LIMIT ?4",
                )
                .map_err(unavailable)?;
            let mut rows = statement
                .query(params![after_owner, after_currency, end, limit as i64])
                .map_err(unavailable)?;
            let mut candidates = Vec::new();
            let mut last = None;
            while let Some(row) = rows.next().map_err(unavailable)? {
                let owner: String = row.get(0).map_err(unavailable)?;
                let currency: String = row.get(1).map_err(unavailable)?;
                let available: i64 = row.get(2).map_err(unavailable)?;
                let receivable: i64 = row.get(3).map_err(unavailable)?;
                let profile: Option<String> = row.get(4).map_err(unavailable)?;
                candidates.push(event_store::payout_candidate(owner.strip_prefix(&prefix).unwrap_or(&owner), &currency, available, receivable, profile.as_deref())?);
                last = Some(format!("{owner} {currency}"));
            }
            let next = if candidates.len() == limit { last } else { None };
            Ok(event_store::CandidatePage { candidates, next })
        })
        .await
    }

    async fn batches_drafted(&self, tenant_id: &TenantId) -> Result<u64, StoreError> {
        let tenant = tenant_id.to_string();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT batches_drafted FROM payout_drafting WHERE tenant_id = ?1",
                [tenant],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|n| n.unwrap_or(0) as u64)
            .map_err(unavailable)
        })
        .await
    }

    /// None, ever: the embedded projector stops at an event it cannot
    /// project (and reports it) rather than parking it.
    async fn parked_events(
        &self,
        _tenant_id: &TenantId,
    ) -> Result<Vec<event_store::ParkedEvent>, StoreError> {
        Ok(Vec::new())
    }
}

impl SqliteEventStore {
    /// A page of one tenant's balance rows after `(owner, currency)`.
    async fn tenant_rows_after(
        &self,
        tenant_id: &TenantId,
        after: Option<(String, String)>,
        limit: usize,
    ) -> Result<Vec<BalanceRow>, StoreError> {
        // Owner keys start `tenant/`; `0` is the character after `/`.
        let low = format!("{tenant_id}/");
        let high = format!("{tenant_id}0");
        let (after_owner, after_currency) = after.unwrap_or_default();
        self.with_conn(move |conn| {
            let sql = format!(
                "SELECT owner, currency, {}, position FROM balances \
                 WHERE owner >= ?1 AND owner < ?2 AND (owner, currency) > (?3, ?4) \
                 ORDER BY owner, currency LIMIT ?5",
                BALANCE_FIELDS.join(", ")
            );
            let mut statement = conn.prepare_cached(&sql).map_err(unavailable)?;
            let rows = statement
                .query_map(
                    params![low, high, after_owner, after_currency, limit as i64],
                    |row| {
                        let mut fields = BTreeMap::new();
                        for (i, f) in BALANCE_FIELDS.iter().enumerate() {
                            fields.insert(*f, row.get::<_, i64>(i + 2)?);
                        }
                        Ok(BalanceRow {
                            owner: row.get(0)?,
                            currency: row.get(1)?,
                            fields,
                            position: row.get(2 + BALANCE_FIELDS.len())?,
                        })
                    },
                )
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable)).collect()
        })
        .await
    }
}

fn public_fields(fields: BTreeMap<&'static str, i64>) -> event_store::Fields {
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[async_trait::async_trait]
impl event_store::LedgerReads for SqliteEventStore {
    async fn balances(
        &self,
        owner: &BalanceOwner,
    ) -> Result<Vec<(String, event_store::Fields)>, StoreError> {
        Ok(self
            .balance_rows(Some(owner.key()))
            .await?
            .into_iter()
            .map(|r| (r.currency, public_fields(r.fields)))
            .collect())
    }

    async fn journal(
        &self,
        owner: &BalanceOwner,
        currency: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<event_store::JournalPage, StoreError> {
        let lines = self
            .owner_journal(owner.key(), currency, after, limit)
            .await?;
        let next = (lines.len() == limit)
            .then(|| lines.last().map(|l| l.token.clone()))
            .flatten();
        Ok(event_store::JournalPage { lines, next })
    }

    async fn tenant_rows(
        &self,
        tenant_id: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<event_store::TenantRowPage, StoreError> {
        event_store::check_tenant_rows_limit(limit)?;
        let after = match after {
            None => None,
            Some(token) => Some(
                token
                    .split_once(' ')
                    .filter(|(o, _)| o.starts_with(&format!("{tenant_id}/")))
                    .map(|(o, c)| (o.to_owned(), c.to_owned()))
                    .ok_or_else(|| StoreError::InvalidCursor {
                        cursor: token.to_owned(),
                        reason: "not a balance rows token of this tenant".to_owned(),
                    })?,
            ),
        };
        let rows = self.tenant_rows_after(tenant_id, after, limit).await?;
        let next = (rows.len() == limit)
            .then(|| rows.last().map(|r| format!("{} {}", r.owner, r.currency)))
            .flatten();
        let rows = rows
            .into_iter()
            .filter(|r| !r.currency.starts_with('#'))
            .map(|r| {
                let owner = BalanceOwner::from_key(&r.owner).ok_or_else(|| {
                    StoreError::Unavailable(format!(
                        "balance row owner {:?} is unreadable",
                        r.owner
                    ))
                })?;
                Ok(event_store::TenantRow {
                    owner,
                    currency: r.currency,
                    fields: public_fields(r.fields),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(event_store::TenantRowPage { rows, next })
    }
}
