//! The tenant's affiliate list (filters, sorting, paging, tenant scope) and
//! an affiliate's journal as CSV (every line, formula-guarded, never across
//! tenants), on the embedded store and on DynamoDB.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use chrono::{DateTime, Duration, TimeZone, Utc};
use event_store::EventStore;
use event_store_sqlite::SqliteEventStore;
use http_body_util::BodyExt;
use ledger_api::{ApiReads, ApiState, router};
use ledger_app::run_commission;
use ledger_domain::money::currency_from_code;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, CommissionCommand, CommissionId, HoldReason,
    Money, ProfileChange, TenantId,
};
use serde_json::{Value, json};
use tower::ServiceExt;

fn fixture() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/apigw/list-payout-batches.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A GET of `path?query` as finance (`[finance-maker admin]`) of `tenant`.
fn get(path: &str, query: &str, tenant: &str) -> Value {
    let mut event = fixture();
    event["rawPath"] = path.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["rawQueryString"] = query.into();
    event["queryStringParameters"] = Value::Null;
    event["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] = tenant.into();
    event
}

fn with_claims(mut event: Value, claims: Value) -> Value {
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
    event
}

#[derive(Clone)]
struct Ledger {
    reads: Arc<dyn ApiReads>,
    events: Arc<dyn EventStore>,
}

async fn send_raw(store: &Ledger, event: &Value) -> (u16, Vec<(String, String)>, Vec<u8>) {
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
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, bytes.to_vec())
}

async fn send(store: &Ledger, event: &Value) -> (u16, Value) {
    let (status, _, bytes) = send_raw(store, event).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

fn ctx(tenant: &TenantId, actor: &str, at: DateTime<Utc>) -> CommandContext {
    CommandContext {
        tenant_id: tenant.clone(),
        actor: Actor::new(ActorKind::User, actor).unwrap(),
        now: at,
        effective_at: at,
    }
}

/// Records a commission; matured a day later unless `pending`.
async fn earn<S: EventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    affiliate: &str,
    minor: i64,
    currency: &str,
    pending: bool,
) {
    let commission_id = CommissionId::new(format!("c-{affiliate}-{currency}-{minor}")).unwrap();
    let amount = Money::from_minor(minor, currency_from_code(currency).unwrap()).unwrap();
    let mut commands = vec![(
        CommissionCommand::Record {
            commission_id: commission_id.clone(),
            affiliate_id: AffiliateId::new(affiliate).unwrap(),
            amount,
            hold_period_days: if pending { 30 } else { 0 },
            source_conversion_id: format!("conv-{affiliate}"),
            order_reference: None,
        },
        t0(),
    )];
    if !pending {
        commands.push((CommissionCommand::Mature, t0() + Duration::days(1)));
    }
    for (command, at) in commands {
        run_commission(
            store,
            &commission_id,
            command,
            &ctx(tenant, "tracker", at),
            None,
        )
        .await
        .unwrap();
    }
}

async fn populate<S: EventStore + ?Sized>(store: &S) {
    let acme = TenantId::new("acme").unwrap();
    let globex = TenantId::new("globex").unwrap();
    earn(store, &acme, "aff-anna", 4000, "EUR", false).await;
    earn(store, &acme, "aff-ben", 1200, "EUR", false).await;
    earn(store, &acme, "aff-ben", 700, "EUR", true).await;
    earn(store, &acme, "aff-cleo", 500, "USD", false).await;
    earn(store, &acme, "aff-dan", 900, "EUR", true).await;
    earn(store, &globex, "aff-zed", 9900, "EUR", false).await;
    ledger_app::payouts::change_profile(
        store,
        &AffiliateId::new("aff-anna").unwrap(),
        ProfileChange::HoldPlaced {
            reason: HoldReason::KycPending,
            note: "passport expired".into(),
        },
        &ctx(&acme, "u-finance", t0()),
    )
    .await
    .unwrap();
}

fn rows(body: &Value) -> Vec<String> {
    body["affiliates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["affiliate_id"].as_str().unwrap(),
                r["currency"].as_str().unwrap()
            )
        })
        .collect()
}

