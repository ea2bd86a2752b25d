//! No secret, token or full bank detail is ever logged: requests carrying a
//! known IBAN, a PayPal receiver, a bearer token and a webhook secret go
//! through the handlers (successes and failures) while every log line is
//! captured, and none of those values appears in the logs.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use event_store_sqlite::SqliteEventStore;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn send(app: axum::Router, event: &Value) -> u16 {
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let (parts, body) = request.into_parts();
    let response = app
        .oneshot(axum::http::Request::from_parts(
            parts,
            Body::from(body.to_vec()),
        ))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

const IBAN: &str = "DE89370400440532013000";
const IBAN_SPACED: &str = "DE89 3704 0044 0532 0130 00";
const BAD_IBAN: &str = "DE89370400440532013001";
const RECEIVER: &str = "secret.receiver@example.com";
const WEBHOOK_SECRET: &str = "whsec_do_not_log_me_7f3a";
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl";

#[tokio::test(flavor = "current_thread")]
async fn secrets_and_bank_details_never_reach_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = SqliteEventStore::in_memory().unwrap();
    let api = ledger_api::router(Arc::new(ledger_api::ApiState {
        reads: store.clone(),
        events: Arc::new(store.clone()),
        tenant_claim: "tenant_id".into(),
        queue: Arc::new(ledger_app::payouts::MemoryQueue::default()),
        limits: ledger_domain::ApprovalLimits::from_json(r#"{"EUR": {"batch_total_max": "1000000.00"}, "USD": {"batch_total_max": "1000000.00"}, "JPY": {"batch_total_max": "100000000"}, "KWD": {"batch_total_max": "1000000.000"}}"#).expect("test limits"),
        reports: None,
    }));
    let base = fixture("apigw/put-payout-method.json");
    for (iban, receiver) in [
        (IBAN_SPACED, None),
        (BAD_IBAN, None),
        (IBAN, Some(RECEIVER)),
    ] {
        let mut event = base.clone();
        event["headers"]["authorization"] = format!("Bearer {TOKEN}").into();
        let method = match receiver {
            None => {
                serde_json::json!({"processor": "sepa", "iban": iban, "account_holder": "Chloe Martin"})
            }
            Some(r) => serde_json::json!({"processor": "paypal", "receiver": r}),
        };
        event["body"] = serde_json::json!({ "method": method }).to_string().into();
        let status = send(api.clone(), &event).await;
        assert!(status == 200 || status == 422, "{status}");
    }
    // A malformed body, and a profile read (masked).
    let mut broken = base.clone();
    broken["body"] = format!("{{\"method\": {{\"iban\": \"{IBAN}\"").into();
    assert_eq!(send(api.clone(), &broken).await, 400);

    // Webhooks: a forged one and a genuine one, signed with the secret.
    let hooks = processor_webhooks::router(Arc::new(processor_webhooks::WebhookState {
        store: store.clone(),
        stripe_secrets: vec![WEBHOOK_SECRET.into()],
        sandbox_secrets: vec![],
        paypal: None,
        tenants: None,
        clock: processor_webhooks::now,
    }));
    let body = serde_json::json!({"id": "evt_1", "type": "transfer.created",
        "data": {"object": {"id": "tr_1", "metadata": {"tenant_id": "acme", "payout_item_id": "pb-1.1"}}}})
    .to_string();
    for secret in ["whsec_wrong", WEBHOOK_SECRET] {
        let signature = processors::webhooks::stripe_signature_header(
            secret,
            chrono::Utc::now().timestamp(),
            body.as_bytes(),
        );
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/v1/webhooks/stripe")
            .header("stripe-signature", signature)
            .body(Body::from(body.clone()))
            .unwrap();
        let _ = hooks.clone().oneshot(request).await.unwrap();
    }
    // The processors' own configuration, as a function logs it at start.
    tracing::info!(processors = ?processors::Processors::default(), "ready");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The capture works: the handlers' own lines are there.
    assert!(
        logs.contains("payout profile") && logs.contains("processor notice"),
        "{logs}"
    );
    for secret in [
        IBAN,
        IBAN_SPACED,
        BAD_IBAN,
        "0532013000",
        RECEIVER,
        WEBHOOK_SECRET,
        TOKEN,
        "c2VjcmV0LXRva2Vu",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
    }
}
