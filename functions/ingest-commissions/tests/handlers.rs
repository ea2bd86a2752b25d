//! The ingest handlers with the sample events of `events/`, on the embedded
//! store (a real SQLite file) and on DynamoDB (the emulator).

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

fn with_body(mut event: Value, body: &str) -> Value {
    event["body"] = Value::String(body.to_owned());
    event
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
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, content_type, body)
}

fn sqlite() -> SqliteEventStore {
    SqliteEventStore::in_memory().unwrap()
}

async fn event_count<S: EventStore>(store: &S) -> usize {
    store.read_all(None, 1000).await.unwrap().events.len()
}

#[tokio::test]
async fn a_commission_is_recorded_and_a_retry_is_acknowledged() {
    let store = Arc::new(sqlite());
    let event = fixture("apigw/post-commission.json");
    let (status, _, body) = call(store.clone(), &event).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["results"][0],
        json!({"commission_id": "c-9001", "status": "recorded", "stream": "acme/commission/c-9001", "version": 1})
    );
    let (status, _, body) = call(store.clone(), &event).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"][0]["status"], "duplicate");
    assert_eq!(event_count(&*store).await, 1);
    // The projection shows it pending for the tenant of the token.
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
    assert_eq!(row.fields["pending"], -1250);
}

#[tokio::test]
async fn bulk_bodies_land_together() {
    let store = Arc::new(sqlite());
    let (status, _, body) = call(store.clone(), &fixture("apigw/post-commissions-bulk.json")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 4);
    assert_eq!(event_count(&*store).await, 4);
}

#[tokio::test]
async fn the_same_commission_with_other_facts_is_a_conflict() {
    let store = Arc::new(sqlite());
    let event = fixture("apigw/post-commission.json");
    call(store.clone(), &event).await;
    let changed = with_body(
        event.clone(),
        &event["body"].as_str().unwrap().replace("12.50", "13.50"),
    );
    let (status, content_type, body) = call(store.clone(), &changed).await;
    assert_eq!(
        (status, content_type.as_str()),
        (409, "application/problem+json")
    );
    assert_eq!(body["type"], "/problems/conflict");
    assert_eq!(event_count(&*store).await, 1);
}

/// Each bad input: status, the field named, and nothing written.
#[tokio::test]
async fn bad_input_gets_a_problem_naming_the_field_and_nothing_is_written() {
    let base = fixture("apigw/post-commission.json");
    let body: Value = serde_json::from_str(base["body"].as_str().unwrap()).unwrap();
    let with = |field: &str, value: Value| {
        let mut b = body.clone();
        b[field] = value;
        with_body(base.clone(), &b.to_string())
    };
    let mut no_key = base.clone();
    no_key["headers"]
        .as_object_mut()
        .unwrap()
        .remove("idempotency-key");
    let mut wrong_type = base.clone();
    wrong_type["headers"]["content-type"] = "text/plain".into();
    let huge = with_body(
        base.clone(),
        &format!(
            "{{\"commissions\": [{}]}}",
            vec![body.to_string(); 2000].join(",")
        ),
    );
    let too_many: Vec<Value> = (0..101)
        .map(|i| {
            let mut b = body.clone();
            b["commission_id"] = format!("c-{i}").into();
            b
        })
        .collect();
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "wrong JSON",
            with_body(base.clone(), "{\"commission_id\": "),
            400,
            "",
        ),
        (
            "unknown currency",
            with("currency", "EURO".into()),
            422,
            "currency",
        ),
        (
            "too many decimals",
            with("amount", "12.505".into()),
            422,
            "amount",
        ),
        (
            "yen decimals",
            {
                let mut b = body.clone();
                b["currency"] = "JPY".into();
                b["amount"] = "10.5".into();
                with_body(base.clone(), &b.to_string())
            },
            422,
            "amount",
        ),
        ("negative", with("amount", "-5.00".into()), 422, "amount"),
        ("zero", with("amount", "0".into()), 422, "amount"),
        ("float amount", with("amount", json!(12.5)), 422, "amount"),
        ("NaN", with("amount", "NaN".into()), 422, "amount"),
        (
            "bad id",
            with("affiliate_id", "aff anna".into()),
            422,
            "affiliate_id",
        ),
        (
            "missing field",
            {
                let mut b = body.clone();
                b.as_object_mut().unwrap().remove("conversion_id");
                with_body(base.clone(), &b.to_string())
            },
            422,
            "conversion_id",
        ),
        (
            "unknown field",
            with("tenant_id", "globex".into()),
            422,
            "tenant_id",
        ),
        (
            "hold too long",
            with("hold_period_days", json!(400)),
            422,
            "hold_period_days",
        ),
        (
            "future",
            with("occurred_at", "2099-01-01T00:00:00Z".into()),
            422,
            "occurred_at",
        ),
        ("no idempotency key", no_key, 400, "Idempotency-Key"),
        ("not JSON media type", wrong_type, 415, "Content-Type"),
        ("body over the limit", huge, 413, "body"),
        (
            "bulk over the limit",
            with_body(base.clone(), &json!({"commissions": too_many}).to_string()),
            422,
            "commissions",
        ),
    ];
    for (name, event, status, field) in cases {
        let store = Arc::new(sqlite());
        let (got, content_type, problem) = call(store.clone(), &event).await;
        assert_eq!(got, status, "{name}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{name}");
        assert!(
            problem["type"].as_str().unwrap().starts_with("/problems/"),
            "{name}"
        );
        if !field.is_empty() {
            let named = problem["errors"].as_array().is_some_and(|errors| {
                errors.iter().any(|e| {
                    e["field"].as_str().unwrap().ends_with(field)
                        && !e["rule"].as_str().unwrap().is_empty()
                })
            });
            assert!(named, "{name}: {problem}");
        }
        assert_eq!(event_count(&*store).await, 0, "{name}: nothing is written");
    }
}