fn field_named(problem: &Value, field: &str) -> bool {
    problem["errors"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["field"] == field))
}

async fn list(store: &Ledger, query: &str) -> Value {
    let (status, body) = send(store, &get("/v1/affiliates", query, "acme")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

async fn affiliates_filter_sort_and_page_within_the_tenant(store: &Ledger) {
    let body = list(store, "").await;
    assert_eq!(
        rows(&body),
        ["aff-anna/EUR", "aff-ben/EUR", "aff-cleo/USD", "aff-dan/EUR"]
    );
    assert_eq!(body["next"], Value::Null);
    let anna = &body["affiliates"][0];
    assert_eq!(
        anna,
        &json!({"affiliate_id": "aff-anna", "currency": "EUR", "pending": "0.00",
            "available": "40.00", "reserved": "0.00", "receivable": "0.00", "paid_out": "0.00",
            "on_hold": true, "holds": ["kyc_pending"]})
    );
    let ben = &body["affiliates"][1];
    assert_eq!(ben["pending"], "7.00");
    assert_eq!(ben["available"], "12.00");
    assert_eq!(ben["on_hold"], false);
    assert_eq!(ben["holds"], json!([]));

    // Filters.
    assert_eq!(
        rows(&list(store, "currency=EUR").await),
        ["aff-anna/EUR", "aff-ben/EUR", "aff-dan/EUR"]
    );
    assert_eq!(
        rows(&list(store, "currency=EUR&has_available=true").await),
        ["aff-anna/EUR", "aff-ben/EUR"]
    );
    assert_eq!(
        rows(&list(store, "has_available=false").await),
        ["aff-dan/EUR"]
    );
    assert_eq!(rows(&list(store, "on_hold=true").await), ["aff-anna/EUR"]);
    assert_eq!(
        rows(&list(store, "on_hold=false&currency=EUR").await),
        ["aff-ben/EUR", "aff-dan/EUR"]
    );
    assert!(rows(&list(store, "has_receivable=true").await).is_empty());
    assert_eq!(rows(&list(store, "has_receivable=false").await).len(), 4);

    // Sorting.
    assert_eq!(
        rows(&list(store, "sort=available_desc").await),
        ["aff-anna/EUR", "aff-ben/EUR", "aff-cleo/USD", "aff-dan/EUR"]
    );
    assert_eq!(
        rows(&list(store, "sort=available_asc").await),
        ["aff-dan/EUR", "aff-cleo/USD", "aff-ben/EUR", "aff-anna/EUR"]
    );
    assert_eq!(
        rows(&list(store, "sort=pending_desc").await)[..2],
        ["aff-dan/EUR", "aff-ben/EUR"]
    );

    // Paging: every row once, in order.
    let mut seen = Vec::new();
    let mut query = "sort=available_desc&limit=1".to_owned();
    for _ in 0..10 {
        let page = list(store, &query).await;
        seen.extend(rows(&page));
        match page["next"].as_str() {
            Some(next) => query = format!("sort=available_desc&limit=1&after={next}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["aff-anna/EUR", "aff-ben/EUR", "aff-cleo/USD", "aff-dan/EUR"]
    );

    // Refused input names its field.
    for (query, field) in [
        ("limit=51", "limit"),
        ("limit=0", "limit"),
        ("sort=richest", "sort"),
        ("on_hold=yes", "on_hold"),
        ("has_available=1", "has_available"),
        ("has_receivable=", "has_receivable"),
        ("currency=EURO", "currency"),
        ("after=zz", "after"),
    ] {
        let (status, problem) = send(store, &get("/v1/affiliates", query, "acme")).await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert!(field_named(&problem, field), "{query}: {problem}");
    }

    // Another tenant sees only its own; affiliates may not list.
    let (status, body) = send(store, &get("/v1/affiliates", "", "globex")).await;
    assert_eq!(status, 200);
    assert_eq!(rows(&body), ["aff-zed/EUR"]);
    let affiliate = with_claims(
        get("/v1/affiliates", "", "acme"),
        json!({"sub": "u-anna", "tenant_id": "acme", "roles": "affiliate", "affiliate_id": "aff-anna"}),
    );
    assert_eq!(send(store, &affiliate).await.0, 403);
}

fn records(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::Reader::from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

async fn the_journal_exports_as_csv_and_never_across_tenants(store: &Ledger) {
    let path = "/v1/affiliates/aff-ben/journal/export.csv";
    let (status, headers, bytes) = send_raw(store, &get(path, "currency=EUR", "acme")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert!(header(&headers, "content-disposition").is_some_and(|d| d.starts_with("attachment")));
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with(
        "effective_at,event_type,stream,version,currency,pending,available,reserved,receivable,paid_out\n"
    ));
    let lines = records(&bytes);
    // Two commissions recorded, one matured.
    assert_eq!(lines.len(), 3, "{text}");
    let types: Vec<&str> = lines.iter().map(|l| l[1].as_str()).collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "commission.recorded")
            .count(),
        2
    );
    assert_eq!(
        types.iter().filter(|t| **t == "commission.matured").count(),
        1
    );
    let matured = lines.iter().find(|l| l[1] == "commission.matured").unwrap();
    assert_eq!(matured[4], "EUR");
    // Pending to available: amounts are signed decimals, not text.
    assert_eq!(matured[5], "-12.00");
    assert_eq!(matured[6], "12.00");
    assert!(matured[2].starts_with("acme/"));

    // The affiliate exports its own; never another's, nor another tenant's.
    let as_ben = json!({"sub": "u-ben", "tenant_id": "acme", "roles": "affiliate", "affiliate_id": "aff-ben"});
    let own = with_claims(get(path, "currency=EUR", "acme"), as_ben.clone());
    assert_eq!(send_raw(store, &own).await.0, 200);
    let other = with_claims(
        get(
            "/v1/affiliates/aff-anna/journal/export.csv",
            "currency=EUR",
            "acme",
        ),
        as_ben,
    );
    assert_eq!(send_raw(store, &other).await.0, 403);
    let (status, _, bytes) = send_raw(
        store,
        &get(
            "/v1/affiliates/aff-zed/journal/export.csv",
            "currency=EUR",
            "acme",
        ),
    )
    .await;
    // Another tenant's affiliate is unknown here: refused, nothing leaks.
    assert_eq!(status, 404);
    let problem: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(!problem.to_string().contains("99.00"));

    for query in ["", "currency=EURO"] {
        let (status, problem) = send(store, &get(path, query, "acme")).await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert!(field_named(&problem, "currency"), "{problem}");
    }
}

/// A text cell that a spreadsheet would run is guarded by the export's
/// cell writer; amounts stay numbers.
fn formula_text_is_guarded_in_the_journal_export() {
    assert_eq!(
        ledger_api::finance::text_cell("=cmd|' /C calc'!A0"),
        "'=cmd|' /C calc'!A0"
    );
    assert_eq!(
        ledger_api::finance::text_cell("acme/commission/c-1"),
        "acme/commission/c-1"
    );
}

#[tokio::test]
async fn affiliate_reads_on_the_embedded_store() {
    let store = Arc::new(SqliteEventStore::in_memory().unwrap());
    populate(&*store).await;
    store.project_ledger(10_000).await.unwrap();
    let store = Ledger {
        reads: store.clone(),
        events: store,
    };
    affiliates_filter_sort_and_page_within_the_tenant(&store).await;
    the_journal_exports_as_csv_and_never_across_tenants(&store).await;
    formula_text_is_guarded_in_the_journal_export();
}

#[tokio::test]
async fn affiliate_reads_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let (events, projection) =
        event_store_dynamodb::ledger_on_dynamodb(&emulator.sdk_config(), "aff-")
            .await
            .unwrap();
    populate(&events).await;
    let mut after = None;
    loop {
        let page = events.read_all(after.as_ref(), 1000).await.unwrap();
        if page.events.is_empty() {
            break;
        }
        projection.project(&page.events).await.unwrap();
        after = Some(page.next);
    }
    let store = Ledger {
        reads: Arc::new(projection),
        events: Arc::new(events),
    };
    affiliates_filter_sort_and_page_within_the_tenant(&store).await;
    the_journal_exports_as_csv_and_never_across_tenants(&store).await;
}
