//! The read API end to end: commissions posted through the ingest handler,
//! projected, then read back through this API, on SQLite and on DynamoDB.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use event_store::EventStore;
use event_store_sqlite::SqliteEventStore;
use http_body_util::BodyExt;
use ledger_api::{ApiReads, ApiState, router};
use serde_json::{Value, json};
use tower::ServiceExt;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/apigw")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn request(event: &Value) -> axum::http::Request<Body> {
    let request =
        lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event");
    let (parts, body) = request.into_parts();
    axum::http::Request::from_parts(parts, Body::from(body.to_vec()))
}

async fn send(app: axum::Router, event: &Value) -> (u16, Value) {
    let response = app.oneshot(request(event)).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn ingest<S: EventStore + 'static>(store: S) {
    let app = ingest_commissions::router(Arc::new(ingest_commissions::AppState {
        store,
        tenant_claim: "tenant_id".into(),
    }));
    for name in ["post-commission.json", "post-commissions-bulk.json"] {
        let mut event = fixture(name);
        let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        // Make the commissions of the two samples distinct.
        let body = body.to_string().replace("c-9001", "c-8001");
        event["body"] = body.into();
        let (status, reply) = send(app.clone(), &event).await;
        assert_eq!(status, 201, "{reply}");
    }
}

fn api<R: ApiReads + 'static>(reads: R, events: Arc<dyn EventStore>) -> axum::Router {
    router(Arc::new(ApiState {
        reads,
        events,
        tenant_claim: "tenant_id".into(),
        queue: Arc::new(ledger_app::payouts::MemoryQueue::default()),
        limits: ledger_domain::ApprovalLimits::from_json(r#"{"EUR": {"batch_total_max": "1000000.00"}, "USD": {"batch_total_max": "1000000.00"}, "JPY": {"batch_total_max": "100000000"}, "KWD": {"batch_total_max": "1000000.000"}}"#).expect("test limits"),
        reports: None,
    }))
}

fn with_claims(mut event: Value, claims: Value) -> Value {
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
    event
}

async fn check_reads<R: ApiReads + Clone + 'static>(reads: R, events: Arc<dyn EventStore>) {
    let (status, body) = send(
        api(reads.clone(), events.clone()),
        &fixture("get-affiliate-balances.json"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant_id"], "acme");
    assert_eq!(
        body["balances"][0],
        json!({"currency": "EUR", "pending": "25.00", "available": "0.00", "reserved": "0.00", "receivable": "0.00", "paid_out": "0.00", "net_payable": "0.00"})
    );

    // The journal pages through both lines with an opaque token.
    let (status, page) = send(
        api(reads.clone(), events.clone()),
        &fixture("get-affiliate-journal.json"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["lines"].as_array().unwrap().len(), 2);
    assert_eq!(
        page["lines"][0]["changes"]["pending"], "12.50",
        "shown as the affiliate reads it"
    );
    // A full page may or may not carry a token (DynamoDB says whether more
    // may follow); when it does, the next page holds the rest: nothing here.
    if let Some(token) = page["next"].as_str() {
        let mut next = fixture("get-affiliate-journal.json");
        next["rawQueryString"] = format!("currency=EUR&limit=2&after={token}").into();
        next["queryStringParameters"]["after"] = token.into();
        let (status, page) = send(api(reads.clone(), events.clone()), &next).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["lines"].as_array().unwrap().is_empty());
    }
    let mut one = fixture("get-affiliate-journal.json");
    one["rawQueryString"] = "currency=EUR&limit=1".into();
    one["queryStringParameters"]["limit"] = "1".into();
    let (_, first) = send(api(reads.clone(), events.clone()), &one).await;
    let token = first["next"]
        .as_str()
        .expect("a page that stops early has a next token")
        .to_owned();
    one["rawQueryString"] = format!("currency=EUR&limit=1&after={token}").into();
    one["queryStringParameters"]["after"] = token.clone().into();
    let (_, second) = send(api(reads.clone(), events.clone()), &one).await;
    assert_eq!(second["lines"].as_array().unwrap().len(), 1);
    assert_ne!(first["lines"][0], second["lines"][0]);
    // Query values are percent-decoded: `%45%55%52` is EUR, and a page
    // token with every byte encoded reads as the token.
    let encoded: String = token.bytes().map(|b| format!("%{b:02X}")).collect();
    one["rawQueryString"] = format!("currency=%45%55%52&limit=1&after={encoded}").into();
    one["queryStringParameters"] = Value::Null;
    let (status, decoded) = send(api(reads.clone(), events.clone()), &one).await;
    assert_eq!(status, 200, "{decoded}");
    assert_eq!(decoded["lines"], second["lines"]);

    // Finance reads any affiliate of its own tenant.
    let finance = with_claims(
        fixture("get-affiliate-balances.json"),
        json!({"sub": "maria", "tenant_id": "acme", "roles": "finance-maker"}),
    );
    assert_eq!(
        send(api(reads.clone(), events.clone()), &finance).await.0,
        200
    );

    // Refusals.
    let other_affiliate = with_claims(
        fixture("get-affiliate-balances.json"),
        json!({"sub": "u-ben", "tenant_id": "acme", "roles": "affiliate", "affiliate_id": "aff-ben"}),
    );
    let (status, problem) = send(api(reads.clone(), events.clone()), &other_affiliate).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (403, Some("/problems/forbidden"))
    );
    let other_tenant = with_claims(
        fixture("get-affiliate-balances.json"),
        json!({"sub": "maria", "tenant_id": "globex", "roles": "finance-maker"}),
    );
    let (status, body) = send(api(reads.clone(), events.clone()), &other_tenant).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["balances"],
        json!([]),
        "another tenant sees nothing of acme"
    );
    let mut anonymous = fixture("get-affiliate-balances.json");
    anonymous["requestContext"]["authorizer"] = Value::Null;
    assert_eq!(
        send(api(reads.clone(), events.clone()), &anonymous).await.0,
        401
    );
    for (query, field) in [
        ("currency=EURO", "currency"),
        ("limit=0&currency=EUR", "limit"),
        ("currency=EUR&limit=501", "limit"),
        ("", "currency"),
        ("currency=EUR&after=zz", "after"),
    ] {
        let mut bad = fixture("get-affiliate-journal.json");
        bad["rawQueryString"] = query.into();
        bad["queryStringParameters"] = Value::Null;
        let (status, problem) = send(api(reads.clone(), events.clone()), &bad).await;
        assert_eq!(status, 422, "{query}: {problem}");
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{query}: {problem}"
        );
    }
}

#[tokio::test]
async fn posted_commissions_read_back_on_the_embedded_store() {
    let store = Arc::new(SqliteEventStore::in_memory().unwrap());
    ingest(store.clone()).await;
    store.project_ledger(1000).await.unwrap();
    check_reads(store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_commissions_read_back_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let (store, projection) =
        event_store_dynamodb::ledger_on_dynamodb(&emulator.sdk_config(), "api-")
            .await
            .unwrap();
    let store = Arc::new(store);
    ingest(store.clone()).await;
    // The events table's stream feeds the projector, as Lambda would.
    let page = store.read_all(None, 1000).await.unwrap();
    assert_eq!(page.events.len(), 5);
    projection.project(&page.events).await.unwrap();
    check_reads(Arc::new(projection), store).await;
}
