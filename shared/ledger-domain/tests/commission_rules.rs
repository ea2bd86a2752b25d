//! Given / when / then: the commission aggregate and its postings.

mod support;

use ledger_domain::{
    AffiliateId, Balances, Commission, CommissionCommand, CommissionError, CommissionStage,
    Currency, Event, EventBody, ReversalReason, TenantId, journal_entry,
};
use support::*;

fn given(events: &[Event]) -> Commission {
    Commission::from_events(events)
}

fn balances_of(events: &[Event]) -> Balances {
    let mut balances = Balances::new();
    for event in events {
        balances.apply(&journal_entry(event).unwrap()).unwrap();
    }
    balances
}

fn affiliate_view(events: &[Event]) -> ledger_domain::AffiliateBalances {
    balances_of(events)
        .affiliate(
            &TenantId::new("acme").unwrap(),
            &AffiliateId::new("aff-1").unwrap(),
            Currency::EUR,
        )
        .unwrap()
}

#[test]
fn recording_credits_pending_and_sets_the_maturity_date() {
    let events = given(&[])
        .handle(record("c1", "aff-1", eur("100"), 30), &ctx("tracker"))
        .unwrap();
    assert_eq!(events.len(), 1);
    let EventBody::CommissionRecorded(e) = events[0].body() else {
        panic!("wrong event")
    };
    assert_eq!(e.matures_at, t0() + chrono::Duration::days(30));
    assert_eq!(events[0].type_name(), "commission.recorded");
    assert_eq!(events[0].stream_name(), "acme/commission/c1");
    let tenant = ledger_domain::events::tenant_of_stream(&events[0].stream_name());
    assert_eq!(tenant.as_ref().map(|t| t.as_str()), Some("acme"));
    assert_eq!(ledger_domain::events::tenant_of_stream("acme/"), None);
    assert_eq!(ledger_domain::events::tenant_of_stream("no-tenant"), None);
    let view = affiliate_view(&events);
    assert_eq!(view.pending, eur("100"));
    assert_eq!(view.available, eur("0"));
}

#[test]
fn recording_again_is_a_no_op_and_other_facts_are_refused() {
    let past = given(&[])
        .handle(record("c1", "aff-1", eur("100"), 30), &ctx("tracker"))
        .unwrap();
    let retry = given(&past)
        .handle(record("c1", "aff-1", eur("100"), 30), &ctx("tracker"))
        .unwrap();
    assert!(retry.is_empty(), "an exact retry decides nothing");
    let err = given(&past).handle(record("c1", "aff-1", eur("100.01"), 30), &ctx("tracker"));
    assert!(matches!(err, Err(CommissionError::AlreadyRecorded(_))));
    let err = given(&past).handle(record("c1", "aff-2", eur("100"), 30), &ctx("tracker"));
    assert!(matches!(err, Err(CommissionError::AlreadyRecorded(_))));
}

