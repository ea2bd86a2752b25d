//! Every notification type each processor sends maps to one outcome (or is
//! ignored), and signature checks hold at their edges.

use ledger_domain::ItemOutcome;
use processors::webhooks::{
    Parsed, SignatureError, parse_paypal, parse_sandbox, parse_stripe, stripe_signature_header,
    verify_stripe_signature,
};

fn outcome(parsed: Parsed) -> Option<ItemOutcome> {
    match parsed {
        Parsed::Notice(n) => Some(n.outcome),
        Parsed::Ignored { .. } => None,
    }
}

#[test]
fn every_stripe_type_maps() {
    for (kind, expected) in [
        ("transfer.created", Some(ItemOutcome::Paid)),
        ("transfer.reversed", Some(ItemOutcome::Reversed)),
        // A connected account's own payouts to its bank are not items.
        ("payout.paid", None),
        ("payout.failed", None),
        ("payout.canceled", None),
        ("transfer.updated", None),
        ("charge.succeeded", None),
    ] {
        let body = serde_json::json!({
            "id": "evt_1", "type": kind,
            "data": {"object": {"id": "tr_1", "object": "transfer", "amount": 10000,
                                 "amount_reversed": 3000, "currency": "eur",
                                 "destination": "acct_1MTfjCQ9PRzxEwkZ",
                                 "metadata": {"tenant_id": "acme", "payout_batch_id": "pb-000001", "payout_item_id": "pb-000001.1"}}}
        });
        let parsed = parse_stripe(body.to_string().as_bytes()).unwrap();
        assert_eq!(outcome(parsed.clone()), expected, "{kind}");
    }
    assert!(parse_stripe(b"{\"id\": 1}").is_err());
}

#[test]
fn a_stripe_reversal_carries_the_total_reversed_in_stripes_units() {
    let notice = |amount_reversed: i64, currency: &str| {
        let body = serde_json::json!({
            "id": "evt_r", "type": "transfer.reversed",
            "data": {"object": {"id": "tr_1", "object": "transfer", "amount": 150000,
                                 "amount_reversed": amount_reversed, "currency": currency,
                                 "destination": "acct_1MTfjCQ9PRzxEwkZ",
                                 "metadata": {"tenant_id": "acme", "payout_batch_id": "pb-000001", "payout_item_id": "pb-000001.1"}}}
        });
        parse_stripe(body.to_string().as_bytes())
    };
    let Parsed::Notice(n) = notice(3000, "eur").unwrap() else {
        panic!("a notice")
    };
    assert_eq!(n.outcome, ItemOutcome::Reversed);
    assert_eq!(
        n.amount,
        Some(ledger_domain::Money::parse("30.00", ledger_domain::Currency::EUR).unwrap())
    );
    assert_eq!(n.reference.as_deref(), Some("tr_1"));
    assert_eq!(n.account.as_deref(), Some("acct_1MTfjCQ9PRzxEwkZ"));
    // ISK is two-decimal at Stripe: 50000 is 500 kr, not 50,000 kr.
    let Parsed::Notice(isk) = notice(50_000, "isk").unwrap() else {
        panic!("a notice")
    };
    assert_eq!(
        isk.amount,
        Some(ledger_domain::Money::parse("500", ledger_domain::Currency::ISK).unwrap())
    );
    // Half a krona cannot be: the notice is refused, not rounded.
    assert!(notice(50_050, "isk").is_err());
    // A reversal without its amount says nothing usable.
    let bare = serde_json::json!({"id": "evt_b", "type": "transfer.reversed",
        "data": {"object": {"id": "tr_1", "object": "transfer", "metadata": {}}}});
    assert!(parse_stripe(bare.to_string().as_bytes()).is_err());
}

#[test]
fn every_paypal_type_maps() {
    for (kind, expected) in [
        ("SUCCEEDED", Some(ItemOutcome::Paid)),
        ("FAILED", Some(ItemOutcome::Failed)),
        ("BLOCKED", Some(ItemOutcome::Failed)),
        ("DENIED", Some(ItemOutcome::Failed)),
        ("CANCELED", Some(ItemOutcome::Failed)),
        ("RETURNED", Some(ItemOutcome::Returned)),
        ("REFUNDED", Some(ItemOutcome::Returned)),
        ("REVERSED", Some(ItemOutcome::Returned)),
        ("UNCLAIMED", Some(ItemOutcome::Unclaimed)),
        ("HELD", None),
    ] {
        let body = serde_json::json!({
            "id": "WH-1", "event_type": format!("PAYMENT.PAYOUTS-ITEM.{kind}"),
            "resource": {"payout_item_id": "8AELMXH8UB2P8", "payout_item": {"sender_item_id": "acme/pb-000001.2"}}
        });
        let parsed = parse_paypal(body.to_string().as_bytes()).unwrap();
        assert_eq!(outcome(parsed.clone()), expected, "{kind}");
        if let Parsed::Notice(n) = parsed {
            assert_eq!(
                (n.tenant_id.as_deref(), n.item_id.as_deref()),
                (Some("acme"), Some("pb-000001.2"))
            );
        }
    }
}

#[test]
fn every_sandbox_type_maps() {
    for (kind, expected) in [
        ("item.paid", Some(ItemOutcome::Paid)),
        ("item.failed", Some(ItemOutcome::Failed)),
        ("item.returned", Some(ItemOutcome::Returned)),
        ("item.unclaimed", Some(ItemOutcome::Unclaimed)),
        ("item.created", None),
    ] {
        let body = serde_json::json!({"id": "e", "type": kind, "tenant_id": "acme", "batch_id": "pb-1", "item_id": "pb-1.1"});
        assert_eq!(
            outcome(parse_sandbox(body.to_string().as_bytes()).unwrap()),
            expected,
            "{kind}"
        );
    }
}

#[test]
fn signatures_hold_at_the_edges_of_the_tolerance() {
    let secret = "whsec_edge".to_owned();
    let body = b"{}";
    let at = |t: i64| stripe_signature_header(&secret, t, body);
    let check = |header: &str, now: i64| {
        verify_stripe_signature(
            "stripe-signature",
            Some(header),
            body,
            std::slice::from_ref(&secret),
            now,
        )
    };
    assert_eq!(check(&at(1000), 1300), Ok(()));
    assert_eq!(
        check(&at(1000), 1301),
        Err(SignatureError::Expired { age: 301 })
    );
    assert_eq!(check(&at(1300), 1000), Ok(()));
    assert_eq!(
        check(&at(1301), 1000),
        Err(SignatureError::Expired { age: -301 })
    );
    assert_eq!(
        verify_stripe_signature("stripe-signature", Some(&at(1000)), body, &[], 1000),
        Err(SignatureError::NotConfigured)
    );
    // v0 signatures are not accepted in place of v1.
    let v0 = at(1000).replace("v1=", "v0=");
    assert!(matches!(
        check(&v0, 1000),
        Err(SignatureError::Malformed { .. })
    ));
}
