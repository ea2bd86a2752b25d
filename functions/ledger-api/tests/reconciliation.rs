//! Reconciliation mismatches as the reconcile function records them, read
//! and resolved through the API on the embedded store and on DynamoDB:
//! newest run first, open then resolved, once only, never across tenants.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use chrono::Utc;
use event_store::EventStore;
use event_store_sqlite::SqliteEventStore;
use file_store::FileStore;
use http_body_util::BodyExt;
use ledger_api::{ApiReads, ApiState, router};
use ledger_domain::{Processor, TenantId};
use reporting::fixture::{paid_batch, sample_day, sample_items, sample_mismatches};
use reporting::reconcile::reconcile_report_with;
use serde_json::{Value, json};
use tower::ServiceExt;

fn fixture() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/apigw/list-payout-batches.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A request as finance (`[finance-maker admin]`) of `tenant`.
fn request(method: &str, path: &str, query: &str, tenant: &str, body: Option<Value>) -> Value {
    let mut event = fixture();
    event["rawPath"] = path.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["rawQueryString"] = query.into();
    event["queryStringParameters"] = Value::Null;
    event["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] = tenant.into();
    if let Some(body) = body {
        event["body"] = body.to_string().into();
        event["isBase64Encoded"] = false.into();
        event["headers"]["content-type"] = "application/json".into();
    }
    event
}

#[derive(Clone)]
struct Ledger {
    reads: Arc<dyn ApiReads>,
    events: Arc<dyn EventStore>,
}

async fn send(store: &Ledger, event: &Value) -> (u16, Value) {
    let app = router(Arc::new(ApiState {
        reads: store.reads.clone(),
        events: store.events.clone(),
        tenant_claim: "tenant_id".into(),
        queue: Arc::new(ledger_app::payouts::MemoryQueue::default()),
        limits: ledger_domain::ApprovalLimits::default(),
        reports: None,
    }));
    let request =
        lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event");
    let (parts, body) = request.into_parts();
    let request = axum::http::Request::from_parts(parts, Body::from(body.to_vec()));
    let response = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Pays a sample batch and reconciles the Stripe sample report against it:
/// the mismatches the reconcile function records, where the API reads them.
async fn populate(store: &SqliteEventStore) {
    let acme = TenantId::new("acme").unwrap();
    let processor = Processor::Stripe;
    paid_batch(
        store,
        &acme,
        processor,
        &sample_items(processor),
        sample_day(),
    )
    .await
    .unwrap();
}

async fn reconcile(store: &SqliteEventStore) {
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/reports/stripe-balance-change-from-activity.csv"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = FileStore::Directory(dir.path().to_owned());
    for _ in 0..2 {
        // Twice: the same report records its mismatches and its run once.
        reconcile_report_with(
            &processors::ProcessorReports,
            store,
            store,
            &files,
            "reports/acme/stripe/2026-11.csv",
            &bytes,
            Utc::now(),
        )
        .await
        .unwrap();
    }
}

fn field_named(problem: &Value, field: &str) -> bool {
    problem["errors"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["field"] == field))
}

async fn mismatches_resolve_once_within_the_tenant(store: &Ledger) {
    let expected = sample_mismatches().len();
    let (status, body) = send(
        store,
        &request("GET", "/v1/reconciliation/mismatches", "", "acme", None),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let all = body["mismatches"].as_array().unwrap().clone();
    assert_eq!(all.len(), expected, "{body}");
    assert_eq!(body["next"], Value::Null);
    let first = &all[0];
    assert_eq!(first["status"], "open");
    assert_eq!(first["resolution"], Value::Null);
    assert_eq!(first["processor"], "stripe");
    assert_eq!(first["report"], "reports/acme/stripe/2026-11.csv");
    let mut kinds: Vec<&str> = all.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    kinds.sort();
    let mut want: Vec<&str> = sample_mismatches().iter().map(|(k, _)| *k).collect();
    want.sort();
    assert_eq!(kinds, want);

    // Paging: every mismatch once.
    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    for _ in 0..20 {
        let (status, page) = send(
            store,
            &request("GET", "/v1/reconciliation/mismatches", &query, "acme", None),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["mismatches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].clone()),
        );
        match page["next"].as_str() {
            Some(next) => query = format!("limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        all.iter().map(|m| m["id"].clone()).collect::<Vec<_>>()
    );

    let id = first["id"].as_str().unwrap();
    let path = format!("/v1/reconciliation/mismatches/{id}/resolve");
    let note = json!({"note": "matched manually to bank line 12"});

    // Bad notes, unknown ids and other tenants are refused.
    for bad in [json!({"note": ""}), json!({"note": "x".repeat(501)})] {
        let (status, problem) = send(store, &request("POST", &path, "", "acme", Some(bad))).await;
        assert_eq!(status, 400, "{problem}");
        assert!(field_named(&problem, "note"), "{problem}");
    }
    // A body that is not JSON, or JSON of the wrong shape, names the field.
    for (body, expected) in [
        (r#"{"note": }"#, (400, "/problems/malformed-json")),
        (r#"{"note": 12}"#, (422, "/problems/validation")),
        (r#"{"notes": "x"}"#, (422, "/problems/validation")),
    ] {
        let mut event = request("POST", &path, "", "acme", Some(json!({})));
        event["body"] = body.into();
        let (status, problem) = send(store, &event).await;
        assert_eq!(
            (status, problem["type"].as_str().unwrap_or_default()),
            expected,
            "{body}: {problem}"
        );
        let field = if body.contains("notes") {
            "notes"
        } else {
            "note"
        };
        assert!(field_named(&problem, field), "{body}: {problem}");
    }
    let mut plain = request("POST", &path, "", "acme", Some(note.clone()));
    plain["headers"]["content-type"] = "text/plain".into();
    assert_eq!(send(store, &plain).await.0, 415);
    let (status, _) = send(
        store,
        &request("POST", &path, "", "globex", Some(note.clone())),
    )
    .await;
    assert_eq!(status, 404);
    for unknown in ["nope~1", "nope", "x~0"] {
        let (status, problem) = send(
            store,
            &request(
                "POST",
                &format!("/v1/reconciliation/mismatches/{unknown}/resolve"),
                "",
                "acme",
                Some(note.clone()),
            ),
        )
        .await;
        assert_eq!(status, 404, "{unknown}: {problem}");
    }

    // Open, then resolved by the verified subject, once.
    let (status, resolved) = send(
        store,
        &request("POST", &path, "", "acme", Some(note.clone())),
    )
    .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["id"], id);
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(
        resolved["resolution"]["note"],
        "matched manually to bank line 12"
    );
    let subject = fixture()["requestContext"]["authorizer"]["jwt"]["claims"]["sub"].clone();
    assert_eq!(resolved["resolution"]["by"], subject);
    assert!(
        resolved["resolution"]["at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let (status, problem) = send(store, &request("POST", &path, "", "acme", Some(note))).await;
    assert_eq!(status, 409, "{problem}");

    let (_, open) = send(
        store,
        &request(
            "GET",
            "/v1/reconciliation/mismatches",
            "status=open",
            "acme",
            None,
        ),
    )
    .await;
    assert_eq!(open["mismatches"].as_array().unwrap().len(), expected - 1);
    let (_, done) = send(
        store,
        &request(
            "GET",
            "/v1/reconciliation/mismatches",
            "status=resolved",
            "acme",
            None,
        ),
    )
    .await;
    assert_eq!(done["mismatches"].as_array().unwrap().len(), 1);
    assert_eq!(done["mismatches"][0]["id"], id);
    let (status, problem) = send(
        store,
        &request(
            "GET",
            "/v1/reconciliation/mismatches",
            "status=closed",
            "acme",
            None,
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(field_named(&problem, "status"));
    let (status, problem) = send(
        store,
        &request(
            "GET",
            "/v1/reconciliation/mismatches",
            "limit=51",
            "acme",
            None,
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(field_named(&problem, "limit"));

    // Runs with their counts; another tenant has none.
    let (status, runs) = send(
        store,
        &request("GET", "/v1/reconciliation/runs", "", "acme", None),
    )
    .await;
    assert_eq!(status, 200, "{runs}");
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs["runs"][0]["open"], expected - 1);
    assert_eq!(runs["runs"][0]["resolved"], 1);
    let (_, other) = send(
        store,
        &request("GET", "/v1/reconciliation/runs", "", "globex", None),
    )
    .await;
    assert_eq!(other["runs"], json!([]));
    let (_, other) = send(
        store,
        &request("GET", "/v1/reconciliation/mismatches", "", "globex", None),
    )
    .await;
    assert_eq!(other["mismatches"], json!([]));
}

#[tokio::test]
async fn reconciliation_on_the_embedded_store() {
    let store = Arc::new(SqliteEventStore::in_memory().unwrap());
    populate(&store).await;
    while store.project_ledger(10_000).await.unwrap().events > 0 {}
    reconcile(&store).await;
    let ledger = Ledger {
        reads: store.clone(),
        events: store,
    };
    mismatches_resolve_once_within_the_tenant(&ledger).await;
}
