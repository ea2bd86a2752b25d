//! Given / when / then: the payout batch aggregate and its postings,
//! including clawback netting and late, repeated or contradictory news.

mod support;

use ledger_domain::events::{ApprovalAuthority, SkipReason};
use ledger_domain::{
    AffiliateBalances, AffiliateId, Balances, Commission, CommissionCommand, Currency, Event,
    EventBody, ItemOutcome, MoneyMovement, PayoutBatch, PayoutBatchCommand, PayoutBatchError,
    PayoutBatchId, PayoutItemId, ReversalReason, TenantId, journal_entry,
};
use ledger_domain::{ApprovalLimits, PayoutCandidate, PayoutProfile, Planned, plan_payout};
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
        sequence: 1,
        run_id: None,
    }
}

fn approve() -> PayoutBatchCommand {
    PayoutBatchCommand::Approve {
        authority: ApprovalAuthority::Finance,
        limits: ApprovalLimits::default(),
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
    run(&mut all, approve(), "approver").unwrap();
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
    let err = run(&mut all, approve(), "maker").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the maker maker of batch b1 cannot approve it: a second person must"
    );
    run(&mut all, approve(), "approver").unwrap();
    assert!(matches!(
        run(&mut all, approve(), "third"),
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
        run(&mut all, approve(), "approver"),
        Err(PayoutBatchError::Rejected(_))
    ));
}

#[test]
fn failure_puts_money_back_exactly_once_whatever_comes_later() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    run(&mut all, approve(), "approver").unwrap();
    run(&mut all, outcome(ItemOutcome::Failed, "e1"), "stripe").unwrap();
    assert_eq!(last_movement(&all), MoneyMovement::ReservedToAvailable);
    // The same news again (same processor event id): a duplicate, nothing
    // recorded. Contradictory late news: recorded, no money moves.
    let n = all.len();
    run(&mut all, outcome(ItemOutcome::Failed, "e1"), "stripe").unwrap();
    assert_eq!(all.len(), n, "a duplicate decides nothing");
    run(&mut all, outcome(ItemOutcome::Failed, "e1b"), "stripe").unwrap();
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
    run(&mut all, approve(), "approver").unwrap();
    run(&mut all, outcome(ItemOutcome::Paid, "e1"), "paypal").unwrap();
    let n = all.len();
    run(&mut all, outcome(ItemOutcome::Paid, "e1"), "paypal").unwrap();
    assert_eq!(all.len(), n, "the same webhook twice is recorded once");
    run(&mut all, outcome(ItemOutcome::Paid, "e1-resent"), "paypal").unwrap();
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
    run(&mut all, approve(), "approver").unwrap();
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
        sequence: 1,
        run_id: None,
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
                sequence: 1,
                run_id: None,
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
                    items: dup,
                    sequence: 1,
                    run_id: None,
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
                items: same_aff,
                sequence: 1,
                run_id: None,
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
                items: zero,
                sequence: 1,
                run_id: None,
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
                items: neg,
                sequence: 1,
                run_id: None,
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
                items: mixed,
                sequence: 1,
                run_id: None,
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
                items: too_many,
                sequence: 1,
                run_id: None,
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
    run(&mut all, approve(), "approver").unwrap();
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

#[test]
fn drafting_also_registers_the_batch_in_the_tenant_draft_sequence() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    let n = all.len();
    assert_eq!(all[n - 2].type_name(), "payout_batch.drafted");
    assert_eq!(all[n - 1].type_name(), "payout_drafts.batch_registered");
    assert_eq!(all[n - 1].stream_name(), "acme/payout-drafts");
    assert_eq!(
        journal_entry(&all[n - 2]).unwrap().batch_drafted(),
        Some(&TenantId::new("acme").unwrap())
    );
}