#[tokio::test]
async fn one_bad_item_of_a_bulk_writes_nothing() {
    let store = Arc::new(sqlite());
    let mut event = fixture("apigw/post-commissions-bulk.json");
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["commissions"][2]["amount"] = "19.999".into();
    event["body"] = body.to_string().into();
    let (status, _, problem) = call(store.clone(), &event).await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["field"], "commissions[2].amount");
    assert!(
        problem["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("USD allows at most 2"),
        "{problem}"
    );
    assert_eq!(event_count(&*store).await, 0);
}

#[tokio::test]
async fn identity_comes_from_the_verified_claims_only() {
    let base = fixture("apigw/post-commission.json");
    let mut no_claims = base.clone();
    no_claims["requestContext"]["authorizer"] = Value::Null;
    let mut no_role = base.clone();
    no_role["requestContext"]["authorizer"]["jwt"]["claims"]["roles"] = "finance-maker".into();
    for (event, status) in [(no_claims, 401), (no_role, 403)] {
        let store = Arc::new(sqlite());
        let (got, content_type, _) = call(store.clone(), &event).await;
        assert_eq!(
            (got, content_type.as_str()),
            (status, "application/problem+json")
        );
        assert_eq!(event_count(&*store).await, 0);
    }
    // The tenant of the token decides the stream, whatever the body says.
    let mut globex = base.clone();
    globex["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] = "globex".into();
    let store = Arc::new(sqlite());
    let (_, _, body) = call(store.clone(), &globex).await;
    assert_eq!(body["results"][0]["stream"], "globex/commission/c-9001");
}

#[tokio::test]
async fn sqs_reports_only_the_bad_messages_as_failed() {
    let store = sqlite();
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(fixture("sqs/commissions-batch.json")).unwrap();
    let response = handle_sqs(&store, event.clone()).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        vec![
            "059f36b4-87a3-44ab-83d2-661970000002",
            "059f36b4-87a3-44ab-83d2-661970000003"
        ]
    );
    assert_eq!(event_count(&store).await, 2);
    // Redelivery of the whole batch: the good ones are acknowledged again, nothing doubles.
    let response = handle_sqs(&store, event).await;
    assert_eq!(response.batch_item_failures.len(), 2);
    assert_eq!(event_count(&store).await, 2);
}

#[tokio::test]
async fn the_same_handlers_work_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let tables = event_store_dynamodb::schema::Tables::with_prefix("ingest-");
    let store = Arc::new(event_store_dynamodb::DynamoEventStore::from_config(
        &emulator.sdk_config(),
        tables.clone(),
        None,
    ));
    event_store_dynamodb::schema::create_tables(store.client(), &tables)
        .await
        .unwrap();
    let (status, _, body) = call(store.clone(), &fixture("apigw/post-commissions-bulk.json")).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = call(store.clone(), &fixture("apigw/post-commissions-bulk.json")).await;
    assert_eq!(status, 200, "{body}");
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(fixture("sqs/commissions-batch.json")).unwrap();
    assert_eq!(
        handle_sqs(&*store, event).await.batch_item_failures.len(),
        2
    );
    // Balances rebuilt from what DynamoDB holds.
    let balances = ledger_app::rebuild_balances(&*store).await.unwrap();
    let view = balances
        .affiliate(
            &ledger_domain::TenantId::new("acme").unwrap(),
            &ledger_domain::AffiliateId::new("aff-ben").unwrap(),
            ledger_domain::Currency::EUR,
        )
        .unwrap();
    assert_eq!(view.pending.amount_minor(), 700);
    assert_eq!(balances.entries_applied(), 6);
}

