//! Reversals and adjustments through the ingest handlers, with the sample
//! events of `events/`, on the embedded store and on DynamoDB (the
//! emulator): over HTTP and over the queue, idempotent by key, and every
//! bad input refused with the field named and nothing written.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use event_store::EventStore;
use event_store_sqlite::SqliteEventStore;
use http_body_util::BodyExt;
use ingest_commissions::{AppState, handle_sqs, router};
use serde_json::{Value, json};
use tower::ServiceExt;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn request(event: &Value) -> axum::http::Request<Body> {
    let request =
        lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event");
    let (parts, body) = request.into_parts();
    axum::http::Request::from_parts(parts, Body::from(body.to_vec()))
}

async fn call<S: EventStore + 'static>(store: S, event: &Value) -> (u16, String, Value) {
    let app = router(Arc::new(AppState {
        store,
        tenant_claim: "tenant_id".into(),
    }));
    let response = app.oneshot(request(event)).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The sample event of a route, aimed at another commission or body.
fn aimed(sample: &str, commission_id: &str, body: &Value) -> Value {
    let mut event = fixture(sample);
    let from = event["pathParameters"]["commission_id"]
        .as_str()
        .map(str::to_owned);
    if let Some(from) = from {
        let path = event["rawPath"]
            .as_str()
            .unwrap()
            .replace(&from, commission_id);
        event["rawPath"] = path.clone().into();
        event["requestContext"]["http"]["path"] = path.into();
        event["pathParameters"]["commission_id"] = commission_id.into();
    }
    event["body"] = body.to_string().into();
    event
}

fn sample_body(sample: &str) -> Value {
    serde_json::from_str(fixture(sample)["body"].as_str().unwrap()).unwrap()
}

async fn event_count<S: EventStore>(store: &S) -> usize {
    store.read_all(None, 1000).await.unwrap().events.len()
}

fn sqs(name: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    serde_json::from_value(fixture(name)).unwrap()
}

fn failed(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

/// The samples in order: c-9001 recorded, 4.00 refunded, adjusted by -1.25.
async fn refund_and_adjust<S: EventStore + Clone + 'static>(store: S) {
    let (status, _, body) = call(store.clone(), &fixture("apigw/post-commission.json")).await;
    assert_eq!(status, 201, "{body}");
    let reversal = fixture("apigw/post-commission-reversal.json");
    let (status, _, body) = call(store.clone(), &reversal).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["results"][0],
        json!({"commission_id": "c-9001", "kind": "reversal", "status": "applied",
               "stream": "acme/commission/c-9001", "version": 2, "amount": "4.00",
               "currency": "EUR", "reason": "refund", "whole": false, "account": "pending",
               "effective_at": "2026-11-25T14:05:00Z"})
    );
    // The network retries with the same key and body: the first answer.
    let (status, _, again) = call(store.clone(), &reversal).await;
    assert_eq!(status, 200, "{again}");
    let mut expected = body["results"][0].clone();
    expected["status"] = "duplicate".into();
    assert_eq!(again["results"][0], expected);
    let (status, _, body) = call(
        store.clone(),
        &fixture("apigw/post-commission-adjustment.json"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["results"][0]["delta"], "-1.25");
    assert_eq!(body["results"][0]["account"], "pending");
    assert_eq!(body["results"][0]["version"], 3);
    assert_eq!(event_count(&store).await, 3);
}

#[tokio::test]
async fn a_refund_and_an_adjustment_in_the_hold_period_reduce_pending() {
    let store = Arc::new(SqliteEventStore::in_memory().unwrap());
    refund_and_adjust(store.clone()).await;
    store.project_ledger(100).await.unwrap();
    let row = store
        .affiliate_balance(
            &ledger_domain::TenantId::new("acme").unwrap(),
            &ledger_domain::AffiliateId::new("aff-anna").unwrap(),
            "EUR",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.fields["pending"], -725, "12.50 - 4.00 - 1.25");
}

