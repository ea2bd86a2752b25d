//! Reversals and adjustments through their use case, on the embedded store:
//! where the money comes from before and after maturity, idempotency by
//! tenant, operation and key, and every refusal naming its field with
//! nothing written (no event, no idempotency record).

use chrono::{DateTime, Duration, TimeZone, Utc};
use event_store::{EventStore, IdempotencyKey, IdempotencyScope, Operation};
use event_store_sqlite::SqliteEventStore;
use ledger_app::adjustments::{
    CHANGES_MAX, Change, ChangeError, Changed, CommissionChange, Effect, OPERATION_ADJUSTMENT,
    OPERATION_CHANGES, OPERATION_REVERSAL, change_commissions,
};
use ledger_app::{rebuild_balances, run_commission};
use ledger_domain::{
    Actor, ActorKind, AffiliateBalances, AffiliateId, CommandContext, CommissionCommand,
    CommissionId, CommissionStage, Currency, Money, ReversalReason, TenantId,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn ctx(days: i64) -> CommandContext {
    CommandContext {
        tenant_id: TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::Service, "tracking").unwrap(),
        now: t0() + Duration::days(days),
        effective_at: t0() + Duration::days(days),
    }
}

fn eur(text: &str) -> Money {
    Money::parse(text, Currency::EUR).unwrap()
}

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).unwrap()
}

fn op(name: &str) -> Operation {
    Operation::new(name).unwrap()
}

/// Records `id` for aff-1: 10.00 EUR with a hold period of `hold` days.
async fn record(store: &SqliteEventStore, id: &str, hold: u32) {
    let command = CommissionCommand::Record {
        commission_id: CommissionId::new(id).unwrap(),
        affiliate_id: AffiliateId::new("aff-1").unwrap(),
        amount: eur("10.00"),
        hold_period_days: hold,
        source_conversion_id: format!("conv-{id}"),
        order_reference: None,
    };
    run_commission(
        store,
        &CommissionId::new(id).unwrap(),
        command,
        &ctx(0),
        None,
    )
    .await
    .unwrap();
}

fn reversal(id: &str, amount: Option<&str>, reason: ReversalReason) -> CommissionChange {
    CommissionChange {
        commission_id: CommissionId::new(id).unwrap(),
        change: Change::Reverse {
            amount: amount.map(eur),
            currency: Currency::EUR,
            reason,
            reference: format!("ref-{id}"),
        },
        occurred_at: None,
    }
}

fn adjustment(id: &str, delta: Money) -> CommissionChange {
    CommissionChange {
        commission_id: CommissionId::new(id).unwrap(),
        change: Change::Adjust {
            delta,
            reason: "basket corrected".into(),
        },
        occurred_at: Some(t0() + Duration::hours(3)),
    }
}

async fn count(store: &SqliteEventStore) -> usize {
    store.read_all(None, 1000).await.unwrap().events.len()
}

async fn balances(store: &SqliteEventStore) -> AffiliateBalances {
    rebuild_balances(store)
        .await
        .unwrap()
        .affiliate(
            &TenantId::new("acme").unwrap(),
            &AffiliateId::new("aff-1").unwrap(),
            Currency::EUR,
        )
        .unwrap()
}

#[tokio::test]
async fn a_refund_in_the_hold_period_reduces_pending_and_a_retry_gets_the_first_answer() {
    let store = SqliteEventStore::in_memory().unwrap();
    record(&store, "c1", 30).await;
    let refund = [reversal("c1", Some("4.00"), ReversalReason::Refund)];
    let first = change_commissions(
        &store,
        &ctx(1),
        &op(OPERATION_REVERSAL),
        &refund,
        &key("r1"),
    )
    .await
    .unwrap();
    assert!(!first[0].duplicate);
    assert_eq!(first[0].version, 2);
    assert_eq!(
        first[0].effect,
        Effect::Reversed {
            amount: eur("4.00"),
            reason: ReversalReason::Refund,
            whole: false,
            stage: CommissionStage::Pending
        }
    );
    assert_eq!(first[0].effective_at, ctx(1).now, "left out: now");
    let b = balances(&store).await;
    assert_eq!((b.pending, b.receivable), (eur("6.00"), eur("0.00")));
    // The network retries a day later: the first answer, nothing written.
    let again = change_commissions(
        &store,
        &ctx(2),
        &op(OPERATION_REVERSAL),
        &refund,
        &key("r1"),
    )
    .await
    .unwrap();
    assert!(again[0].duplicate);
    assert_eq!(
        (again[0].version, &again[0].effect, again[0].effective_at),
        (first[0].version, &first[0].effect, first[0].effective_at)
    );
    assert_eq!(count(&store).await, 2);
    // Another refund under another key is another refund.
    change_commissions(
        &store,
        &ctx(2),
        &op(OPERATION_REVERSAL),
        &refund,
        &key("r2"),
    )
    .await
    .unwrap();
    assert_eq!(balances(&store).await.pending, eur("2.00"));
}

