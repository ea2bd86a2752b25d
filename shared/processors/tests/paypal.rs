//! The PayPal adapter against a local server speaking PayPal's documented
//! Payouts API: OAuth client credentials, the exact JSON body (decimal
//! string amounts in the currency's decimals), the PayPal-Request-Id
//! header, and how answers map. The stateful fake in `paypal_fake` lists
//! the PayPal behaviours it implements and where PayPal documents them.

mod paypal_fake;
mod support;

use ledger_app::payouts::{
    FetchPaymentStatus, PaymentOrder, PaymentStatus, ProcessorError, SubmitPayment,
};
use ledger_domain::{Currency, PayoutMethod};
use paypal_fake::FakePaypal;
use processors::paypal::PaypalPayouts;
use processors::webhooks::{
    PaypalEndpointVerifier, PaypalTransmission, PaypalVerifier, SignatureError,
};
use support::order;
use wiremock::matchers::{body_json, body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn server_with_token() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/oauth2/token"))
        // base64("client-id:client-secret")
        .and(header("Authorization", "Basic Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ="))
        .and(body_string("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "scope": "https://uri.paypal.com/services/payouts",
            "access_token": "A21AAFEpH4PsADK7qSS7pSRsgzfENtu-Q1ysgEDVDESseMHBYXVJYE8ovjj68elIDy8nF26AwPhfXTIeWAZHSLIsQkSYz9ifg",
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": 31668,
            "nonce": "2020-04-03T15:35:36ZaYZlGvEkV4yVSz8g6bAKFoGSEzuy3CQcz3ljhibkOHg"
        })))
        .expect(1)
        .mount(&server)
        .await;
    server
}

fn paypal(server: &MockServer) -> PaypalPayouts {
    PaypalPayouts::new(&server.uri(), "client-id", "client-secret").unwrap()
}

fn to(receiver: &str) -> PayoutMethod {
    PayoutMethod::Paypal {
        receiver: receiver.into(),
    }
}

#[tokio::test]
async fn a_payout_is_sent_with_the_item_key_and_exact_amount() {
    let server = server_with_token().await;
    Mock::given(method("POST"))
        .and(path("/v1/payments/payouts"))
        .and(header("PayPal-Request-Id", "acme:pb-000007.1"))
        .and(header(
            "Authorization",
            "Bearer A21AAFEpH4PsADK7qSS7pSRsgzfENtu-Q1ysgEDVDESseMHBYXVJYE8ovjj68elIDy8nF26AwPhfXTIeWAZHSLIsQkSYz9ifg",
        ))
        .and(body_json(serde_json::json!({
            "sender_batch_header": {
                "sender_batch_id": "acme:pb-000007.1",
                "email_subject": "You have an affiliate payout"
            },
            "items": [{
                "recipient_type": "EMAIL",
                "amount": {"value": "80.50", "currency": "EUR"},
                "receiver": "ben@example.com",
                "sender_item_id": "acme/pb-000007.1",
                "note": "Payout pb-000007"
            }]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "batch_header": {
                "sender_batch_header": {"sender_batch_id": "acme:pb-000007.1",
                                        "email_subject": "You have an affiliate payout"},
                "payout_batch_id": "5UXD2E8A7EBQJ",
                "batch_status": "PENDING"
            },
            "links": [{"href": "https://api-m.sandbox.paypal.com/v1/payments/payouts/5UXD2E8A7EBQJ",
                       "rel": "self", "method": "GET", "encType": "application/json"}]
        })))
        .expect(2)
        .mount(&server)
        .await;
    let paypal = paypal(&server);
    let o = order("pb-000007.1", "80.5", Currency::EUR, to("ben@example.com"));
    let accepted = paypal.submit(&o).await.unwrap();
    assert_eq!(
        accepted,
        PaymentStatus::Accepted {
            reference: "5UXD2E8A7EBQJ".into()
        }
    );
    // A repeat carries the same request id (PayPal answers the original),
    // and the token is reused.
    assert_eq!(paypal.submit(&o).await.unwrap(), accepted);
}