#[test]
fn bad_record_input_is_refused_with_the_field_named() {
    let err = given(&[])
        .handle(record("c1", "aff-1", eur("0"), 30), &ctx("t"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "amount must be greater than zero, got 0.00 EUR"
    );
    let err = given(&[])
        .handle(record("c1", "aff-1", eur("-5"), 30), &ctx("t"))
        .unwrap_err();
    assert!(matches!(
        err,
        CommissionError::NotPositive {
            field: "amount",
            ..
        }
    ));
    let err = given(&[])
        .handle(record("c1", "aff-1", eur("5"), 366), &ctx("t"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "hold_period_days 366 exceeds the limit of 365"
    );
    let mut cmd = record("c1", "aff-1", eur("5"), 1);
    if let CommissionCommand::Record {
        source_conversion_id,
        ..
    } = &mut cmd
    {
        source_conversion_id.clear();
    }
    let err = given(&[]).handle(cmd, &ctx("t")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "source_conversion_id must be 1 to 500 bytes long, got 0"
    );
}

#[test]
fn maturing_before_the_hold_period_ends_is_refused() {
    let past = given(&[])
        .handle(record("c1", "aff-1", eur("100"), 30), &ctx("t"))
        .unwrap();
    let err = given(&past).handle(CommissionCommand::Mature, &days_later(29));
    assert!(matches!(
        err,
        Err(CommissionError::HoldPeriodNotOver { .. })
    ));
}

#[test]
fn maturing_moves_pending_to_available_once() {
    let mut past = given(&[])
        .handle(record("c1", "aff-1", eur("100"), 30), &ctx("t"))
        .unwrap();
    past.extend(
        given(&past)
            .handle(CommissionCommand::Mature, &days_later(30))
            .unwrap(),
    );
    let view = affiliate_view(&past);
    assert_eq!((view.pending, view.available), (eur("0"), eur("100")));
    let again = given(&past).handle(CommissionCommand::Mature, &days_later(31));
    assert!(matches!(again, Err(CommissionError::AlreadyMatured(_))));
}

#[test]
fn partial_reversal_in_hold_period_reduces_pending_and_maturity() {
    let mut past = given(&[])
        .handle(record("c1", "aff-1", eur("100"), 30), &ctx("t"))
        .unwrap();
    let reverse = CommissionCommand::Reverse {
        amount: eur("40"),
        reason: ReversalReason::Refund,
        reference: Some("re_1".into()),
    };
    past.extend(given(&past).handle(reverse, &ctx("t")).unwrap());
    let EventBody::CommissionReversed(r) = past[1].body() else {
        panic!()
    };
    assert_eq!((r.stage, r.whole), (CommissionStage::Pending, false));
    past.extend(
        given(&past)
            .handle(CommissionCommand::Mature, &days_later(30))
            .unwrap(),
    );
    let EventBody::CommissionMatured(m) = past[2].body() else {
        panic!()
    };
    assert_eq!(m.amount, eur("60"));
    let view = affiliate_view(&past);
    assert_eq!(
        (view.pending, view.available, view.receivable),
        (eur("0"), eur("60"), eur("0"))
    );
}

#[test]
fn reversing_more_than_earned_is_refused() {
    let mut past = given(&[])
        .handle(record("c1", "aff-1", eur("100"), 0), &ctx("t"))
        .unwrap();
    let reverse = |a: &str| CommissionCommand::Reverse {
        amount: eur(a),
        reason: ReversalReason::Chargeback,
        reference: None,
    };
    past.extend(given(&past).handle(reverse("70"), &ctx("t")).unwrap());
    let err = given(&past)
        .handle(reverse("30.01"), &ctx("t"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot reverse 30.01 EUR of commission c1: only 30.00 EUR remains of what was earned"
    );
    let whole = given(&past).handle(reverse("30"), &ctx("t")).unwrap();
    let EventBody::CommissionReversed(r) = whole[0].body() else {
        panic!()
    };
    assert!(r.whole);
    past.extend(whole);
    // Fully reversed: nothing left to mature.
    assert!(matches!(
        given(&past).handle(CommissionCommand::Mature, &days_later(1)),
        Err(CommissionError::NothingToMature(_))
    ));
}

#[test]
fn reversal_in_another_currency_is_refused() {
    let past = given(&[])
        .handle(record("c1", "aff-1", eur("100"), 0), &ctx("t"))
        .unwrap();
    let usd = ledger_domain::Money::parse("1", Currency::USD).unwrap();
    let err = given(&past).handle(
        CommissionCommand::Reverse {
            amount: usd,
            reason: ReversalReason::Refund,
            reference: None,
        },
        &ctx("t"),
    );
    assert!(matches!(
        err,
        Err(CommissionError::Money(
            ledger_domain::MoneyError::CurrencyMismatch { .. }
        ))
    ));
}

#[test]
fn reversal_after_maturity_is_a_clawback_receivable() {
    let mut past = given(&[])
        .handle(record("c1", "aff-1", eur("100"), 0), &ctx("t"))
        .unwrap();
    past.extend(
        given(&past)
            .handle(CommissionCommand::Mature, &days_later(0))
            .unwrap(),
    );
    past.extend(
        given(&past)
            .handle(
                CommissionCommand::Reverse {
                    amount: eur("25"),
                    reason: ReversalReason::Fraud,
                    reference: None,
                },
                &ctx("t"),
            )
            .unwrap(),
    );
    let view = affiliate_view(&past);
    assert_eq!(view.available, eur("100"));
    assert_eq!(view.receivable, eur("25"));
    assert_eq!(view.net_payable, eur("75"));
}

#[test]
fn adjustments_add_and_take_within_what_remains() {
    let mut past = given(&[])
        .handle(record("c1", "aff-1", eur("10"), 0), &ctx("t"))
        .unwrap();
    let adjust = |d: &str| CommissionCommand::Adjust {
        delta: eur(d),
        reason: "tier bonus".into(),
    };
    past.extend(given(&past).handle(adjust("5"), &ctx("finance")).unwrap());
    assert_eq!(past[1].actor().id, "finance");
    let err = given(&past)
        .handle(adjust("-15.01"), &ctx("finance"))
        .unwrap_err();
    assert!(matches!(err, CommissionError::AdjustmentBelowZero { .. }));
    assert!(matches!(
        given(&past).handle(adjust("0"), &ctx("f")),
        Err(CommissionError::ZeroAdjustment)
    ));
    let no_reason = CommissionCommand::Adjust {
        delta: eur("1"),
        reason: String::new(),
    };
    assert!(matches!(
        given(&past).handle(no_reason, &ctx("f")),
        Err(CommissionError::Text(_))
    ));
    past.extend(given(&past).handle(adjust("-3"), &ctx("finance")).unwrap());
    past.extend(
        given(&past)
            .handle(CommissionCommand::Mature, &days_later(0))
            .unwrap(),
    );
    let EventBody::CommissionMatured(m) = past[3].body() else {
        panic!()
    };
    assert_eq!(m.amount, eur("12"));
    assert_eq!(affiliate_view(&past).available, eur("12"));
}

#[test]
fn commands_on_unknown_commissions_or_other_tenants_are_refused() {
    assert!(matches!(
        given(&[]).handle(CommissionCommand::Mature, &ctx("t")),
        Err(CommissionError::NotRecorded)
    ));
    let past = given(&[])
        .handle(record("c1", "aff-1", eur("10"), 0), &ctx("t"))
        .unwrap();
    let mut other = ctx("t");
    other.tenant_id = TenantId::new("other").unwrap();
    assert!(matches!(
        given(&past).handle(CommissionCommand::Mature, &other),
        Err(CommissionError::WrongTenant { .. })
    ));
}

#[test]
fn events_round_trip_through_json_with_stable_names() {
    let events = given(&[])
        .handle(record("c1", "aff-1", eur("100"), 30), &ctx("tracker"))
        .unwrap();
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["body"]["type"], "commission.recorded");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["body"]["data"]["amount"]["amount"], "100.00");
    let back: Event = serde_json::from_value(json).unwrap();
    assert_eq!(back, events[0]);
}