#[tokio::test]
async fn a_whole_chargeback_after_maturity_is_a_receivable_and_its_retry_is_not_refused() {
    let store = SqliteEventStore::in_memory().unwrap();
    record(&store, "c1", 0).await;
    let c1 = CommissionId::new("c1").unwrap();
    run_commission(&store, &c1, CommissionCommand::Mature, &ctx(1), None)
        .await
        .unwrap();
    let chargeback = [reversal("c1", None, ReversalReason::Chargeback)];
    let first = change_commissions(
        &store,
        &ctx(2),
        &op(OPERATION_REVERSAL),
        &chargeback,
        &key("cb1"),
    )
    .await
    .unwrap();
    assert_eq!(
        first[0].effect,
        Effect::Reversed {
            amount: eur("10.00"),
            reason: ReversalReason::Chargeback,
            whole: true,
            stage: CommissionStage::Matured
        }
    );
    let b = balances(&store).await;
    assert_eq!((b.available, b.receivable), (eur("10.00"), eur("10.00")));
    // Nothing remains now, yet the retry is the first answer, not a refusal.
    let again = change_commissions(
        &store,
        &ctx(3),
        &op(OPERATION_REVERSAL),
        &chargeback,
        &key("cb1"),
    )
    .await
    .unwrap();
    assert!(again[0].duplicate);
    assert_eq!(
        again[0],
        Changed {
            duplicate: true,
            ..first[0].clone()
        }
    );
    // Under a new key it is refused: nothing remains to reverse.
    let refused = change_commissions(
        &store,
        &ctx(3),
        &op(OPERATION_REVERSAL),
        &chargeback,
        &key("cb2"),
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(ChangeError::Refused {
                field: "amount",
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(count(&store).await, 3);
}

#[tokio::test]
async fn the_same_key_with_other_facts_is_a_conflict_wherever_it_points() {
    let store = SqliteEventStore::in_memory().unwrap();
    record(&store, "c1", 30).await;
    record(&store, "c2", 30).await;
    let reverse = op(OPERATION_REVERSAL);
    change_commissions(
        &store,
        &ctx(1),
        &reverse,
        &[reversal("c1", Some("1.00"), ReversalReason::Refund)],
        &key("k"),
    )
    .await
    .unwrap();
    for other in [
        reversal("c1", Some("2.00"), ReversalReason::Refund),
        reversal("c1", Some("1.00"), ReversalReason::Fraud),
        reversal("c1", None, ReversalReason::Refund),
        reversal("c2", Some("1.00"), ReversalReason::Refund),
    ] {
        let got = change_commissions(
            &store,
            &ctx(1),
            &reverse,
            std::slice::from_ref(&other),
            &key("k"),
        )
        .await;
        assert!(
            matches!(got, Err(ChangeError::KeyReused { .. })),
            "{other:?}: {got:?}"
        );
    }
    // The same key for another operation is another request.
    change_commissions(
        &store,
        &ctx(1),
        &op(OPERATION_ADJUSTMENT),
        &[adjustment("c2", eur("-1.00"))],
        &key("k"),
    )
    .await
    .unwrap();
    assert_eq!(count(&store).await, 4);
}

/// A name, the changes, and the change and field refused (none: the count).
type Case = (
    &'static str,
    Vec<CommissionChange>,
    Option<(usize, &'static str)>,
);

#[tokio::test]
async fn bad_changes_are_refused_naming_the_field_and_nothing_is_written() {
    let store = SqliteEventStore::in_memory().unwrap();
    record(&store, "c1", 30).await;
    let mut in_yen = reversal("c1", None, ReversalReason::Refund);
    if let Change::Reverse { currency, .. } = &mut in_yen.change {
        *currency = Currency::JPY;
    }
    let too_many: Vec<CommissionChange> = (0..=CHANGES_MAX)
        .map(|i| reversal(&format!("c{i}"), Some("1.00"), ReversalReason::Refund))
        .collect();
    let cases: Vec<Case> = vec![
        (
            "more than remains",
            vec![reversal("c1", Some("10.01"), ReversalReason::Refund)],
            Some((0, "amount")),
        ),
        (
            "unknown commission",
            vec![reversal("c-404", Some("1.00"), ReversalReason::Refund)],
            Some((0, "commission_id")),
        ),
        (
            "reversal in another currency",
            vec![in_yen],
            Some((0, "currency")),
        ),
        (
            "adjustment in another currency",
            vec![adjustment(
                "c1",
                Money::parse("-100", Currency::JPY).unwrap(),
            )],
            Some((0, "currency")),
        ),
        (
            "adjustment below zero",
            vec![adjustment("c1", eur("-10.01"))],
            Some((0, "delta")),
        ),
        (
            "zero adjustment",
            vec![adjustment("c1", eur("0"))],
            Some((0, "delta")),
        ),
        (
            "one bad change of two",
            vec![
                adjustment("c1", eur("-1.00")),
                reversal("c-404", None, ReversalReason::Fraud),
            ],
            Some((1, "commission_id")),
        ),
        (
            "the same commission twice",
            vec![
                adjustment("c1", eur("-1.00")),
                adjustment("c1", eur("-2.00")),
            ],
            Some((1, "commission_id")),
        ),
        ("too many", too_many, None),
        ("none", vec![], None),
    ];
    let operation = op(OPERATION_CHANGES);
    for (name, changes, expected) in cases {
        let got = change_commissions(
            &store,
            &ctx(1),
            &operation,
            &changes,
            &key(name.replace(' ', "-").as_str()),
        )
        .await;
        match (&got, expected) {
            (Err(ChangeError::Refused { index, field, rule }), Some((i, f))) => {
                assert_eq!((*index, *field), (i, f), "{name}: {rule}");
                assert!(!rule.is_empty());
            }
            (Err(ChangeError::UnknownCommission { index, .. }), Some((i, "commission_id"))) => {
                assert_eq!(*index, i, "{name}")
            }
            (Err(ChangeError::Count { .. }), None) => {}
            _ => panic!("{name}: {got:?}"),
        }
        assert_eq!(count(&store).await, 1, "{name}: no event written");
        let scope = IdempotencyScope::new(
            TenantId::new("acme").unwrap(),
            operation.clone(),
            key(name.replace(' ', "-").as_str()),
        );
        assert!(
            store.idempotency_record(&scope).await.unwrap().is_none(),
            "{name}: no answer kept, so a corrected retry is decided afresh"
        );
    }
    assert_eq!(balances(&store).await.pending, eur("10.00"));
}

#[tokio::test]
async fn several_changes_land_together() {
    let store = SqliteEventStore::in_memory().unwrap();
    record(&store, "c1", 30).await;
    record(&store, "c2", 30).await;
    let changes = [
        reversal("c1", Some("2.50"), ReversalReason::Fraud),
        adjustment("c2", eur("1.25")),
    ];
    let done = change_commissions(&store, &ctx(1), &op(OPERATION_CHANGES), &changes, &key("b"))
        .await
        .unwrap();
    assert_eq!(done.len(), 2);
    assert_eq!(
        done[1].effective_at,
        t0() + Duration::hours(3),
        "occurred_at is the effective time"
    );
    assert_eq!(balances(&store).await.pending, eur("18.75"));
    let again = change_commissions(&store, &ctx(1), &op(OPERATION_CHANGES), &changes, &key("b"))
        .await
        .unwrap();
    assert!(again.iter().all(|c| c.duplicate));
    assert_eq!(count(&store).await, 4);
}

/// Identical retries at once (a whole reversal: whoever decides after the
/// first has nothing left to reverse) all get the first answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_retries_all_get_the_first_answer() {
    const CONCURRENT: usize = 12;
    for round in 0..5 {
        let store = std::sync::Arc::new(SqliteEventStore::in_memory().unwrap());
        record(&store, "c1", 30).await;
        let tasks: Vec<_> = (0..CONCURRENT)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    change_commissions(
                        &*store,
                        &ctx(1),
                        &op(OPERATION_REVERSAL),
                        &[reversal("c1", None, ReversalReason::Fraud)],
                        &key("fraud-1"),
                    )
                    .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(
                task.await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}")),
            );
        }
        let applied: Vec<_> = answers.iter().filter(|a| !a[0].duplicate).collect();
        assert_eq!(applied.len(), 1, "round {round}");
        for answer in &answers {
            assert_eq!(answer[0].effect, applied[0][0].effect, "round {round}");
            assert_eq!(answer[0].version, 2);
        }
        assert_eq!(count(&store).await, 2, "round {round}");
    }
}

/// The largest request there is (every change, every reason as long as
/// allowed) lands, with its answer kept for its key.
#[tokio::test]
async fn a_full_bulk_with_the_longest_reasons_lands() {
    let store = SqliteEventStore::in_memory().unwrap();
    let changes: Vec<CommissionChange> = (0..CHANGES_MAX)
        .map(|i| CommissionChange {
            change: Change::Adjust {
                delta: eur("-0.01"),
                reason: "r".repeat(ledger_domain::events::TEXT_LEN_MAX),
            },
            ..adjustment(&format!("c{i}"), eur("-0.01"))
        })
        .collect();
    for change in &changes {
        record(&store, change.commission_id.as_str(), 30).await;
    }
    let done = change_commissions(
        &store,
        &ctx(1),
        &op(OPERATION_CHANGES),
        &changes,
        &key("max"),
    )
    .await
    .unwrap();
    assert_eq!(done.len(), CHANGES_MAX);
    let again = change_commissions(
        &store,
        &ctx(1),
        &op(OPERATION_CHANGES),
        &changes,
        &key("max"),
    )
    .await
    .unwrap();
    assert!(again.iter().all(|c| c.duplicate));
    assert_eq!(count(&store).await, 2 * CHANGES_MAX);
}