#[test]
fn above_the_limits_only_an_admin_approves() {
    let limits = ApprovalLimits::from_json(
        r#"{"EUR": {"item_max": "50.00", "batch_total_max": "1000.00"}}"#,
    )
    .unwrap();
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    let finance = PayoutBatchCommand::Approve {
        authority: ApprovalAuthority::Finance,
        limits: limits.clone(),
    };
    let err = run(&mut all, finance, "approver").unwrap_err();
    assert_eq!(
        err.to_string(),
        "payout batch b1 needs an admin's approval: item i1 pays 100.00 EUR, above the 50.00 EUR item limit"
    );
    let admin = PayoutBatchCommand::Approve {
        authority: ApprovalAuthority::Admin,
        limits,
    };
    run(&mut all, admin, "admin").unwrap();
    assert!(ApprovalLimits::from_json(r#"{"EUR": {"item_max": "-1"}}"#).is_err());
    assert!(ApprovalLimits::from_json(r#"{"EUR": {"item": "1"}}"#).is_err());
    assert!(ApprovalLimits::from_json(r#"{"XXY": {}}"#).is_err());
}

#[test]
fn planning_pays_what_is_available_less_clawbacks_and_says_why_not() {
    use ledger_domain::{HoldReason, PayoutMethod};
    let sandbox = PayoutProfile {
        method: Some(PayoutMethod::Sandbox {
            behaviour: ledger_domain::profile::SandboxBehaviour::Settle,
        }),
        ..PayoutProfile::default()
    };
    let candidate =
        |available: &str, receivable: &str, profile: Option<PayoutProfile>| PayoutCandidate {
            affiliate_id: AffiliateId::new("aff-1").unwrap(),
            available: eur(available),
            receivable: eur(receivable),
            profile,
        };
    assert_eq!(
        plan_payout(&candidate("100", "30", Some(sandbox.clone())), None),
        Planned::Pay {
            amount: eur("70"),
            receivable_netted: eur("30"),
            processor: ledger_domain::Processor::Sandbox
        }
    );
    assert_eq!(
        plan_payout(&candidate("0", "0", None), None),
        Planned::Nothing
    );
    assert_eq!(
        plan_payout(&candidate("10", "0", None), None),
        Planned::Skip(SkipReason::NoPayoutMethod)
    );
    assert_eq!(
        plan_payout(&candidate("10", "10", Some(sandbox.clone())), None),
        Planned::Skip(SkipReason::ReceivableCoversAvailable {
            receivable: eur("10")
        })
    );
    assert_eq!(
        plan_payout(
            &candidate("10", "0", Some(sandbox.clone())),
            Some(eur("25"))
        ),
        Planned::Skip(SkipReason::BelowMinimum { minimum: eur("25") })
    );
    let mut held = sandbox.clone();
    held.holds.insert(HoldReason::KycPending);
    assert_eq!(
        plan_payout(&candidate("10", "0", Some(held)), None),
        Planned::Skip(SkipReason::OnHold {
            holds: vec![HoldReason::KycPending]
        })
    );
    let sepa = PayoutProfile {
        method: Some(PayoutMethod::Sepa {
            iban: "DE89370400440532013000".into(),
            bic: None,
            account_holder: "Jane".into(),
        }),
        ..PayoutProfile::default()
    };
    let usd = PayoutCandidate {
        available: ledger_domain::Money::parse("10", Currency::USD).unwrap(),
        receivable: ledger_domain::Money::parse("0", Currency::USD).unwrap(),
        ..candidate("0", "0", Some(sepa))
    };
    assert_eq!(
        plan_payout(&usd, None),
        Planned::Skip(SkipReason::CurrencyNotSupported {
            processor: ledger_domain::Processor::Sepa
        })
    );
}

#[test]
fn profiles_record_every_change_and_refuse_bad_payee_details() {
    use ledger_domain::{HoldReason, PayoutMethod, ProfileAggregate, ProfileChange, ProfileError};
    let aff = AffiliateId::new("aff-1").unwrap();
    let mut all: Vec<Event> = Vec::new();
    let change = |all: &mut Vec<Event>, c: ProfileChange| -> Result<usize, ProfileError> {
        let new = ProfileAggregate::from_events(all.iter()).handle(&aff, c, &ctx("finance"))?;
        let n = new.len();
        all.extend(new);
        Ok(n)
    };
    let bad = ProfileChange::MethodSet {
        method: PayoutMethod::Sepa {
            iban: "DE89370400440532013001".into(),
            bic: None,
            account_holder: "Jane".into(),
        },
    };
    assert!(matches!(change(&mut all, bad), Err(ProfileError::Payee(_))));
    assert!(all.is_empty());
    let good = ProfileChange::MethodSet {
        method: PayoutMethod::Paypal {
            receiver: "jane@example.com".into(),
        },
    };
    assert_eq!(change(&mut all, good.clone()).unwrap(), 1);
    assert_eq!(change(&mut all, good).unwrap(), 0, "no change, no event");
    let hold = ProfileChange::HoldPlaced {
        reason: HoldReason::FraudReview,
        note: "chargeback spike".into(),
    };
    assert_eq!(change(&mut all, hold).unwrap(), 1);
    let lift_other = ProfileChange::HoldLifted {
        reason: HoldReason::KycPending,
        note: "done".into(),
    };
    assert!(matches!(
        change(&mut all, lift_other),
        Err(ProfileError::NoSuchHold(..))
    ));
    let profile = ProfileAggregate::from_events(all.iter()).profile().clone();
    assert_eq!(profile.holds.len(), 1);
    assert_eq!(all[1].stream_name(), "acme/payout-profile/aff-1");
}
