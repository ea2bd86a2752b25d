//! Given / when / then: the payout batch aggregate and its postings,
//! including clawback netting and late, repeated or contradictory news.

mod support;

use ledger_domain::{
    AffiliateBalances, AffiliateId, Balances, Commission, CommissionCommand, Currency, Event,
    EventBody, ItemOutcome, MoneyMovement, PayoutBatch, PayoutBatchCommand, PayoutBatchError,
    PayoutBatchId, PayoutItemId, ReversalReason, TenantId, journal_entry,
};
use support::*;

fn view(events: &[Event], affiliate: &str) -> AffiliateBalances {
    let mut balances = Balances::new();
    for event in events {
        balances.apply(&journal_entry(event).unwrap()).unwrap();
    }
    let trial = balances.trial_balance();
    assert!(
        trial.values().all(|sum| *sum == 0),
        "trial balance {trial:?}"
    );
    balances
        .affiliate(
            &TenantId::new("acme").unwrap(),
            &AffiliateId::new(affiliate).unwrap(),
            Currency::EUR,
        )
        .unwrap()
}

/// An affiliate with `amount` matured and available.
fn earned(commission: &str, amount: &str) -> Vec<Event> {
    let mut events = Commission::default()
        .handle(record(commission, "aff-1", eur(amount), 0), &ctx("tracker"))
        .unwrap();
    events.extend(
        Commission::from_events(&events)
            .handle(CommissionCommand::Mature, &days_later(0))
            .unwrap(),
    );
    events
}

fn batch_events(all: &[Event]) -> Vec<Event> {
    all.iter()
        .filter(|e| {
            matches!(
                e.body().aggregate(),
                ledger_domain::events::AggregateRef::PayoutBatch(_)
            )
        })
        .cloned()
        .collect()
}

fn run(
    all: &mut Vec<Event>,
    command: PayoutBatchCommand,
    actor: &str,
) -> Result<(), PayoutBatchError> {
    let batch = PayoutBatch::from_events(&batch_events(all));
    let new = batch.handle(command, &ctx(actor))?;
    all.extend(new);
    Ok(())
}

fn draft(amount: &str, netted: &str) -> PayoutBatchCommand {
    PayoutBatchCommand::Draft {
        batch_id: PayoutBatchId::new("b1").unwrap(),
        items: vec![item("i1", "aff-1", eur(amount), eur(netted))],
    }
}

fn outcome(o: ItemOutcome, id: &str) -> PayoutBatchCommand {
    PayoutBatchCommand::RecordOutcome {
        item_id: PayoutItemId::new("i1").unwrap(),
        outcome: o,
        processor_event_id: Some(id.into()),
        reason: None,
    }
}

fn last_movement(all: &[Event]) -> MoneyMovement {
    match all.last().unwrap().body() {
        EventBody::PayoutItemPaid(o)
        | EventBody::PayoutItemFailed(o)
        | EventBody::PayoutItemReturned(o)
        | EventBody::PayoutItemUnclaimed(o) => o.movement,
        other => panic!("not an outcome: {other:?}"),
    }
}

#[test]
fn drafting_reserves_and_paying_moves_to_paid_out() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    let v = view(&all, "aff-1");
    assert_eq!((v.available, v.reserved), (eur("0"), eur("100")));
    run(&mut all, PayoutBatchCommand::Approve, "approver").unwrap();
    run(
        &mut all,
        PayoutBatchCommand::Submit {
            item_id: PayoutItemId::new("i1").unwrap(),
            processor_reference: Some("tr_1".into()),
        },
        "dispatcher",
    )
    .unwrap();
    run(&mut all, outcome(ItemOutcome::Paid, "evt_1"), "stripe").unwrap();
    let v = view(&all, "aff-1");
    assert_eq!((v.reserved, v.paid_out), (eur("0"), eur("100")));
}

#[test]
fn the_maker_cannot_approve_and_nobody_approves_twice() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    let err = run(&mut all, PayoutBatchCommand::Approve, "maker").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the maker maker of batch b1 cannot approve it: a second person must"
    );
    run(&mut all, PayoutBatchCommand::Approve, "approver").unwrap();
    assert!(matches!(
        run(&mut all, PayoutBatchCommand::Approve, "third"),
        Err(PayoutBatchError::AlreadyApproved(_))
    ));
    assert!(matches!(
        run(
            &mut all,
            PayoutBatchCommand::Reject {
                reason: "late".into()
            },
            "third"
        ),
        Err(PayoutBatchError::AlreadyApproved(_))
    ));
}

