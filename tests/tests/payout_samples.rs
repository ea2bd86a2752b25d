//! The payout samples of `events/` through the Lambda handlers, as AWS
//! delivers them: API Gateway requests (set a payout method, draft a run,
//! approve as a second person) and an SQS batch of dispatch messages (a
//! settle, a failure, a redelivery, a malformed message).

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use event_store::EventStore;
use event_store_sqlite::SqliteEventStore;
use http_body_util::BodyExt;
use ledger_app::payouts::{DispatchQueue, MemoryQueue};
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

/// An API Gateway sample with another affiliate in its path.
fn for_affiliate(mut event: Value, from: &str, to: &str) -> Value {
    event["rawPath"] = event["rawPath"].as_str().unwrap().replace(from, to).into();
    event["requestContext"]["http"]["path"] = event["rawPath"].clone();
    event
}

/// Tenant credentials that cannot be read, as a throttled or malformed
/// secret answers.
struct UnreadableCredentials;

#[async_trait::async_trait]
impl ledger_app::payouts::TenantProcessors for UnreadableCredentials {
    async fn for_tenant<'a>(
        &'a self,
        tenant: &ledger_domain::TenantId,
    ) -> Result<ledger_app::payouts::RegistryRef<'a>, ledger_app::payouts::ProcessorError> {
        Err(ledger_app::payouts::ProcessorError::Unknown(format!(
            "secret of {tenant}: throttled"
        )))
    }
}

#[tokio::test]
async fn the_payout_samples_drive_the_handlers() {
    let store = SqliteEventStore::in_memory().unwrap();
    let queue = Arc::new(MemoryQueue::default());
    let api = ledger_api::router(Arc::new(ledger_api::ApiState {
        reads: store.clone(),
        events: Arc::new(store.clone()),
        tenant_claim: "tenant_id".into(),
        queue: queue.clone() as Arc<dyn DispatchQueue>,
        limits: ledger_domain::ApprovalLimits::from_json(r#"{"EUR": {"batch_total_max": "1000000.00"}, "USD": {"batch_total_max": "1000000.00"}, "JPY": {"batch_total_max": "100000000"}, "KWD": {"batch_total_max": "1000000.000"}}"#).expect("test limits"),
        reports: None,
    }));
    let ingest = ingest_commissions::router(Arc::new(ingest_commissions::AppState {
        store: store.clone(),
        tenant_claim: "tenant_id".into(),
    }));
    // anna and ben earn, with no hold period.
    let occurred = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let mut post = fixture("apigw/post-commissions-bulk.json");
    post["body"] = serde_json::json!({"commissions": [
        {"commission_id": "c-1", "affiliate_id": "aff-anna", "amount": "80.00", "currency": "EUR", "conversion_id": "v-1", "hold_period_days": 0, "occurred_at": occurred},
        {"commission_id": "c-2", "affiliate_id": "aff-ben", "amount": "30.00", "currency": "EUR", "conversion_id": "v-2", "hold_period_days": 0, "occurred_at": occurred},
    ]})
    .to_string()
    .into();
    assert_eq!(send(ingest, &post).await.0, 201);
    // The sample sets a SEPA method; anna and ben get sandbox methods the same way.
    let (status, body) = send(api.clone(), &fixture("apigw/put-payout-method.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["method"], "sepa DE** **** 3000");
    for (affiliate, behaviour) in [("aff-anna", "settle"), ("aff-ben", "fail")] {
        let mut event = for_affiliate(
            fixture("apigw/put-payout-method.json"),
            "aff-chloe",
            affiliate,
        );
        event["body"] =
            serde_json::json!({"method": {"processor": "sandbox", "behaviour": behaviour}})
                .to_string()
                .into();
        assert_eq!(send(api.clone(), &event).await.0, 200);
    }
    // The projector files the commissions for maturing; the job matures them.
    while store.project_ledger(1000).await.unwrap().events > 0 {}
    let now = chrono::Utc::now();
    let matured = ledger_app::mature_due(&store, &store, now, 100)
        .await
        .unwrap();
    assert_eq!(matured.matured, 2);
    while store.project_ledger(1000).await.unwrap().events > 0 {}

    let (status, run) = send(api.clone(), &fixture("apigw/post-payout-run.json")).await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["run_id"], "run-2026-11-23");
    assert_eq!(run["batches"][0]["batch_id"], "pb-000001");
    assert_eq!(run["items"], 2);
    let (status, approved) = send(api.clone(), &fixture("apigw/approve-payout-batch.json")).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["dispatch_messages"], 2);
    let enqueued: Vec<String> = queue
        .messages()
        .iter()
        .map(|m| m.item_id.to_string())
        .collect();
    assert_eq!(enqueued, vec!["pb-000001.1", "pb-000001.2"]);

    // The SQS sample: item 1 (anna) settles, item 2 (ben) fails, item 1
    // redelivered does nothing, the malformed message is left for retry.
    // First with each tenant's credentials unreadable (a throttled or
    // malformed secret): every message is left for retry and nothing is
    // recorded, no item fails.
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(fixture("sqs/dispatch-batch.json")).unwrap();
    let ids: Vec<String> = event
        .records
        .iter()
        .map(|m| m.message_id.clone().unwrap())
        .collect();
    let batch_stream = event_store::StreamId::new("acme/payout-batch/pb-000001").unwrap();
    let before = store
        .read_stream(&batch_stream, 0, 1000)
        .await
        .unwrap()
        .len();
    let response = dispatch_payouts::handle_sqs(&store, &UnreadableCredentials, event).await;
    let retried: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(retried, ids);
    assert_eq!(
        store
            .read_stream(&batch_stream, 0, 1000)
            .await
            .unwrap()
            .len(),
        before,
        "nothing recorded while the credentials cannot be read"
    );

    let processors = local_stack::local_processors(None).unwrap();
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(fixture("sqs/dispatch-batch.json")).unwrap();
    let response = dispatch_payouts::handle_sqs(&store, &processors, event).await;
    let failed: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(failed, vec!["7c1d0f52-5b7e-4d0e-9a51-000000000004"]);
    assert_eq!(processors.sandbox.as_ref().unwrap().payments().len(), 1);
    while store.project_ledger(1000).await.unwrap().events > 0 {}
    let ben = store
        .affiliate_balance(
            &ledger_domain::TenantId::new("acme").unwrap(),
            &ledger_domain::AffiliateId::new("aff-ben").unwrap(),
            "EUR",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        -ben.fields["available"], 3000,
        "ben's failed payout is back"
    );
    let anna = store
        .affiliate_balance(
            &ledger_domain::TenantId::new("acme").unwrap(),
            &ledger_domain::AffiliateId::new("aff-anna").unwrap(),
            "EUR",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(anna.fields["paid_out"], 8000);
    // The scheduled sample drafts nothing more for acme: all is reserved or paid
    // except ben's returned money, which the schedule drafts again.
    let schedule = fixture("schedule/draft-payouts.json");
    assert_eq!(schedule["detail-type"], "Scheduled Event");
    let tenants = draft_payouts::tenants("acme").unwrap();
    let summary = draft_payouts::handle(&store, &store, &tenants, chrono::Utc::now()).await;
    assert_eq!(summary["tenants"][0]["items"], 1, "{summary}");
}
