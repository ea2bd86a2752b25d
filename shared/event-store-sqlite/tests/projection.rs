//! The embedded ledger projection: exactly once, coalesced, and equal to the
//! balances folded straight from the events.

use event_store::{AppendRequest, EventStore, NewEvent, StoreError, StreamId};
use event_store_sqlite::SqliteEventStore;
use event_store_sqlite::projection::BalanceRow;
use ledger_domain::projection::{BalanceDeltas, BalanceOwner};
use ledger_domain::sample::mixed_events;
use ledger_domain::{Event, journal_entry};

async fn append_in_order(store: &SqliteEventStore, events: &[Event]) {
    let mut versions = std::collections::HashMap::new();
    for event in events {
        let stream = StreamId::of(event).unwrap();
        let version = versions.entry(stream.clone()).or_insert(0u64);
        store
            .append(AppendRequest::from_domain(*version, std::slice::from_ref(event)).unwrap())
            .await
            .unwrap();
        *version += 1;
    }
}

/// The rows a single fold of every event gives.
fn expected_rows(
    events: &[Event],
) -> Vec<(
    String,
    String,
    std::collections::BTreeMap<&'static str, i64>,
)> {
    let mut deltas = BalanceDeltas::default();
    for event in events {
        deltas.add(&journal_entry(event).unwrap()).unwrap();
    }
    // The drafted-batch counters are kept in a table of their own.
    let mut rows: Vec<_> = deltas
        .rows
        .into_iter()
        .filter(|((_, currency), _)| *currency != ledger_domain::projection::DRAFTS_ROW)
        .map(|((owner, currency), fields)| {
            (
                owner.key(),
                currency.to_owned(),
                fields.into_iter().filter(|(_, v)| *v != 0).collect(),
            )
        })
        .collect();
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    rows
}

fn stored_rows(
    rows: Vec<BalanceRow>,
) -> Vec<(
    String,
    String,
    std::collections::BTreeMap<&'static str, i64>,
)> {
    rows.into_iter()
        .map(|r| {
            (
                r.owner,
                r.currency,
                r.fields.into_iter().filter(|(_, v)| *v != 0).collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn projection_in_any_step_size_equals_one_fold_and_runs_once() {
    let store = SqliteEventStore::in_memory().unwrap();
    let events = mixed_events(5, 3_000, 5);
    append_in_order(&store, &events).await;
    let mut projected = 0;
    for step in [1usize, 7, 100, 333, 10_000].iter().cycle().take(200) {
        let report = store.project_ledger(*step).await.unwrap();
        projected += report.events;
        if report.events == 0 {
            break;
        }
    }
    assert_eq!(projected, 3_000);
    assert_eq!(
        stored_rows(store.all_balances().await.unwrap()),
        expected_rows(&events)
    );
    // Independently of the coalescing code: the domain's own fold agrees.
    let mut folded = ledger_domain::Balances::new();
    for event in &events {
        folded.apply(&journal_entry(event).unwrap()).unwrap();
    }
    for (tenant, affiliate, currency) in folded.affiliate_keys() {
        let view = folded.affiliate(&tenant, &affiliate, currency).unwrap();
        let row = store
            .affiliate_balance(&tenant, &affiliate, currency.code())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(-row.fields["pending"], view.pending.amount_minor());
        assert_eq!(-row.fields["available"], view.available.amount_minor());
        assert_eq!(-row.fields["reserved"], view.reserved.amount_minor());
        assert_eq!(row.fields["receivable"], view.receivable.amount_minor());
        assert_eq!(row.fields["paid_out"], view.paid_out.amount_minor());
    }
    // Caught up: another step projects nothing and changes nothing.
    assert_eq!(store.project_ledger(100).await.unwrap().events, 0);
    assert_eq!(
        stored_rows(store.all_balances().await.unwrap()),
        expected_rows(&events)
    );
    // Every tenant's rows sum to zero per currency (paid_out is a report, not an account).
    let mut sums = std::collections::BTreeMap::new();
    for row in store.all_balances().await.unwrap() {
        let tenant = row.owner.split('/').next().unwrap().to_owned();
        let total: i64 = row
            .fields
            .iter()
            .filter(|(f, _)| **f != "paid_out")
            .map(|(_, v)| v)
            .sum();
        *sums.entry((tenant, row.currency)).or_insert(0i64) += total;
    }
    assert!(sums.values().all(|s| *s == 0), "{sums:?}");
}

#[tokio::test]
async fn a_hot_affiliate_costs_one_balance_write_per_batch() {
    let store = SqliteEventStore::in_memory().unwrap();
    // One affiliate, one tenant, one currency: everything lands on two rows.
    let events: Vec<Event> = mixed_events(9, 12_000, 1)
        .into_iter()
        .filter(|e| {
            let entry = journal_entry(e).unwrap();
            e.tenant_id().as_str() == "acme"
                && entry.batch_drafted().is_none()
                && entry
                    .postings()
                    .iter()
                    .all(|p| p.amount.currency().code() == "EUR")
        })
        .take(1_000)
        .collect();
    assert_eq!(events.len(), 1_000);
    append_in_order(&store, &events).await;
    let report = store.project_ledger(1_000).await.unwrap();
    assert_eq!(report.events, 1_000);
    assert_eq!(
        report.balance_writes, 2,
        "one affiliate row and one tenant row"
    );
    assert_eq!(
        stored_rows(store.all_balances().await.unwrap()),
        expected_rows(&events)
    );
    let tenant = ledger_domain::TenantId::new("acme").unwrap();
    let affiliate = ledger_domain::AffiliateId::new("aff-0").unwrap();
    let row = store
        .affiliate_balance(&tenant, &affiliate, "EUR")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.owner,
        BalanceOwner::Affiliate {
            tenant_id: tenant.clone(),
            affiliate_id: affiliate.clone()
        }
        .key()
    );
    // The journal pages through every line of the affiliate, in order.
    let mut after: Option<String> = None;
    let mut lines = 0;
    loop {
        let page = store
            .affiliate_journal(&tenant, &affiliate, "EUR", after.as_deref(), 97)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        assert!(page.windows(2).all(|w| w[0].token < w[1].token));
        if let Some(after) = &after {
            assert!(page[0].token > *after, "a page starts after its token");
        }
        after = Some(last.token.clone());
        lines += page.len();
    }
    assert_eq!(lines, report.journal_lines);
    assert!(matches!(
        store
            .affiliate_journal(&tenant, &affiliate, "EUR", None, 501)
            .await,
        Err(StoreError::LimitExceeded { .. })
    ));
}

#[tokio::test]
async fn a_corrupt_event_stops_the_projection_right_before_it() {
    let store = SqliteEventStore::in_memory().unwrap();
    let events = mixed_events(3, 10, 2);
    append_in_order(&store, &events[..5]).await;
    let bad = StreamId::new("acme/commission/broken").unwrap();
    store
        .append(AppendRequest::new(
            bad,
            0,
            vec![NewEvent::raw(
                "commission.recorded",
                1,
                "{oops".into(),
                chrono::Utc::now(),
            )],
        ))
        .await
        .unwrap();
    // The step projects the five good events before it, then stops there.
    let report = store.project_ledger(100).await.unwrap();
    assert_eq!(report.events, 5);
    assert!(!store.all_balances().await.unwrap().is_empty());
    // The next step reports the unreadable event, and keeps reporting it:
    // it is never skipped.
    for _ in 0..2 {
        let err = store.project_ledger(100).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::CorruptEvent { stream, version: 1, .. } if stream == "acme/commission/broken"),
            "{err}"
        );
    }
}