#[test]
fn nothing_is_submitted_before_approval() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    let submit = PayoutBatchCommand::Submit {
        item_id: PayoutItemId::new("i1").unwrap(),
        processor_reference: None,
    };
    assert!(matches!(
        run(&mut all, submit, "dispatcher"),
        Err(PayoutBatchError::NotApproved(_))
    ));
    assert!(matches!(
        run(&mut all, outcome(ItemOutcome::Paid, "e"), "stripe"),
        Err(PayoutBatchError::NotApproved(_))
    ));
}

#[test]
fn rejection_releases_every_reservation_and_netting() {
    let mut all = earned("c1", "100");
    all.extend(
        Commission::from_events(&all[..2])
            .handle(
                CommissionCommand::Reverse {
                    amount: eur("10"),
                    reason: ReversalReason::Refund,
                    reference: None,
                },
                &ctx("t"),
            )
            .unwrap(),
    );
    run(&mut all, draft("90", "10"), "maker").unwrap();
    let v = view(&all, "aff-1");
    assert_eq!(
        (v.available, v.reserved, v.receivable),
        (eur("0"), eur("90"), eur("0"))
    );
    run(
        &mut all,
        PayoutBatchCommand::Reject {
            reason: "wrong period".into(),
        },
        "approver",
    )
    .unwrap();
    let v = view(&all, "aff-1");
    assert_eq!(
        (v.available, v.reserved, v.receivable, v.net_payable),
        (eur("100"), eur("0"), eur("10"), eur("90"))
    );
    assert!(matches!(
        run(&mut all, PayoutBatchCommand::Approve, "approver"),
        Err(PayoutBatchError::Rejected(_))
    ));
}

#[test]
fn failure_puts_money_back_exactly_once_whatever_comes_later() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    run(&mut all, PayoutBatchCommand::Approve, "approver").unwrap();
    run(&mut all, outcome(ItemOutcome::Failed, "e1"), "stripe").unwrap();
    assert_eq!(last_movement(&all), MoneyMovement::ReservedToAvailable);
    // The same news again, then contradictory late news: recorded, no money moves.
    run(&mut all, outcome(ItemOutcome::Failed, "e1"), "stripe").unwrap();
    assert_eq!(last_movement(&all), MoneyMovement::None);
    run(&mut all, outcome(ItemOutcome::Paid, "e0"), "stripe").unwrap();
    assert_eq!(last_movement(&all), MoneyMovement::None);
    run(&mut all, outcome(ItemOutcome::Returned, "e2"), "stripe").unwrap();
    assert_eq!(last_movement(&all), MoneyMovement::None);
    let v = view(&all, "aff-1");
    assert_eq!(
        (v.available, v.reserved, v.paid_out),
        (eur("100"), eur("0"), eur("0"))
    );
}

#[test]
fn a_return_weeks_after_payment_credits_back_once() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    run(&mut all, PayoutBatchCommand::Approve, "approver").unwrap();
    run(&mut all, outcome(ItemOutcome::Paid, "e1"), "paypal").unwrap();
    run(&mut all, outcome(ItemOutcome::Paid, "e1"), "paypal").unwrap();
    assert_eq!(last_movement(&all), MoneyMovement::None);
    run(&mut all, outcome(ItemOutcome::Returned, "e2"), "paypal").unwrap();
    assert_eq!(last_movement(&all), MoneyMovement::PaidToAvailable);
    run(&mut all, outcome(ItemOutcome::Unclaimed, "e3"), "paypal").unwrap();
    assert_eq!(last_movement(&all), MoneyMovement::None);
    let v = view(&all, "aff-1");
    assert_eq!(
        (v.available, v.reserved, v.paid_out),
        (eur("100"), eur("0"), eur("0"))
    );
}