#[tokio::test]
async fn yen_amounts_have_no_decimals_and_payer_ids_are_typed() {
    let server = server_with_token().await;
    Mock::given(method("POST"))
        .and(path("/v1/payments/payouts"))
        .and(body_json(serde_json::json!({
            "sender_batch_header": {
                "sender_batch_id": "acme:pb-000007.2",
                "email_subject": "You have an affiliate payout"
            },
            "items": [{
                "recipient_type": "PAYPAL_ID",
                "amount": {"value": "1200", "currency": "JPY"},
                "receiver": "ABCDEFGHJKLMN",
                "sender_item_id": "acme/pb-000007.2",
                "note": "Payout pb-000007"
            }]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "batch_header": {"payout_batch_id": "X1", "batch_status": "PENDING"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    paypal(&server)
        .submit(&order(
            "pb-000007.2",
            "1200",
            Currency::JPY,
            to("ABCDEFGHJKLMN"),
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn errors_map_to_unknown_refused_or_failed() {
    let server = server_with_token().await;
    Mock::given(method("POST"))
        .and(path("/v1/payments/payouts"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/payments/payouts"))
        .respond_with(ResponseTemplate::new(422).set_body_json(serde_json::json!({
            "name": "INSUFFICIENT_FUNDS",
            "message": "Sender does not have sufficient funds.",
            "debug_id": "f2a5cd9ac9a1b"
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/payments/payouts"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "name": "VALIDATION_ERROR",
            "message": "Invalid request - see details",
            "debug_id": "b8a1b9c8e0f2"
        })))
        .mount(&server)
        .await;
    let paypal = paypal(&server);
    let o = order("pb-000007.1", "10.00", Currency::EUR, to("ben@example.com"));
    assert!(matches!(
        paypal.submit(&o).await,
        Err(ProcessorError::Unknown(_))
    ));
    assert!(matches!(
        paypal.submit(&o).await,
        Ok(PaymentStatus::Failed { reason, .. }) if reason.contains("INSUFFICIENT_FUNDS")
    ));
    assert!(matches!(
        paypal.submit(&o).await,
        Err(ProcessorError::Invalid(m)) if m.contains("VALIDATION_ERROR")
    ));
}

#[tokio::test]
async fn webhook_transmissions_are_checked_by_the_verification_endpoint() {
    let server = server_with_token().await;
    let event = serde_json::json!({"id": "WH-1", "event_type": "PAYMENT.PAYOUTS-ITEM.SUCCEEDED", "resource": {}});
    Mock::given(method("POST"))
        .and(path("/v1/notifications/verify-webhook-signature"))
        .and(body_json(serde_json::json!({
            "auth_algo": "SHA256withRSA",
            "cert_url": "https://api.paypal.com/v1/notifications/certs/CERT-1",
            "transmission_id": "tx-1",
            "transmission_sig": "c2lnbmF0dXJl",
            "transmission_time": "2026-11-20T10:00:00Z",
            "webhook_id": "8PT597110X687430LKGECATA",
            "webhook_event": event
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"verification_status": "SUCCESS"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/notifications/verify-webhook-signature"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"verification_status": "FAILURE"})),
        )
        .mount(&server)
        .await;
    let verifier = PaypalEndpointVerifier::new(paypal(&server), "8PT597110X687430LKGECATA")
        .with_clock(|| 1_795_168_800 + 10);
    let mut transmission = PaypalTransmission {
        transmission_id: "tx-1".into(),
        transmission_time: "2026-11-20T10:00:00Z".into(),
        transmission_sig: "c2lnbmF0dXJl".into(),
        cert_url: "https://api.paypal.com/v1/notifications/certs/CERT-1".into(),
        auth_algo: "SHA256withRSA".into(),
    };
    let body = event.to_string();
    assert!(
        verifier
            .verify(&transmission, body.as_bytes())
            .await
            .unwrap()
    );
    transmission.transmission_sig = "Zm9yZ2Vk".into();
    assert!(
        !verifier
            .verify(&transmission, body.as_bytes())
            .await
            .unwrap()
    );
    assert!(verifier.verify(&transmission, b"not json").await.is_err());
    // The message a certificate check would verify: PayPal's documented form.
    assert_eq!(
        transmission.signed_message("WH-ID", b"{}"),
        format!("tx-1|2026-11-20T10:00:00Z|WH-ID|{}", crc32fast::hash(b"{}"))
    );
}

// ---------------------------------------------------------------------------
// Against the stateful fake PayPal (see `paypal_fake` for what it does).

fn fake_paypal(fake: &FakePaypal) -> PaypalPayouts {
    PaypalPayouts::new(&fake.uri(), paypal_fake::CLIENT_ID, paypal_fake::SECRET).unwrap()
}

fn verifier(fake: &FakePaypal, now: fn() -> i64) -> PaypalEndpointVerifier {
    PaypalEndpointVerifier::new(fake_paypal(fake), paypal_fake::WEBHOOK_ID).with_clock(now)
}

fn just_after_sending() -> i64 {
    paypal_fake::SENT_AT + 10
}

/// The body of a webhook sample, as PayPal sent it.
fn sample_body(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/webhooks")
        .join(name);
    let sample: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    sample["body"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn genuine_webhooks_verify_with_the_exact_bytes_paypal_sent() {
    let fake = FakePaypal::start().await;
    let verifier = verifier(&fake, just_after_sending);
    // PayPal's own key order (not sorted), and a pretty-printed body with
    // escapes and a number: a re-serialization changes each of them.
    let pretty = "{\n  \"id\": \"WH-2\",\n  \"event_type\": \"PAYMENT.PAYOUTS-ITEM.FAILED\",\n  \"summary\": \"caf\\u00e9 \\/ 1.50E1\",\n  \"resource\": {\"fee\": 1.50E1}\n}";
    for body in [sample_body("paypal-item-succeeded.json"), pretty.to_owned()] {
        let transmission = fake.transmit(body.as_bytes());
        assert!(
            verifier
                .verify(&transmission, body.as_bytes())
                .await
                .unwrap(),
            "PayPal sent these bytes: {body}"
        );
        // The same event in other bytes is not what PayPal signed.
        let reserialized = serde_json::from_str::<serde_json::Value>(&body)
            .unwrap()
            .to_string();
        assert_ne!(reserialized, body);
        assert!(
            !verifier
                .verify(&transmission, reserialized.as_bytes())
                .await
                .unwrap()
        );
    }
    // Another transmission's signature does not carry over.
    let body = sample_body("paypal-item-failed.json");
    let mut transmission = fake.transmit(body.as_bytes());
    transmission.transmission_sig = fake.transmit(b"{}").transmission_sig;
    assert!(
        !verifier
            .verify(&transmission, body.as_bytes())
            .await
            .unwrap()
    );
    // Not an event: refused before PayPal is asked.
    let before = fake.requests_to("/v1/notifications").await;
    for junk in [
        &b"not json"[..],
        b"[1,2]",
        b"{\"id\":1} trailing",
        b"\xff\xfe",
    ] {
        assert!(matches!(
            verifier.verify(&fake.transmit(junk), junk).await,
            Err(ProcessorError::Invalid(_))
        ));
    }
    assert_eq!(fake.requests_to("/v1/notifications").await, before);
}

#[tokio::test]
async fn a_stale_or_off_host_transmission_reaches_no_paypal_endpoint() {
    let fake = FakePaypal::start().await;
    let body = sample_body("paypal-item-succeeded.json");
    let genuine = fake.transmit(body.as_bytes());
    let with_cert = |cert_url: &str| PaypalTransmission {
        cert_url: cert_url.to_owned(),
        ..genuine.clone()
    };
    let refused: Vec<(PaypalTransmission, SignatureError)> = vec![
        (
            with_cert("https://paypal.example/v1/notifications/certs/CERT-1"),
            SignatureError::UntrustedCertificate,
        ),
        (
            with_cert("https://api.paypal.com.example/v1/notifications/certs/CERT-1"),
            SignatureError::UntrustedCertificate,
        ),
        (
            with_cert("https://evilapi.paypal.com/v1/notifications/certs/CERT-1"),
            SignatureError::UntrustedCertificate,
        ),
        (
            with_cert("http://api.paypal.com/v1/notifications/certs/CERT-1"),
            SignatureError::UntrustedCertificate,
        ),
        (
            with_cert("https://api.paypal.com:8443/v1/notifications/certs/CERT-1"),
            SignatureError::UntrustedCertificate,
        ),
        (
            with_cert("https://user@api.paypal.com/v1/notifications/certs/CERT-1"),
            SignatureError::UntrustedCertificate,
        ),
        (
            with_cert("https://127.0.0.1/v1/notifications/certs/CERT-1"),
            SignatureError::UntrustedCertificate,
        ),
        (
            with_cert("api.paypal.com/v1/notifications/certs/CERT-1"),
            SignatureError::Malformed {
                header: "paypal-cert-url",
                reason: "not a URL",
            },
        ),
    ];
    // Fresh headers, a good-looking body, a certificate elsewhere.
    let v = verifier(&fake, just_after_sending);
    for (transmission, why) in &refused {
        assert_eq!(
            v.precheck(transmission, just_after_sending()),
            Err(why.clone())
        );
        assert!(!v.verify(transmission, body.as_bytes()).await.unwrap());
    }
    // A genuine transmission replayed an hour late, or dated in the future.
    let clocks: [fn() -> i64; 2] = [
        || paypal_fake::SENT_AT + 3600,
        || paypal_fake::SENT_AT - 301,
    ];
    for now in clocks {
        let late = verifier(&fake, now);
        assert!(matches!(
            late.precheck(&genuine, now()),
            Err(SignatureError::Expired { .. })
        ));
        assert!(!late.verify(&genuine, body.as_bytes()).await.unwrap());
    }
    assert_eq!(
        fake.requests_to("/").await,
        0,
        "no token or verification request was made"
    );
    // PayPal's own hosts pass; the adapter's API base (this server) too.
    for host in processors::webhooks::PAYPAL_CERT_HOSTS {
        let t = with_cert(&format!("https://{host}/v1/notifications/certs/CERT-1"));
        assert_eq!(t.check(just_after_sending(), None), Ok(()));
    }
    let local = with_cert(&format!("{}/v1/notifications/certs/CERT-1", fake.uri()));
    assert_eq!(
        local.check(just_after_sending(), None),
        Err(SignatureError::UntrustedCertificate)
    );
    assert_eq!(v.precheck(&local, just_after_sending()), Ok(()));
    assert!(v.verify(&genuine, body.as_bytes()).await.unwrap());
    assert_eq!(
        fake.requests_to("/").await,
        2,
        "one token, one verification"
    );
}

fn paypal_order(item: &str) -> PaymentOrder {
    order(item, "80.50", Currency::EUR, to("ben@example.com"))
}

#[tokio::test]
async fn submitted_items_read_paid_failed_or_pending_and_unknown_items_none() {
    let fake = FakePaypal::start().await;
    let paypal = fake_paypal(&fake);
    let (paid, failed) = (paypal_order("pb-000007.1"), paypal_order("pb-000007.2"));
    let mut references = Vec::new();
    for o in [&paid, &failed] {
        let Ok(PaymentStatus::Accepted { reference }) = paypal.submit(o).await else {
            panic!("not accepted");
        };
        // Submitted, not settled yet: still pending.
        assert_eq!(
            paypal.status(o).await,
            Ok(Some(PaymentStatus::Accepted {
                reference: reference.clone()
            }))
        );
        references.push(reference);
    }
    fake.set_item_status("acme/pb-000007.1", "SUCCESS", None);
    fake.set_item_status(
        "acme/pb-000007.2",
        "FAILED",
        Some(serde_json::json!({
            "name": "RECEIVER_UNREGISTERED",
            "message": "Receiver is unregistered",
            "information_link": "https://developer.paypal.com/docs/api/payments.payouts-batch/#errors"
        })),
    );
    assert_eq!(
        paypal.status(&paid).await,
        Ok(Some(PaymentStatus::Paid {
            reference: references[0].clone()
        }))
    );
    assert_eq!(
        paypal.status(&failed).await,
        Ok(Some(PaymentStatus::Failed {
            reference: Some(references[1].clone()),
            reason: "paypal item FAILED: RECEIVER_UNREGISTERED: Receiver is unregistered".into()
        }))
    );
    // Never submitted: PayPal has nothing, and the lookup created nothing.
    assert_eq!(paypal.status(&paypal_order("pb-000007.9")).await, Ok(None));
    assert_eq!(fake.batch_count(), 2);
    let creates = fake.creates().await;
    assert_eq!(creates.len(), 2 + 5);
    for (request_id, body) in &creates {
        let lookup = body["items"].as_array().unwrap().is_empty();
        // A lookup carries no request id (it must not take the item's) and
        // no item; a payout carries both.
        assert_eq!(request_id.is_none(), lookup, "{body}");
    }
    // Every transaction status PayPal documents.
    for (status, expected) in [
        ("SUCCESS", "paid"),
        ("FAILED", "failed"),
        ("RETURNED", "failed"),
        ("REFUNDED", "failed"),
        ("REVERSED", "failed"),
        ("BLOCKED", "failed"),
        ("UNCLAIMED", "pending"),
        ("PENDING", "pending"),
        ("ONHOLD", "pending"),
        ("UNPROCESSED", "pending"),
    ] {
        fake.set_item_status("acme/pb-000007.1", status, None);
        let got = match paypal.status(&paid).await {
            Ok(Some(PaymentStatus::Paid { .. })) => "paid",
            Ok(Some(PaymentStatus::Failed { reason, .. })) => {
                assert!(reason.contains(status), "{reason}");
                "failed"
            }
            Ok(Some(PaymentStatus::Accepted { .. })) => "pending",
            other => panic!("{status}: {other:?}"),
        };
        assert_eq!(got, expected, "{status}");
    }
}

#[tokio::test]
async fn a_retry_refused_for_its_used_sender_batch_id_reads_the_original_payout() {
    let fake = FakePaypal::start().await.without_request_id_replay();
    let paypal = fake_paypal(&fake);
    let o = paypal_order("pb-000007.1");
    let Ok(PaymentStatus::Accepted { reference }) = paypal.submit(&o).await else {
        panic!("not accepted");
    };
    fake.set_item_status("acme/pb-000007.1", "SUCCESS", None);
    // The retry of an attempt whose answer was lost: PayPal refuses the
    // used sender_batch_id; that is the original payout, not a refusal.
    assert_eq!(
        paypal.submit(&o).await,
        Ok(PaymentStatus::Paid {
            reference: reference.clone()
        })
    );
    assert_eq!(fake.batch_count(), 1);
}

#[tokio::test]
async fn a_lookup_paypal_refuses_for_its_empty_items_is_none_and_pays_nothing() {
    // Were PayPal to validate the items before the sender_batch_id, a
    // lookup reads "none": the dispatcher then repeats the original
    // request, which leads to the original payout; nothing is paid twice.
    let fake = FakePaypal::start()
        .await
        .without_request_id_replay()
        .items_checked_first();
    let paypal = fake_paypal(&fake);
    let o = paypal_order("pb-000007.1");
    let Ok(PaymentStatus::Accepted { reference }) = paypal.submit(&o).await else {
        panic!("not accepted");
    };
    fake.set_item_status("acme/pb-000007.1", "FAILED", None);
    assert_eq!(paypal.status(&o).await, Ok(None));
    assert_eq!(fake.batch_count(), 1);
    assert!(matches!(
        paypal.submit(&o).await,
        Ok(PaymentStatus::Failed { reference: Some(r), .. }) if r == reference
    ));
    assert_eq!(fake.batch_count(), 1);
}

#[tokio::test]
async fn lookups_that_prove_nothing_are_unknown_never_refusals() {
    let o = paypal_order("pb-000007.1");
    // PayPal down, rate limiting, or refusing the lookup for another reason.
    for answer in [
        ResponseTemplate::new(503),
        ResponseTemplate::new(429),
        ResponseTemplate::new(403).set_body_json(serde_json::json!({
            "name": "AUTHORIZATION_ERROR", "message": "Authorization error occurred.", "debug_id": "d1"
        })),
        // Used, but PayPal did not say where the original is.
        ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "name": "USER_BUSINESS_ERROR", "message": "User business error.", "debug_id": "d2",
            "details": [{"field": "SENDER_BATCH_ID", "issue": "Duplicate batch request"}]
        })),
    ] {
        let server = server_with_token().await;
        Mock::given(method("POST"))
            .and(path("/v1/payments/payouts"))
            .respond_with(answer)
            .mount(&server)
            .await;
        assert!(matches!(
            paypal(&server).status(&o).await,
            Err(ProcessorError::Unknown(_))
        ));
    }
    // Used, and the batch cannot be read.
    let server = server_with_token().await;
    Mock::given(method("POST"))
        .and(path("/v1/payments/payouts"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "name": "USER_BUSINESS_ERROR", "message": "User business error.", "debug_id": "d3",
            "details": [{"field": "SENDER_BATCH_ID", "location": "body",
                         "issue": "Batch with given sender_batch_id already exists",
                         "link": [{"href": "https://api-m.paypal.com/v1/payments/payouts/Q6K2CE4GQ36MQ",
                                   "rel": "self", "method": "GET"}]}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/payments/payouts/Q6K2CE4GQ36MQ"))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "name": "RESOURCE_NOT_FOUND", "message": "The specified resource does not exist.", "debug_id": "d4"
        })))
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        paypal(&server).status(&o).await,
        Err(ProcessorError::Unknown(_))
    ));
    // Credentials PayPal refuses: a lookup that could not be made.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/oauth2/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "invalid_client", "error_description": "Client Authentication failed"
        })))
        .mount(&server)
        .await;
    assert!(matches!(
        paypal(&server).status(&o).await,
        Err(ProcessorError::Unknown(_))
    ));
}
