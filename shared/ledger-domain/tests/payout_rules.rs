//! Given / when / then: the payout batch aggregate and its postings,
//! including clawback netting and late, repeated or contradictory news.

mod support;

use ledger_domain::events::{ApprovalAuthority, SkipReason};
use ledger_domain::{
    AffiliateBalances, AffiliateId, Balances, Commission, CommissionCommand, Currency, Event,
    EventBody, ItemOutcome, MoneyMovement, PayoutBatch, PayoutBatchCommand, PayoutBatchError,
    PayoutBatchId, PayoutItemId, ReversalReason, TenantId, journal_entry,
};
use ledger_domain::{
    ApprovalLimits, OutcomeFacts, PayoutCandidate, PayoutProfile, Planned, plan_payout,
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
        sequence: 1,
        run_id: None,
    }
}

fn eur_limits() -> ApprovalLimits {
    ApprovalLimits::from_json(r#"{"EUR": {"item_max": "10000.00"}}"#).unwrap()
}

fn approve() -> PayoutBatchCommand {
    PayoutBatchCommand::Approve {
        authority: ApprovalAuthority::Finance,
        limits: eur_limits(),
        approved_today: vec![],
    }
}

fn outcome(o: ItemOutcome, id: &str) -> PayoutBatchCommand {
    outcome_with(o, id, OutcomeFacts::default())
}

fn outcome_with(o: ItemOutcome, id: &str, facts: OutcomeFacts) -> PayoutBatchCommand {
    PayoutBatchCommand::RecordOutcome {
        item_id: PayoutItemId::new("i1").unwrap(),
        outcome: o,
        processor_event_id: Some(id.into()),
        reason: None,
        facts,
    }
}

fn last_movement(all: &[Event]) -> MoneyMovement {
    match all.last().unwrap().body() {
        EventBody::PayoutItemPaid(o)
        | EventBody::PayoutItemFailed(o)
        | EventBody::PayoutItemReturned(o)
        | EventBody::PayoutItemUnclaimed(o)
        | EventBody::PayoutItemReversed(o) => o.movement,
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
        facts: OutcomeFacts::default(),
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
        approved_today: vec![],
    };
    let err = run(&mut all, finance, "approver").unwrap_err();
    assert_eq!(
        err.to_string(),
        "payout batch b1 needs an admin's approval: item i1 pays 100.00 EUR, above the 50.00 EUR item limit"
    );
    let admin = PayoutBatchCommand::Approve {
        authority: ApprovalAuthority::Admin,
        limits,
        approved_today: vec![],
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
            processor: ledger_domain::Processor::Sandbox,
            destination: sandbox.method.as_ref().unwrap().destination(),
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

fn submit(reference: &str) -> PayoutBatchCommand {
    PayoutBatchCommand::Submit {
        item_id: PayoutItemId::new("i1").unwrap(),
        processor_reference: Some(reference.into()),
    }
}

/// An approved batch paying 100.00 EUR to aff-1 through Stripe, submitted
/// as transfer `tr_1` and paid.
fn paid_batch() -> Vec<Event> {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    run(&mut all, approve(), "approver").unwrap();
    run(&mut all, submit("tr_1"), "dispatcher").unwrap();
    run(&mut all, outcome(ItemOutcome::Paid, "evt_paid"), "stripe").unwrap();
    all
}

fn reversed(total: &str, id: &str) -> PayoutBatchCommand {
    outcome_with(
        ItemOutcome::Reversed,
        id,
        OutcomeFacts {
            processor: Some(ledger_domain::Processor::Stripe),
            reference: Some("tr_1".into()),
            amount: Some(eur(total)),
            ..OutcomeFacts::default()
        },
    )
}

#[test]
fn a_partial_reversal_moves_only_what_it_reverses() {
    let mut all = paid_batch();
    run(&mut all, reversed("30", "evt_r1"), "stripe").unwrap();
    let v = view(&all, "aff-1");
    assert_eq!((v.available, v.paid_out), (eur("30"), eur("70")));
    // The same total again (another event id, e.g. a status poll) moves
    // nothing more.
    run(&mut all, reversed("30", "evt_r1b"), "stripe").unwrap();
    assert_eq!(last_movement(&all), MoneyMovement::None);
    // A second reversal: the total is now 50, so 20 more comes back.
    run(&mut all, reversed("50", "evt_r2"), "stripe").unwrap();
    let v = view(&all, "aff-1");
    assert_eq!((v.available, v.paid_out), (eur("50"), eur("50")));
    // The item is still paid: a return brings back only what is left.
    run(&mut all, outcome(ItemOutcome::Returned, "evt_ret"), "bank").unwrap();
    let v = view(&all, "aff-1");
    assert_eq!((v.available, v.paid_out), (eur("100"), eur("0")));
    // Final now: nothing moves again.
    run(&mut all, reversed("100", "evt_r3"), "stripe").unwrap();
    assert_eq!(last_movement(&all), MoneyMovement::None);
    assert_eq!(view(&all, "aff-1").available, eur("100"));
}

#[test]
fn a_whole_reversal_returns_the_item_and_a_larger_one_is_refused() {
    let mut all = paid_batch();
    let err = run(&mut all, reversed("100.01", "evt_r0"), "stripe").unwrap_err();
    assert!(
        matches!(err, PayoutBatchError::NoticeMismatch { .. }),
        "{err}"
    );
    run(&mut all, reversed("100", "evt_r1"), "stripe").unwrap();
    let v = view(&all, "aff-1");
    assert_eq!((v.available, v.paid_out), (eur("100"), eur("0")));
    let batch = PayoutBatch::from_events(&batch_events(&all));
    assert_eq!(
        batch.state().unwrap().items[0].status,
        ledger_domain::payout::ItemStatus::Final(ItemOutcome::Returned)
    );
}

#[test]
fn a_reversal_of_an_item_not_yet_recorded_paid_records_it_paid_first() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    run(&mut all, approve(), "approver").unwrap();
    run(&mut all, submit("tr_1"), "dispatcher").unwrap();
    run(&mut all, reversed("40", "evt_r1"), "stripe").unwrap();
    let n = all.len();
    assert_eq!(all[n - 2].type_name(), "payout_item.paid");
    assert_eq!(all[n - 1].type_name(), "payout_item.reversed");
    let v = view(&all, "aff-1");
    assert_eq!(
        (v.available, v.reserved, v.paid_out),
        (eur("40"), eur("0"), eur("60"))
    );
}

#[test]
fn news_that_names_another_processor_reference_or_account_moves_nothing() {
    let mut all = earned("c1", "100");
    let method = ledger_domain::PayoutMethod::Stripe {
        account_id: "acct_1Good".into(),
    };
    let mut drafted = item("i1", "aff-1", eur("100"), eur("0"));
    drafted.destination = Some(method.destination());
    run(
        &mut all,
        PayoutBatchCommand::Draft {
            batch_id: PayoutBatchId::new("b1").unwrap(),
            items: vec![drafted],
            sequence: 1,
            run_id: None,
        },
        "maker",
    )
    .unwrap();
    run(&mut all, approve(), "approver").unwrap();
    run(&mut all, submit("tr_1"), "dispatcher").unwrap();
    let with = |facts: OutcomeFacts| outcome_with(ItemOutcome::Failed, "evt_x", facts);
    let refused = [
        OutcomeFacts {
            processor: Some(ledger_domain::Processor::Paypal),
            ..OutcomeFacts::default()
        },
        OutcomeFacts {
            reference: Some("po_1".into()),
            ..OutcomeFacts::default()
        },
        OutcomeFacts {
            account: Some("acct_1Other".into()),
            ..OutcomeFacts::default()
        },
        OutcomeFacts {
            amount: Some(eur("99")),
            ..OutcomeFacts::default()
        },
    ];
    for facts in refused {
        let err = run(&mut all, with(facts.clone()), "stripe").unwrap_err();
        assert!(
            matches!(err, PayoutBatchError::NoticeMismatch { .. }),
            "{facts:?}: {err}"
        );
    }
    assert_eq!(view(&all, "aff-1").reserved, eur("100"));
    // The matching notice moves it.
    run(
        &mut all,
        with(OutcomeFacts {
            processor: Some(ledger_domain::Processor::Stripe),
            reference: Some("tr_1".into()),
            account: Some("acct_1Good".into()),
            amount: Some(eur("100")),
        }),
        "stripe",
    )
    .unwrap();
    assert_eq!(view(&all, "aff-1").available, eur("100"));
}

#[test]
fn one_dispatcher_holds_an_item_until_its_lease_ends() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    run(&mut all, approve(), "approver").unwrap();
    let claim = |who: &str, until_s: i64| PayoutBatchCommand::Claim {
        item_id: PayoutItemId::new("i1").unwrap(),
        claim_id: who.into(),
        lease_until: t0() + chrono::Duration::seconds(until_s),
        account: None,
    };
    run(&mut all, claim("d1", 60), "dispatcher").unwrap();
    let err = run(&mut all, claim("d2", 60), "dispatcher").unwrap_err();
    assert!(matches!(err, PayoutBatchError::Claimed { .. }), "{err}");
    // The holder may renew; a lease is bounded.
    run(&mut all, claim("d1", 120), "dispatcher").unwrap();
    assert!(matches!(
        run(&mut all, claim("d1", 3600), "dispatcher"),
        Err(PayoutBatchError::LeaseOutOfRange { .. })
    ));
    // After the lease, another dispatcher may take it.
    let later = PayoutBatch::from_events(&batch_events(&all));
    let events = later
        .handle(
            PayoutBatchCommand::Claim {
                item_id: PayoutItemId::new("i1").unwrap(),
                claim_id: "d2".into(),
                lease_until: t0() + chrono::Duration::seconds(400),
                account: None,
            },
            &ctx_at("dispatcher", t0() + chrono::Duration::seconds(121)),
        )
        .unwrap();
    assert_eq!(events[0].type_name(), "payout_item.claimed");
    // A submitted item cannot be claimed.
    run(&mut all, submit("tr_1"), "dispatcher").unwrap();
    assert!(matches!(
        run(&mut all, claim("d1", 60), "dispatcher"),
        Err(PayoutBatchError::AlreadySubmitted(_))
    ));
}

/// An item's first attempt names the account it pays from; a later attempt
/// from another account (the tenant's credentials switched to a new Stripe
/// platform, say) is refused while the first attempt's outcome is unknown,
/// and so is one whose credentials name no account. The same account may
/// try again; an item first tried without naming one is not held.
#[test]
fn an_item_is_never_sent_from_another_account_than_its_first_attempt() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    run(&mut all, approve(), "approver").unwrap();
    let claim = |who: &str, account: Option<&str>| PayoutBatchCommand::Claim {
        item_id: PayoutItemId::new("i1").unwrap(),
        claim_id: who.into(),
        lease_until: t0() + chrono::Duration::seconds(60),
        account: account.map(str::to_owned),
    };
    let release = |who: &str| PayoutBatchCommand::Release {
        item_id: PayoutItemId::new("i1").unwrap(),
        claim_id: who.into(),
    };
    run(&mut all, claim("d1", Some("stripe acct_old")), "dispatcher").unwrap();
    // The attempt ended unknown: released for a retry.
    run(&mut all, release("d1"), "dispatcher").unwrap();
    for account in [Some("stripe acct_new"), None] {
        let err = run(&mut all, claim("d2", account), "dispatcher").unwrap_err();
        assert!(
            matches!(&err, PayoutBatchError::AccountChanged { first, .. } if first == "stripe acct_old"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("held, not sent from another account")
        );
    }
    run(&mut all, claim("d3", Some("stripe acct_old")), "dispatcher").unwrap();
    // Another item, first tried without an account: any later one may go.
    let mut other = earned("c1", "100");
    run(&mut other, draft("100", "0"), "maker").unwrap();
    run(&mut other, approve(), "approver").unwrap();
    run(&mut other, claim("d1", None), "dispatcher").unwrap();
    run(&mut other, release("d1"), "dispatcher").unwrap();
    run(
        &mut other,
        claim("d2", Some("stripe acct_new")),
        "dispatcher",
    )
    .unwrap();
}

#[test]
fn a_currency_without_limits_and_a_full_day_need_an_admin() {
    let mut all = earned("c1", "100");
    run(&mut all, draft("100", "0"), "maker").unwrap();
    let approve_with =
        |limits: &str, today: Vec<ledger_domain::Money>| PayoutBatchCommand::Approve {
            authority: ApprovalAuthority::Finance,
            limits: ApprovalLimits::from_json(limits).unwrap(),
            approved_today: today,
        };
    // No limits at all, or none for EUR: only an admin.
    for limits in [r#"{}"#, r#"{"USD": {"item_max": "1000.00"}}"#] {
        let err = run(&mut all, approve_with(limits, vec![]), "approver").unwrap_err();
        assert_eq!(
            err.to_string(),
            "payout batch b1 needs an admin's approval: no approval limit is configured for EUR: only an admin may approve"
        );
    }
    // The approver's day: 950 approved already, 100 more is above 1000.
    let daily = r#"{"EUR": {"approver_daily_max": "1000.00"}}"#;
    let err = run(&mut all, approve_with(daily, vec![eur("950")]), "approver").unwrap_err();
    assert!(
        err.to_string()
            .contains("above the 1000.00 EUR daily limit per approver"),
        "{err}"
    );
    run(&mut all, approve_with(daily, vec![eur("900")]), "approver").unwrap();
    // The approval is tallied in the approver's day stream.
    let tally = all.last().unwrap();
    assert_eq!(tally.type_name(), "payout_approvals.tallied");
    assert_eq!(
        tally.stream_name(),
        "acme/payout-approvals/approver/2026-01-01"
    );
    assert!(ApprovalLimits::from_json(r#"{"EUR": {}}"#).is_err());
}

#[test]
fn a_changed_method_is_held_until_someone_else_lifts_the_hold() {
    use ledger_domain::{HoldReason, PayoutMethod, ProfileAggregate, ProfileChange, ProfileError};
    let aff = AffiliateId::new("aff-1").unwrap();
    let mut all: Vec<Event> = Vec::new();
    let change = |all: &mut Vec<Event>, c: ProfileChange, who: &str| {
        let new = ProfileAggregate::from_events(all.iter()).handle(&aff, c, &ctx(who))?;
        all.extend(new);
        Ok::<_, ProfileError>(ProfileAggregate::from_events(all.iter()).profile().clone())
    };
    let stripe = |account: &str| ProfileChange::MethodSet {
        method: PayoutMethod::Stripe {
            account_id: account.into(),
        },
    };
    // A first method is not a change: the approver sees it on every item.
    let first = change(&mut all, stripe("acct_1First"), "maria").unwrap();
    assert!(first.holds.is_empty());
    assert_eq!(first.method_set_by.as_deref(), Some("maria"));
    // Changing it holds payouts.
    let changed = change(&mut all, stripe("acct_1Second"), "maria").unwrap();
    assert!(changed.holds.contains(&HoldReason::MethodChanged));
    let lift = || ProfileChange::HoldLifted {
        reason: HoldReason::MethodChanged,
        note: "called the affiliate back".into(),
    };
    let err = change(&mut all, lift(), "maria").unwrap_err();
    assert!(matches!(err, ProfileError::OwnMethodChange { .. }), "{err}");
    let lifted = change(&mut all, lift(), "omar").unwrap();
    assert!(lifted.holds.is_empty());
    // The fingerprints tell the two methods apart; the masked form is safe.
    let a = PayoutMethod::Stripe {
        account_id: "acct_1First".into(),
    };
    let b = PayoutMethod::Stripe {
        account_id: "acct_1Second".into(),
    };
    assert_ne!(a.fingerprint(), b.fingerprint());
    assert_eq!(a.fingerprint(), a.clone().fingerprint());
    let sepa = PayoutMethod::Sepa {
        iban: "DE89370400440532013000".into(),
        bic: None,
        account_holder: "Jane".into(),
    };
    assert_eq!(sepa.destination().masked, "sepa DE** **** 3000");
    assert_eq!(
        sepa.destination().account_fingerprint,
        ledger_domain::profile::account_fingerprint(
            ledger_domain::Processor::Sepa,
            "de89 3704 0044 0532 0130 00"
        )
    );
}