#[test]
fn clawback_after_payout_is_netted_against_later_earnings() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    run(&mut all, PayoutBatchCommand::Approve, "approver").unwrap();
    run(&mut all, outcome(ItemOutcome::Paid, "e1"), "stripe").unwrap();
    // A chargeback after the money left.
    all.extend(
        Commission::from_events(&all[..2])
            .handle(
                CommissionCommand::Reverse {
                    amount: eur("30"),
                    reason: ReversalReason::Chargeback,
                    reference: None,
                },
                &ctx("t"),
            )
            .unwrap(),
    );
    let v = view(&all, "aff-1");
    assert_eq!(
        (v.available, v.receivable, v.net_payable, v.paid_out),
        (eur("0"), eur("30"), eur("-30"), eur("100"))
    );
    all.extend(earned("c2", "50"));
    let v = view(&all, "aff-1");
    assert_eq!(v.net_payable, eur("20"));
    let next = PayoutBatchCommand::Draft {
        batch_id: PayoutBatchId::new("b2").unwrap(),
        items: vec![item("i2", "aff-1", eur("20"), eur("30"))],
    };
    let b2 = PayoutBatch::default().handle(next, &ctx("maker")).unwrap();
    all.extend(b2);
    let v = view(&all, "aff-1");
    assert_eq!(
        (v.available, v.receivable, v.reserved),
        (eur("0"), eur("0"), eur("20"))
    );
}

#[test]
fn bad_drafts_are_refused_with_the_item_named() {
    let batch = PayoutBatch::default();
    let b = || PayoutBatchId::new("b1").unwrap();
    let err = batch
        .handle(
            PayoutBatchCommand::Draft {
                batch_id: b(),
                items: vec![],
            },
            &ctx("m"),
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "a batch needs 1 to 500 items, got 0");
    let dup = vec![
        item("i1", "a", eur("1"), eur("0")),
        item("i1", "b", eur("1"), eur("0")),
    ];
    assert_eq!(
        batch
            .handle(
                PayoutBatchCommand::Draft {
                    batch_id: b(),
                    items: dup
                },
                &ctx("m")
            )
            .unwrap_err()
            .to_string(),
        "items[1]: item id i1 appears twice"
    );
    let same_aff = vec![
        item("i1", "a", eur("1"), eur("0")),
        item("i2", "a", eur("1"), eur("0")),
    ];
    assert!(matches!(
        batch.handle(
            PayoutBatchCommand::Draft {
                batch_id: b(),
                items: same_aff
            },
            &ctx("m")
        ),
        Err(PayoutBatchError::DuplicateAffiliateCurrency { index: 1, .. })
    ));
    let zero = vec![item("i1", "a", eur("0"), eur("0"))];
    assert!(matches!(
        batch.handle(
            PayoutBatchCommand::Draft {
                batch_id: b(),
                items: zero
            },
            &ctx("m")
        ),
        Err(PayoutBatchError::ItemNotPositive { index: 0 })
    ));
    let neg = vec![item("i1", "a", eur("1"), eur("-1"))];
    assert!(matches!(
        batch.handle(
            PayoutBatchCommand::Draft {
                batch_id: b(),
                items: neg
            },
            &ctx("m")
        ),
        Err(PayoutBatchError::NettedNegative { index: 0 })
    ));
    let mixed = vec![item(
        "i1",
        "a",
        eur("1"),
        ledger_domain::Money::parse("1", Currency::USD).unwrap(),
    )];
    assert!(matches!(
        batch.handle(
            PayoutBatchCommand::Draft {
                batch_id: b(),
                items: mixed
            },
            &ctx("m")
        ),
        Err(PayoutBatchError::Money(_))
    ));
    let too_many: Vec<_> = (0..501)
        .map(|i| item(&format!("i{i}"), &format!("a{i}"), eur("1"), eur("0")))
        .collect();
    assert!(matches!(
        batch.handle(
            PayoutBatchCommand::Draft {
                batch_id: b(),
                items: too_many
            },
            &ctx("m")
        ),
        Err(PayoutBatchError::ItemCount { got: 501, max: 500 })
    ));
}

#[test]
fn unknown_items_are_refused() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    run(&mut all, PayoutBatchCommand::Approve, "approver").unwrap();
    let cmd = PayoutBatchCommand::RecordOutcome {
        item_id: PayoutItemId::new("nope").unwrap(),
        outcome: ItemOutcome::Paid,
        processor_event_id: None,
        reason: None,
    };
    assert_eq!(
        run(&mut all, cmd, "stripe").unwrap_err().to_string(),
        "payout batch b1 has no item nope"
    );
}
