//! The trial balance reads an unbalanced ledger again before reporting it:
//! a read that caught one side of an entry without the other (rows read
//! page by page while the projector writes, or a row not yet in an
//! eventually consistent index) is not reported; an imbalance that stays is.

use std::sync::atomic::{AtomicUsize, Ordering};

use event_store::{Fields, JournalPage, LedgerReads, StoreError, TenantRow, TenantRowPage};
use ledger_domain::TenantId;
use ledger_domain::projection::BalanceOwner;

/// Rows whose affiliate side appears only from read `complete_from` on
/// (`usize::MAX`: never).
struct Reads {
    reads: AtomicUsize,
    complete_from: usize,
}

fn row(owner: BalanceOwner, field: &str, minor: i64) -> TenantRow {
    TenantRow {
        owner,
        currency: "EUR".to_owned(),
        fields: Fields::from([(field.to_owned(), minor)]),
    }
}

#[async_trait::async_trait]
impl LedgerReads for Reads {
    async fn balances(&self, _: &BalanceOwner) -> Result<Vec<(String, Fields)>, StoreError> {
        Ok(Vec::new())
    }

    async fn journal(
        &self,
        _: &BalanceOwner,
        _: &str,
        _: Option<&str>,
        _: usize,
    ) -> Result<JournalPage, StoreError> {
        Ok(JournalPage::default())
    }

    async fn tenant_rows(
        &self,
        tenant_id: &TenantId,
        _: Option<&str>,
        _: usize,
    ) -> Result<TenantRowPage, StoreError> {
        let read = self.reads.fetch_add(1, Ordering::SeqCst);
        let mut rows = vec![row(
            BalanceOwner::Tenant {
                tenant_id: tenant_id.clone(),
            },
            "commission_expense",
            1_000,
        )];
        if read >= self.complete_from {
            rows.push(row(
                BalanceOwner::Affiliate {
                    tenant_id: tenant_id.clone(),
                    affiliate_id: ledger_domain::AffiliateId::new("aff-1").unwrap(),
                },
                "pending",
                -1_000,
            ));
        }
        Ok(TenantRowPage { rows, next: None })
    }
}

#[tokio::test]
async fn an_imbalance_one_read_caught_is_read_again_and_not_reported() {
    let reads = Reads {
        reads: AtomicUsize::new(0),
        complete_from: 1,
    };
    let tenant = TenantId::new("acme").unwrap();
    let lines = reporting::trial::trial_balance(&reads, &tenant)
        .await
        .unwrap();
    assert!(lines.iter().all(|l| l.balanced), "{lines:?}");
    assert_eq!(reads.reads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_imbalance_that_stays_is_reported_after_two_more_reads() {
    let reads = Reads {
        reads: AtomicUsize::new(0),
        complete_from: usize::MAX,
    };
    let tenant = TenantId::new("acme").unwrap();
    let lines = reporting::trial::trial_balance(&reads, &tenant)
        .await
        .unwrap();
    assert_eq!(lines.len(), 1);
    assert!(!lines[0].balanced);
    assert_eq!(lines[0].difference_minor, 1_000);
    assert_eq!(reads.reads.load(Ordering::SeqCst), 3);
}
