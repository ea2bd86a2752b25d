//! The PayPal adapter against a local server speaking PayPal's documented
//! Payouts API: OAuth client credentials, the exact JSON body (decimal
//! string amounts in the currency's decimals), the PayPal-Request-Id
//! header, and how answers map.

mod support;

use ledger_app::payouts::{PaymentStatus, ProcessorError, SubmitPayment};
use ledger_domain::{Currency, PayoutMethod};
use processors::paypal::PaypalPayouts;
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
    use processors::webhooks::{PaypalEndpointVerifier, PaypalTransmission, PaypalVerifier};
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
    let verifier = PaypalEndpointVerifier::new(paypal(&server), "8PT597110X687430LKGECATA");
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
