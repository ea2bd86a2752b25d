//! Across functions, on each backend: commissions through the HTTP handler
//! and the SQS handler, projected, matured, and read back through the read
//! API, with the sample events of `events/`.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use event_store::EventStore;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn send(app: axum::Router, event: &Value) -> (u16, Value) {
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
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Ingests the HTTP and SQS samples; `project` runs the backend's projector.
async fn flow<S, R, P, F>(store: S, reads: R, project: P)
where
    S: EventStore + Clone + 'static,
    R: ledger_api::ApiReads + 'static,
    P: Fn() -> F,
    F: std::future::Future<Output = ()>,
{
    let ingest = ingest_commissions::router(Arc::new(ingest_commissions::AppState {
        store: store.clone(),
        tenant_claim: "tenant_id".into(),
    }));
    let (status, body) = send(ingest.clone(), &fixture("apigw/post-commissions-bulk.json")).await;
    assert_eq!(status, 201, "{body}");
    let sqs: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(fixture("sqs/commissions-batch.json")).unwrap();
    let failures = ingest_commissions::handle_sqs(&store, sqs)
        .await
        .batch_item_failures;
    assert_eq!(
        failures.len(),
        2,
        "the malformed and the over-precise message, and only they"
    );
    project().await;

    let api = ledger_api::router(Arc::new(ledger_api::ApiState {
        reads,
        events: Arc::new(store.clone()),
        tenant_claim: "tenant_id".into(),
        queue: Arc::new(ledger_app::payouts::MemoryQueue::default()),
        limits: ledger_domain::ApprovalLimits::from_json(r#"{"EUR": {"batch_total_max": "1000000.00"}, "USD": {"batch_total_max": "1000000.00"}, "JPY": {"batch_total_max": "100000000"}, "KWD": {"batch_total_max": "1000000.000"}}"#).expect("test limits"),
        reports: None,
    }));
    let mut read = fixture("apigw/get-affiliate-balances.json");
    read["rawPath"] = "/v1/affiliates/aff-ben/balances".into();
    read["requestContext"]["http"]["path"] = "/v1/affiliates/aff-ben/balances".into();
    read["requestContext"]["authorizer"]["jwt"]["claims"]["affiliate_id"] = "aff-ben".into();
    let (status, body) = send(api, &read).await;
    assert_eq!(status, 200, "{body}");
    let balances = body["balances"].as_array().unwrap();
    let pending = |currency: &str| {
        balances
            .iter()
            .find(|b| b["currency"] == currency)
            .map(|b| b["pending"].clone())
            .unwrap()
    };
    // Bulk: 7.00 EUR and 19.99 USD; queue: 250 JPY.
    assert_eq!(pending("EUR"), "7.00");
    assert_eq!(pending("USD"), "19.99");
    assert_eq!(pending("JPY"), "250");
}

#[tokio::test]
async fn embedded_default() {
    let store = event_store_sqlite::SqliteEventStore::in_memory().unwrap();
    let projector = store.clone();
    flow(store.clone(), store, || {
        let projector = projector.clone();
        async move {
            projector.project_ledger(1000).await.unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_emulator() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let (store, projection) =
        event_store_dynamodb::ledger_on_dynamodb(&emulator.sdk_config(), "e2e-")
            .await
            .unwrap();
    let store = Arc::new(store);
    // The events table's DynamoDB Stream feeds the projector, as the
    // stream mapping does on AWS (read here through the store's cursor).
    let project = || {
        let (store, projection) = (store.clone(), projection.clone());
        async move {
            let page = store.read_all(None, 1000).await.unwrap();
            projection.project(&page.events).await.unwrap();
        }
    };
    flow(store.clone(), projection.clone(), project).await;
}
