//! The Stripe adapter against a local server speaking Stripe's documented
//! API: the exact form sent (minor units, lower-case currency, destination,
//! transfer group), the Idempotency-Key header, and how answers map.

mod support;

use ledger_app::payouts::{FetchPaymentStatus, PaymentStatus, ProcessorError, SubmitPayment};
use ledger_domain::{Currency, PayoutMethod};
use processors::stripe::StripeTransfers;
use support::order;
use wiremock::matchers::{body_string_contains, header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn transfer_json(id: &str, amount: i64, currency: &str, reversed: bool) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": "txn_1MiN3gLkdIwHu7ixxapQrznl",
        "created": 1678043844,
        "currency": currency,
        "description": "Affiliate payout pb-000007.1",
        "destination": "acct_1MTfjCQ9PRzxEwkZ",
        "destination_payment": "py_1MiN3gQ9PRzxEwkZWTPGNq9o",
        "livemode": false,
        "metadata": {},
        "reversals": {"object": "list", "data": [], "has_more": false, "total_count": 0,
                      "url": format!("/v1/transfers/{id}/reversals")},
        "reversed": reversed,
        "source_transaction": null,
        "source_type": "card",
        "transfer_group": "acme:pb-000007.1"
    })
}

fn stripe_method() -> PayoutMethod {
    PayoutMethod::Stripe {
        account_id: "acct_1MTfjCQ9PRzxEwkZ".into(),
    }
}

async fn adapter(server: &MockServer) -> StripeTransfers {
    StripeTransfers::new("sk_test_123", Some(&format!("{}/", server.uri()))).unwrap()
}