/// Posts the same request (same key, same body without `occurred_at`, so
/// each request stamps its own effective time) `concurrent` times at once,
/// in `rounds` rounds of one new commission each, and checks the answers:
/// one recorded, every other one a duplicate with the original result.
async fn concurrent_identical_posts<S: EventStore + 'static>(
    store: Arc<S>,
    rounds: usize,
    concurrent: usize,
) {
    let app = router(Arc::new(AppState {
        store: store.clone(),
        tenant_claim: "tenant_id".into(),
    }));
    let base = fixture("apigw/post-commission.json");
    let mut conflicts = 0;
    for round in 0..rounds {
        let mut event = with_body(
            base.clone(),
            &json!({"commission_id": format!("c-race-{round}"), "affiliate_id": "aff-anna",
                    "amount": "12.50", "currency": "EUR", "conversion_id": format!("conv-race-{round}")})
            .to_string(),
        );
        event["headers"]["idempotency-key"] = format!("race-{round}").into();
        let mut tasks = Vec::new();
        for _ in 0..concurrent {
            let (app, request) = (app.clone(), request(&event));
            tasks.push(tokio::spawn(async move {
                let response = app.oneshot(request).await.unwrap();
                let status = response.status().as_u16();
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                (status, serde_json::from_slice::<Value>(&bytes).unwrap())
            }));
        }
        let mut recorded = Vec::new();
        let mut duplicates = Vec::new();
        for task in tasks {
            let (status, body) = task.await.unwrap();
            match status {
                201 => recorded.push(body),
                200 => duplicates.push(body),
                409 => conflicts += 1,
                other => panic!("round {round}: unexpected {other}: {body}"),
            }
        }
        assert_eq!(
            (recorded.len(), duplicates.len()),
            (1, concurrent - 1),
            "round {round}: one recorded, the rest duplicates ({conflicts} conflicts so far)"
        );
        let original = &recorded[0]["results"][0];
        assert_eq!(original["status"], "recorded");
        for duplicate in &duplicates {
            let result = &duplicate["results"][0];
            assert_eq!(result["status"], "duplicate", "{duplicate}");
            assert_eq!(
                (&result["stream"], &result["version"]),
                (&original["stream"], &original["version"]),
                "the original result"
            );
        }
    }
    assert_eq!(conflicts, 0);
    let raced = store
        .read_all(None, 1000)
        .await
        .unwrap()
        .events
        .iter()
        .filter(|e| e.stream.as_str().starts_with("acme/commission/c-race-"))
        .count();
    assert_eq!(raced, rounds, "one event per round");
}

/// Concurrent identical retries are answered as duplicates, never as a 409
/// (16 at once, 12 rounds, on the embedded store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_retries_are_duplicates_not_conflicts() {
    concurrent_identical_posts(Arc::new(sqlite()), 12, 16).await;
}

/// The same on DynamoDB (the emulator): 8 at once, 3 rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_retries_are_duplicates_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let tables = event_store_dynamodb::schema::Tables::with_prefix("ingest-race-");
    let store = Arc::new(event_store_dynamodb::DynamoEventStore::from_config(
        &emulator.sdk_config(),
        tables.clone(),
        None,
    ));
    event_store_dynamodb::schema::create_tables(store.client(), &tables)
        .await
        .unwrap();
    concurrent_identical_posts(store, 3, 8).await;
}

/// The key is the request's: the same key for another commission is a 409
/// and writes nothing; the same key in another tenant is another request;
/// the same commission under another key is a duplicate, not a conflict.
#[tokio::test]
async fn the_same_key_for_another_commission_is_a_conflict() {
    let store = Arc::new(sqlite());
    let event = fixture("apigw/post-commission.json");
    let (status, _, _) = call(store.clone(), &event).await;
    assert_eq!(status, 201);
    let other = with_body(
        event.clone(),
        &event["body"].as_str().unwrap().replace("c-9001", "c-9002"),
    );
    let (status, content_type, body) = call(store.clone(), &other).await;
    assert_eq!(
        (status, content_type.as_str()),
        (409, "application/problem+json"),
        "{body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("Idempotency-Key"),
        "{body}"
    );
    assert_eq!(event_count(&*store).await, 1, "nothing written");
    let mut globex = other.clone();
    globex["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] = "globex".into();
    let (status, _, body) = call(store.clone(), &globex).await;
    assert_eq!(status, 201, "{body}");
    let mut another_key = event.clone();
    another_key["headers"]["idempotency-key"] = "conv-9f2c-again".into();
    let (status, _, body) = call(store.clone(), &another_key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["status"], "duplicate");
    // That key is now taken by its request too.
    let reused = with_body(
        another_key.clone(),
        &event["body"].as_str().unwrap().replace("c-9001", "c-9003"),
    );
    assert_eq!(call(store.clone(), &reused).await.0, 409);
    assert_eq!(event_count(&*store).await, 2);
}