#[tokio::test]
async fn the_bulk_sample_lands_together_and_names_where_each_change_moved() {
    let store = Arc::new(SqliteEventStore::in_memory().unwrap());
    call(store.clone(), &fixture("apigw/post-commissions-bulk.json")).await;
    let (status, _, body) = call(
        store.clone(),
        &fixture("apigw/post-commission-changes.json"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let results = body["results"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["commission_id"].as_str().unwrap(),
                r["kind"].as_str().unwrap(),
                r["amount"].as_str().or(r["delta"].as_str()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("c-9100", "reversal", "12.50"),
            ("c-9102", "reversal", "5.00"),
            ("c-9103", "adjustment", "300"),
        ]
    );
    assert_eq!(
        results[0]["whole"], true,
        "no amount: everything that remains"
    );
    assert_eq!(event_count(&*store).await, 7);
    let (status, _, body) = call(
        store.clone(),
        &fixture("apigw/post-commission-changes.json"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(event_count(&*store).await, 7);
}

/// Each bad input: status, the field named, and nothing written.
#[tokio::test]
async fn bad_changes_get_a_problem_naming_the_field_and_nothing_is_written() {
    const REVERSAL: &str = "apigw/post-commission-reversal.json";
    const ADJUSTMENT: &str = "apigw/post-commission-adjustment.json";
    const BULK: &str = "apigw/post-commission-changes.json";
    let reversal = sample_body(REVERSAL);
    let adjustment = sample_body(ADJUSTMENT);
    let with = |body: &Value, field: &str, value: Value| {
        let mut b = body.clone();
        if value.is_null() {
            b.as_object_mut().unwrap().remove(field);
        } else {
            b[field] = value;
        }
        b
    };
    let reverse = |body: Value| aimed(REVERSAL, "c-9001", &body);
    let adjust = |body: Value| aimed(ADJUSTMENT, "c-9001", &body);
    let mut no_key = fixture(REVERSAL);
    no_key["headers"]
        .as_object_mut()
        .unwrap()
        .remove("idempotency-key");
    let mut wrong_type = fixture(REVERSAL);
    wrong_type["headers"]["content-type"] = "text/plain".into();
    let mut no_role = fixture(REVERSAL);
    no_role["requestContext"]["authorizer"]["jwt"]["claims"]["roles"] = "finance-maker".into();
    let mut no_claims = fixture(REVERSAL);
    no_claims["requestContext"]["authorizer"] = Value::Null;
    let bulk_item = json!({"kind": "reversal", "commission_id": "c-9001", "amount": "1.00",
                           "currency": "EUR", "reason": "refund", "reference": "re_1"});
    let too_many: Vec<Value> = (0..50)
        .map(|i| with(&bulk_item, "commission_id", format!("c-{i}").into()))
        .collect();
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "more than remains",
            reverse(with(&reversal, "amount", "12.51".into())),
            422,
            "amount",
        ),
        (
            "unknown commission",
            aimed(REVERSAL, "c-404", &reversal),
            404,
            "commission_id",
        ),
        (
            "reversal in another currency",
            reverse(with(&reversal, "currency", "USD".into())),
            422,
            "currency",
        ),
        (
            "adjustment in another currency",
            adjust(with(&adjustment, "currency", "USD".into())),
            422,
            "currency",
        ),
        (
            "adjustment of an unknown commission",
            aimed(ADJUSTMENT, "c-404", &adjustment),
            404,
            "commission_id",
        ),
        (
            "below zero",
            adjust(with(&adjustment, "delta", "-12.51".into())),
            422,
            "delta",
        ),
        (
            "zero delta",
            adjust(with(&adjustment, "delta", "0.00".into())),
            422,
            "delta",
        ),
        (
            "zero amount",
            reverse(with(&reversal, "amount", "0".into())),
            422,
            "amount",
        ),
        (
            "negative amount",
            reverse(with(&reversal, "amount", "-4.00".into())),
            422,
            "amount",
        ),
        (
            "float amount",
            reverse(with(&reversal, "amount", json!(4.0))),
            422,
            "amount",
        ),
        (
            "too many decimals",
            reverse(with(&reversal, "amount", "4.001".into())),
            422,
            "amount",
        ),
        (
            "float delta",
            adjust(with(&adjustment, "delta", json!(-1.25))),
            422,
            "delta",
        ),
        (
            "unknown reason",
            reverse(with(&reversal, "reason", "manual".into())),
            422,
            "reason",
        ),
        (
            "no reference",
            reverse(with(&reversal, "reference", Value::Null)),
            422,
            "reference",
        ),
        (
            "empty adjustment reason",
            adjust(with(&adjustment, "reason", "".into())),
            422,
            "reason",
        ),
        (
            "unknown field",
            reverse(with(&reversal, "affiliate_id", "aff-ben".into())),
            422,
            "affiliate_id",
        ),
        (
            "future",
            reverse(with(
                &reversal,
                "occurred_at",
                "2099-01-01T00:00:00Z".into(),
            )),
            422,
            "occurred_at",
        ),
        (
            "bad id in the path",
            aimed(REVERSAL, "c%20x", &reversal),
            422,
            "commission_id",
        ),
        (
            "not an object",
            aimed(REVERSAL, "c-9001", &json!("x")),
            422,
            "body",
        ),
        (
            "bulk: one unknown commission",
            aimed(
                BULK,
                "",
                &json!({"changes": [bulk_item, with(&bulk_item, "commission_id", "c-404".into())]}),
            ),
            422,
            "changes[1].commission_id",
        ),
        (
            "bulk: one more than remains",
            aimed(
                BULK,
                "",
                &json!({"changes": [with(&bulk_item, "amount", "12.51".into())]}),
            ),
            422,
            "changes[0].amount",
        ),
        (
            "bulk: twice the same commission",
            aimed(BULK, "", &json!({"changes": [bulk_item, bulk_item]})),
            422,
            "changes[1].commission_id",
        ),
        (
            "bulk: no kind",
            aimed(
                BULK,
                "",
                &json!({"changes": [with(&bulk_item, "kind", Value::Null)]}),
            ),
            422,
            "changes[0].kind",
        ),
        (
            "bulk over the limit",
            aimed(BULK, "", &json!({"changes": too_many})),
            422,
            "changes",
        ),
        ("no idempotency key", no_key, 400, "Idempotency-Key"),
        ("not JSON media type", wrong_type, 415, "Content-Type"),
        ("not the ingest role", no_role, 403, ""),
        ("no verified caller", no_claims, 401, ""),
    ];
    for (name, event, status, field) in cases {
        let store = Arc::new(SqliteEventStore::in_memory().unwrap());
        call(store.clone(), &fixture("apigw/post-commission.json")).await;
        let (got, content_type, problem) = call(store.clone(), &event).await;
        assert_eq!(got, status, "{name}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{name}");
        if !field.is_empty() {
            let named = problem["errors"].as_array().is_some_and(|errors| {
                errors.iter().any(|e| {
                    e["field"] == field && !e["rule"].as_str().unwrap_or_default().is_empty()
                })
            });
            assert!(named, "{name}: {problem}");
        }
        assert_eq!(event_count(&*store).await, 1, "{name}: nothing is written");
    }
}

#[tokio::test]
async fn the_same_key_with_other_facts_is_a_409_and_writes_nothing() {
    let store = Arc::new(SqliteEventStore::in_memory().unwrap());
    call(store.clone(), &fixture("apigw/post-commission.json")).await;
    let reversal = sample_body("apigw/post-commission-reversal.json");
    call(
        store.clone(),
        &fixture("apigw/post-commission-reversal.json"),
    )
    .await;
    let mut other = reversal.clone();
    other["amount"] = "3.00".into();
    let (status, content_type, problem) = call(
        store.clone(),
        &aimed("apigw/post-commission-reversal.json", "c-9001", &other),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (409, "application/problem+json"),
        "{problem}"
    );
    assert_eq!(problem["type"], "/problems/conflict");
    assert_eq!(event_count(&*store).await, 2);
}

#[tokio::test]
async fn queue_messages_of_changes_fail_alone_and_old_messages_stay_valid() {
    let store = SqliteEventStore::in_memory().unwrap();
    let response = handle_sqs(&store, sqs("sqs/commissions-batch.json")).await;
    assert_eq!(response.batch_item_failures.len(), 2);
    assert_eq!(event_count(&store).await, 2);
    let response = handle_sqs(&store, sqs("sqs/commission-changes-batch.json")).await;
    assert_eq!(
        failed(&response),
        vec![
            "059f36b4-87a3-44ab-83d2-661970000013",
            "059f36b4-87a3-44ab-83d2-661970000014"
        ],
        "the reversal of an unknown commission and the one in another currency"
    );
    assert_eq!(event_count(&store).await, 5);
    // Redelivered: the good ones are acknowledged again, nothing doubles.
    let response = handle_sqs(&store, sqs("sqs/commission-changes-batch.json")).await;
    assert_eq!(response.batch_item_failures.len(), 2);
    assert_eq!(event_count(&store).await, 5);
    store.project_ledger(100).await.unwrap();
    let balance = |affiliate: &str, currency: &str| {
        let store = store.clone();
        let affiliate = ledger_domain::AffiliateId::new(affiliate).unwrap();
        let currency = currency.to_owned();
        async move {
            store
                .affiliate_balance(
                    &ledger_domain::TenantId::new("acme").unwrap(),
                    &affiliate,
                    &currency,
                )
                .await
                .unwrap()
                .unwrap()
                .fields["pending"]
        }
    };
    assert_eq!(
        balance("aff-anna", "EUR").await,
        -1040,
        "3.10 - 1.10 + 8.40"
    );
    assert_eq!(balance("aff-ben", "JPY").await, -200, "250 - 50");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_changes_work_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let tables = event_store_dynamodb::schema::Tables::with_prefix("changes-");
    let store = Arc::new(event_store_dynamodb::DynamoEventStore::from_config(
        &emulator.sdk_config(),
        tables.clone(),
        None,
    ));
    event_store_dynamodb::schema::create_tables(store.client(), &tables)
        .await
        .unwrap();
    refund_and_adjust(store.clone()).await;
    // More than remains: refused, nothing written.
    let mut greedy = sample_body("apigw/post-commission-reversal.json");
    greedy["amount"] = "7.26".into();
    let mut event = aimed("apigw/post-commission-reversal.json", "c-9001", &greedy);
    event["headers"]["idempotency-key"] = "greedy".into();
    let (status, _, problem) = call(store.clone(), &event).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "amount");
    assert_eq!(event_count(&*store).await, 3);
    handle_sqs(&*store, sqs("sqs/commissions-batch.json")).await;
    let response = handle_sqs(&*store, sqs("sqs/commission-changes-batch.json")).await;
    assert_eq!(response.batch_item_failures.len(), 2);
    let response = handle_sqs(&*store, sqs("sqs/commission-changes-batch.json")).await;
    assert_eq!(response.batch_item_failures.len(), 2);
    let balances = ledger_app::rebuild_balances(&*store).await.unwrap();
    let pending = |affiliate: &str, currency| {
        balances
            .affiliate(
                &ledger_domain::TenantId::new("acme").unwrap(),
                &ledger_domain::AffiliateId::new(affiliate).unwrap(),
                currency,
            )
            .unwrap()
            .pending
            .amount_minor()
    };
    assert_eq!(
        pending("aff-anna", ledger_domain::Currency::EUR),
        725 + 1040
    );
    assert_eq!(pending("aff-ben", ledger_domain::Currency::JPY), 200);
}