#[tokio::test]
async fn a_transfer_is_sent_in_minor_units_with_the_item_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/transfers"))
        .and(header("Idempotency-Key", "acme:pb-000007.1"))
        .and(header("Authorization", "Bearer sk_test_123"))
        .and(header("Content-Type", "application/x-www-form-urlencoded"))
        .and(header_exists("Stripe-Version"))
        .and(body_string_contains("amount=12345"))
        .and(body_string_contains("currency=eur"))
        .and(body_string_contains("destination=acct_1MTfjCQ9PRzxEwkZ"))
        .and(body_string_contains("metadata[payout_item_id]=pb-000007.1"))
        .and(body_string_contains("transfer_group=acme:pb-000007.1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(transfer_json("tr_1", 12345, "eur", false)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let stripe = adapter(&server).await;
    let paid = stripe
        .submit(&order(
            "pb-000007.1",
            "123.45",
            Currency::EUR,
            stripe_method(),
        ))
        .await
        .unwrap();
    assert_eq!(
        paid,
        PaymentStatus::Paid {
            reference: "tr_1".into()
        }
    );
}

#[tokio::test]
async fn zero_decimal_currencies_are_sent_as_whole_units() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/transfers"))
        .and(body_string_contains("amount=5000"))
        .and(body_string_contains("currency=jpy"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(transfer_json("tr_2", 5000, "jpy", false)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let stripe = adapter(&server).await;
    stripe
        .submit(&order(
            "pb-000007.1",
            "5000",
            Currency::JPY,
            stripe_method(),
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn server_errors_are_unknown_outcomes_and_refusals_are_not() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/transfers"))
        .respond_with(ResponseTemplate::new(500).set_body_json(serde_json::json!({
            "error": {"type": "api_error", "message": "An unknown error occurred"}
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/transfers"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": {"type": "invalid_request_error", "code": "balance_insufficient",
                      "message": "You have insufficient funds in your Stripe account."}
        })))
        .mount(&server)
        .await;
    let stripe = adapter(&server).await;
    let o = order("pb-000007.1", "10.00", Currency::EUR, stripe_method());
    assert!(matches!(
        stripe.submit(&o).await,
        Err(ProcessorError::Unknown(_))
    ));
    let refused = stripe.submit(&o).await.unwrap_err();
    assert!(
        matches!(&refused, ProcessorError::Invalid(m) if m.contains("insufficient funds")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn status_is_found_by_transfer_group() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/transfers"))
        .and(query_param("transfer_group", "acme:pb-000007.1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "object": "list", "url": "/v1/transfers", "has_more": false,
            "data": [transfer_json("tr_9", 1000, "eur", false)]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/transfers"))
        .and(query_param("transfer_group", "acme:pb-000007.2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "object": "list", "url": "/v1/transfers", "has_more": false, "data": []
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/transfers"))
        .and(query_param("transfer_group", "acme:pb-000007.3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "object": "list", "url": "/v1/transfers", "has_more": false,
            "data": [transfer_json("tr_11", 1000, "eur", true)]
        })))
        .mount(&server)
        .await;
    let stripe = adapter(&server).await;
    let reversed = stripe
        .status(&order(
            "pb-000007.3",
            "10.00",
            Currency::EUR,
            stripe_method(),
        ))
        .await
        .unwrap();
    assert!(
        matches!(&reversed, Some(PaymentStatus::Failed { reference: Some(r), .. }) if r == "tr_11"),
        "{reversed:?}"
    );
    let found = stripe
        .status(&order(
            "pb-000007.1",
            "10.00",
            Currency::EUR,
            stripe_method(),
        ))
        .await
        .unwrap();
    assert_eq!(
        found,
        Some(PaymentStatus::Paid {
            reference: "tr_9".into()
        })
    );
    let missing = stripe
        .status(&order(
            "pb-000007.2",
            "10.00",
            Currency::EUR,
            stripe_method(),
        ))
        .await
        .unwrap();
    assert_eq!(missing, None);
}

#[tokio::test]
async fn a_key_still_in_use_or_an_idempotency_error_is_unknown_not_a_refusal() {
    // Stripe answers a second request with the same key, while the first
    // is in flight, with 409 idempotency_key_in_use; a key reused with
    // other parameters with 400 idempotency_error. Neither says whether the
    // transfer exists.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/transfers"))
        .respond_with(ResponseTemplate::new(409).set_body_json(serde_json::json!({
            "error": {"type": "invalid_request_error", "code": "idempotency_key_in_use",
                      "message": "There is currently another in-progress request using this Stripe-Idempotency-Key (that probably means you submitted twice, and the other request is still going through): acme:pb-000007.1. Please try again later."}
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/transfers"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": {"type": "idempotency_error",
                      "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."}
        })))
        .mount(&server)
        .await;
    let stripe = adapter(&server).await;
    let o = order("pb-000007.1", "10.00", Currency::EUR, stripe_method());
    let in_use = stripe.submit(&o).await.unwrap_err();
    assert!(
        matches!(&in_use, ProcessorError::Unknown(m) if m.contains("409")),
        "{in_use:?}"
    );
    let reused = stripe.submit(&o).await.unwrap_err();
    assert!(
        matches!(&reused, ProcessorError::Unknown(m) if m.contains("idempotency_error")),
        "{reused:?}"
    );
}

#[tokio::test]
async fn a_refused_api_key_proves_nothing_about_a_payment() {
    // A revoked or mistyped key (401) or a restricted one (403): nothing
    // was asked, so neither a submission nor a lookup is a refusal that
    // would fail the item and hand its money back.
    for (status, kind) in [
        (401, "invalid_request_error"),
        (403, "invalid_request_error"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/transfers"))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(serde_json::json!({
                    "error": {"type": kind, "message": "Invalid API Key provided: sk_test_****1234"}
                })),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/transfers"))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(serde_json::json!({
                    "error": {"type": kind, "message": "Invalid API Key provided: sk_test_****1234"}
                })),
            )
            .mount(&server)
            .await;
        let stripe = adapter(&server).await;
        let o = order("pb-000007.1", "10.00", Currency::EUR, stripe_method());
        let submitted = stripe.submit(&o).await.unwrap_err();
        assert!(
            matches!(&submitted, ProcessorError::Unknown(m) if m.contains(&status.to_string())),
            "{status}: {submitted:?}"
        );
        let asked = stripe.status(&o).await.unwrap_err();
        assert!(
            matches!(&asked, ProcessorError::Unknown(_)),
            "{status}: {asked:?}"
        );
    }
}

#[tokio::test]
async fn amounts_follow_stripes_exponents_not_iso() {
    let server = MockServer::start().await;
    // ISK: ISO has no decimals, Stripe's API two: 1500 kr is 150000.
    Mock::given(method("POST"))
        .and(path("/v1/transfers"))
        .and(body_string_contains("amount=150000"))
        .and(body_string_contains("currency=isk"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(transfer_json("tr_isk", 150000, "isk", false)),
        )
        .expect(1)
        .mount(&server)
        .await;
    // KWD: three decimals, the last one zero.
    Mock::given(method("POST"))
        .and(path("/v1/transfers"))
        .and(body_string_contains("amount=1250"))
        .and(body_string_contains("currency=kwd"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(transfer_json("tr_kwd", 1250, "kwd", false)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let stripe = adapter(&server).await;
    stripe
        .submit(&order(
            "pb-000007.1",
            "1500",
            Currency::ISK,
            stripe_method(),
        ))
        .await
        .unwrap();
    stripe
        .submit(&order(
            "pb-000007.2",
            "1.250",
            Currency::KWD,
            stripe_method(),
        ))
        .await
        .unwrap();
    // HUF takes whole forints: refused before anything is sent.
    let huf = stripe
        .submit(&order(
            "pb-000007.3",
            "1234.56",
            Currency::HUF,
            stripe_method(),
        ))
        .await
        .unwrap_err();
    assert!(matches!(huf, ProcessorError::Invalid(_)), "{huf:?}");
}

/// A 4xx whose body is not Stripe's error object (a proxy's or a load
/// balancer's page) is not Stripe refusing the transfer: nothing is known,
/// so the item is asked about again, never failed back to available.
#[tokio::test]
async fn an_error_page_that_is_not_stripes_is_unknown_not_a_refusal() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/transfers"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("Content-Type", "text/html")
                .set_body_string("<html><body>Request blocked</body></html>"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/transfers"))
        .respond_with(ResponseTemplate::new(404).set_body_string("Not Found"))
        .mount(&server)
        .await;
    let stripe = adapter(&server).await;
    let order = order("pb-000007.1", "10.00", Currency::EUR, stripe_method());
    for _ in 0..2 {
        let err = stripe.submit(&order).await.unwrap_err();
        assert!(matches!(err, ProcessorError::Unknown(_)), "{err:?}");
    }
}
