//! Finance reads on the embedded store and on DynamoDB: the batch list (drafted first,
//! paged, tenant-scoped), the batch and liability CSV exports (quoted,
//! formula-guarded), and liabilities now and as of a past instant.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use chrono::{DateTime, Duration, TimeZone, Utc};
use event_store::EventStore;
use event_store_sqlite::SqliteEventStore;
use http_body_util::BodyExt;
use ledger_api::{ApiReads, ApiState, router};
use ledger_app::payouts::{draft_batch, drafts_sequence};
use ledger_app::{run_commission, run_payout_batch};
use ledger_domain::events::{Destination, DraftedItem};
use ledger_domain::money::currency_from_code;
use ledger_domain::payout::PayoutBatchCommand;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, CommissionCommand, CommissionId, Money,
    PayoutBatchId, PayoutItemId, Processor, TenantId,
};
use reporting::fixture::{Ends, FixtureItem, paid_batch};
use serde_json::{Value, json};
use tower::ServiceExt;

const EVIL: &str = "=HYPERLINK(\"http://evil.example\",\"x\")";

fn fixture() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/apigw/list-payout-batches.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A GET of `path?query` with the fixture's authorizer payload (user pool
/// groups `[finance-maker admin]`), for `tenant`.
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

/// The ledger the API reads: its projection and its events.
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

fn money(minor: i64, currency: &str) -> Money {
    Money::from_minor(minor, currency_from_code(currency).unwrap()).unwrap()
}

/// Earns (on `t0`) and matures (a day later) a commission.
async fn earn<S: EventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    affiliate: &str,
    amount: Money,
) {
    let commission_id = CommissionId::new(format!("c-{affiliate}")).unwrap();
    for (command, at) in [
        (
            CommissionCommand::Record {
                commission_id: commission_id.clone(),
                affiliate_id: AffiliateId::new(affiliate).unwrap(),
                amount,
                hold_period_days: 0,
                source_conversion_id: format!("conv-{affiliate}"),
                order_reference: None,
            },
            t0(),
        ),
        (CommissionCommand::Mature, t0() + Duration::days(1)),
    ] {
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

/// Drafts one batch (by `maria`, on the third day) of the given items,
/// each earned first.
async fn draft<S: EventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    items: &[(&str, Money, &str)],
) -> PayoutBatchId {
    let sequence = drafts_sequence(store, tenant).await.unwrap();
    let batch_id = PayoutBatchId::new(format!("pb-{:06}", sequence + 1)).unwrap();
    let mut drafted = Vec::new();
    for (n, (affiliate, amount, masked)) in items.iter().enumerate() {
        earn(store, tenant, affiliate, *amount).await;
        drafted.push(DraftedItem {
            item_id: PayoutItemId::new(format!("{batch_id}.{}", n + 1)).unwrap(),
            affiliate_id: AffiliateId::new(*affiliate).unwrap(),
            amount: *amount,
            receivable_netted: amount.zero_like(),
            processor: Processor::Sandbox,
            destination: Some(Destination {
                masked: (*masked).to_owned(),
                fingerprint: "ab".repeat(32),
                account_fingerprint: "cd".repeat(32),
            }),
        });
    }
    draft_batch(
        store,
        &ctx(tenant, "maria", t0() + Duration::days(2)),
        &batch_id,
        drafted,
        sequence,
    )
    .await
    .unwrap();
    batch_id
}

/// acme: pb-000001 drafted (EUR, two items), pb-000002 rejected,
/// pb-000003 approved and paid, pb-000004 drafted (USD); globex: its own
/// pb-000001, drafted.
async fn populate<S: EventStore + ?Sized>(store: &S) {
    let acme = TenantId::new("acme").unwrap();
    let globex = TenantId::new("globex").unwrap();
    draft(
        store,
        &acme,
        &[
            ("aff-anna", money(2500, "EUR"), EVIL),
            (
                "aff-ben",
                money(1000, "EUR"),
                "sepa DE** **** 3000, \"Ben\"",
            ),
        ],
    )
    .await;
    let rejected = draft(store, &acme, &[("aff-cleo", money(500, "EUR"), "sandbox")]).await;
    run_payout_batch(
        store,
        &rejected,
        PayoutBatchCommand::Reject {
            reason: "wrong run".into(),
        },
        &ctx(&acme, "omar", t0() + Duration::days(2)),
        None,
    )
    .await
    .unwrap();
    paid_batch(
        store,
        &acme,
        Processor::Sandbox,
        &[FixtureItem {
            affiliate: "aff-dan".into(),
            amount: money(4000, "EUR"),
            ends: Ends::Paid("sb-1".into()),
        }],
        t0(),
    )
    .await
    .unwrap();
    draft(store, &acme, &[("aff-eve", money(700, "USD"), "sandbox")]).await;
    draft(
        store,
        &globex,
        &[("aff-gus", money(9900, "EUR"), "sandbox")],
    )
    .await;
}

async fn on_sqlite() -> Ledger {
    let store = Arc::new(SqliteEventStore::in_memory().unwrap());
    populate(&*store).await;
    store.project_ledger(10_000).await.unwrap();
    Ledger {
        reads: store.clone(),
        events: store,
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["batch_id"].as_str().unwrap().to_owned())
        .collect()
}

fn field_named(problem: &Value, field: &str) -> bool {
    problem["errors"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["field"] == field))
}

async fn batches_list_drafted_first_in_pages_of_the_callers_tenant_only(store: &Ledger) {
    // The fixture itself: status=drafted, roles from user pool groups.
    let (status, page) = send(store, &fixture()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), ["pb-000001", "pb-000004"]);
    let first = &page["batches"][0];
    assert_eq!(first["status"], "drafted");
    assert_eq!(first["maker"], "maria");
    assert_eq!(first["drafted_at"], "2026-11-04T09:00:00.000Z");
    assert!(first["age_seconds"].as_i64().unwrap() > 0);
    assert_eq!(first["item_count"], 2);
    assert_eq!(first["totals"], json!([money(3500, "EUR")]));
    assert_eq!(
        first["items"][0]["destination"], EVIL,
        "JSON is not a spreadsheet"
    );
    assert_eq!(
        first["items"][1]["destination"],
        "sepa DE** **** 3000, \"Ben\""
    );
    assert_eq!(first["items"][1]["amount"], json!(money(1000, "EUR")));

    // No status: drafted first, then the decided ones, page by page.
    let mut seen = Vec::new();
    let mut statuses = Vec::new();
    let mut query = "limit=2".to_owned();
    for _ in 0..10 {
        let (status, page) = send(store, &get("/v1/payout-batches", &query, "acme")).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["batches"].as_array().unwrap().len() <= 2);
        seen.extend(ids(&page));
        statuses.extend(
            page["batches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["status"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => query = format!("limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["pb-000001", "pb-000004", "pb-000002", "pb-000003"]);
    assert_eq!(statuses, ["drafted", "drafted", "rejected", "approved"]);

    for (status, expected) in [("approved", "pb-000003"), ("rejected", "pb-000002")] {
        let (code, page) = send(
            store,
            &get("/v1/payout-batches", &format!("status={status}"), "acme"),
        )
        .await;
        assert_eq!(code, 200, "{page}");
        assert_eq!(ids(&page), [expected]);
        assert!(page["next"].is_null());
    }

    // Another tenant sees only its own batch, never acme's of the same id.
    let (status, page) = send(store, &get("/v1/payout-batches", "", "globex")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), ["pb-000001"]);
    assert_eq!(page["batches"][0]["items"][0]["affiliate_id"], "aff-gus");
    assert_eq!(page["batches"][0]["totals"], json!([money(9900, "EUR")]));
    let (_, page) = send(store, &get("/v1/payout-batches", "", "initech")).await;
    assert_eq!(page["batches"], json!([]));

    // Refusals name the field and the rule.
    let (_, drafted_page) = send(store, &get("/v1/payout-batches", "limit=1", "acme")).await;
    let drafted_token = drafted_page["next"].as_str().unwrap().to_owned();
    for (query, field) in [
        ("limit=51", "limit"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("status=paid", "status"),
        ("after=zz", "after"),
        (&*format!("status=approved&after={drafted_token}"), "after"),
    ] {
        let (status, problem) = send(store, &get("/v1/payout-batches", query, "acme")).await;
        assert_eq!(status, 422, "{query}: {problem}");
        assert!(field_named(&problem, field), "{query}: {problem}");
    }
    for claims in [
        json!({"sub": "u-anna", "tenant_id": "acme", "roles": "affiliate", "affiliate_id": "aff-anna"}),
        json!({"sub": "tracker", "tenant_id": "acme", "roles": "ingest"}),
        json!({"sub": "nobody", "tenant_id": "acme"}),
    ] {
        let (status, problem) = send(store, &with_claims(fixture(), claims.clone())).await;
        assert_eq!(status, 403, "{claims}: {problem}");
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn records(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::Reader::from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn a_batch_exports_as_quoted_guarded_csv_and_never_across_tenants(store: &Ledger) {
    let export = get("/v1/payout-batches/pb-000001/export.csv", "", "acme");
    let (status, headers, bytes) = send_raw(store, &export).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        header(&headers, "content-disposition"),
        Some("attachment; filename=\"pb-000001.csv\"")
    );
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with("batch_id,batch_status,maker,drafted_at,item_id,affiliate_id,currency,amount,receivable_netted,processor,destination,reference,item_status\n"),
        "{text}"
    );
    // Quoted by the CSV writer (comma and quotes), the formula neutralised.
    assert!(
        text.contains(r#""'=HYPERLINK(""http://evil.example"",""x"")""#),
        "{text}"
    );
    assert!(text.contains(r#""sepa DE** **** 3000, ""Ben""""#), "{text}");
    let rows = records(&bytes);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        [
            "pb-000001",
            "drafted",
            "maria",
            "2026-11-04T09:00:00.000Z",
            "pb-000001.1",
            "aff-anna",
            "EUR",
            "25.00",
            "0.00",
            "sandbox",
            &format!("'{EVIL}"),
            "",
            "awaiting",
        ]
    );
    assert_eq!(rows[1][10], "sepa DE** **** 3000, \"Ben\"");

    // The paid batch carries its references.
    let (status, _, bytes) = send_raw(
        store,
        &get("/v1/payout-batches/pb-000003/export.csv", "", "acme"),
    )
    .await;
    assert_eq!(status, 200);
    let rows = records(&bytes);
    assert_eq!(
        (
            rows[0][1].as_str(),
            rows[0][11].as_str(),
            rows[0][12].as_str()
        ),
        ("approved", "sb-1", "paid")
    );

    // Another tenant's batch is not found, whatever its id.
    for (tenant, id) in [
        ("globex", "pb-000002"),
        ("globex", "pb-000003"),
        ("acme", "pb-000099"),
        ("initech", "pb-000001"),
    ] {
        let (status, problem) = send(
            store,
            &get(&format!("/v1/payout-batches/{id}/export.csv"), "", tenant),
        )
        .await;
        assert_eq!(status, 404, "{tenant} {id}: {problem}");
        assert_eq!(problem["type"], "/problems/not-found");
    }
    // globex's own pb-000001 is its own, not acme's.
    let (_, _, bytes) = send_raw(
        store,
        &get("/v1/payout-batches/pb-000001/export.csv", "", "globex"),
    )
    .await;
    let rows = records(&bytes);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][5], "aff-gus");
    let affiliate = with_claims(
        export,
        json!({"sub": "u-anna", "tenant_id": "acme", "roles": "affiliate", "affiliate_id": "aff-anna"}),
    );
    assert_eq!(send(store, &affiliate).await.0, 403);
}

async fn liabilities_now_and_as_of_a_past_instant(store: &Ledger) {
    let (status, body) = send(store, &get("/v1/liabilities", "", "acme")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant_id"], "acme");
    assert_eq!(
        body["liabilities"],
        json!([
            {"currency": "EUR", "pending": "0.00", "available": "5.00", "reserved": "35.00", "receivable": "0.00", "paid_out": "40.00"},
            {"currency": "USD", "pending": "0.00", "available": "0.00", "reserved": "7.00", "receivable": "0.00", "paid_out": "0.00"},
        ])
    );

    // Before any event: zeros. Between recording and maturity: all pending.
    // Just after drafting and paying: the same as now.
    let zeros = json!({"pending": "0.00", "available": "0.00", "reserved": "0.00", "receivable": "0.00", "paid_out": "0.00"});
    for query in [
        "as_of=2020-01-01T00:00:00Z",
        "as_of=2026-11-02T09%3A00%3A00%2B00%3A00",
    ] {
        let (status, body) = send(store, &get("/v1/liabilities", query, "acme")).await;
        assert_eq!(status, 200, "{query}: {body}");
        for line in body["liabilities"].as_array().unwrap() {
            let mut amounts = line.clone();
            amounts.as_object_mut().unwrap().remove("currency");
            assert_eq!(amounts, zeros, "{query}: {body}");
        }
        assert_eq!(body["liabilities"].as_array().unwrap().len(), 2);
    }
    // `+` of the offset encoded, or not: a plus either way.
    for query in [
        "as_of=2026-11-02T21:00:00+01:00",
        "as_of=2026-11-02T21%3A00%3A00+01%3A00",
    ] {
        let (status, body) = send(store, &get("/v1/liabilities", query, "acme")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["as_of"], "2026-11-02T20:00:00.000Z", "{query}");
    }
    let (_, body) = send(
        store,
        &get(
            "/v1/liabilities",
            "as_of=2026-11-02T21:00:00%2B01:00",
            "acme",
        ),
    )
    .await;
    assert_eq!(body["as_of"], "2026-11-02T20:00:00.000Z");
    assert_eq!(body["liabilities"][0]["pending"], "80.00", "{body}");
    assert_eq!(body["liabilities"][0]["available"], "0.00", "{body}");
    assert_eq!(body["liabilities"][1]["pending"], "7.00", "{body}");
    let (_, later) = send(
        store,
        &get("/v1/liabilities", "as_of=2026-12-01T00:00:00Z", "acme"),
    )
    .await;
    let (_, now) = send(store, &get("/v1/liabilities", "", "acme")).await;
    assert_eq!(later["liabilities"], now["liabilities"]);

    // Tenant-scoped.
    let (_, body) = send(store, &get("/v1/liabilities", "", "globex")).await;
    assert_eq!(
        body["liabilities"],
        json!([{"currency": "EUR", "pending": "0.00", "available": "0.00", "reserved": "99.00", "receivable": "0.00", "paid_out": "0.00"}])
    );

    let (status, problem) = send(store, &get("/v1/liabilities", "as_of=yesterday", "acme")).await;
    assert_eq!(status, 422);
    assert!(field_named(&problem, "as_of"), "{problem}");
    let ingest = with_claims(
        get("/v1/liabilities", "", "acme"),
        json!({"sub": "tracker", "tenant_id": "acme", "roles": "ingest"}),
    );
    assert_eq!(send(store, &ingest).await.0, 403);

    // The export: one row per currency, amounts as plain numbers.
    let (status, headers, bytes) = send_raw(
        store,
        &get(
            "/v1/liabilities/export.csv",
            "as_of=2026-12-01T00:00:00Z",
            "acme",
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        header(&headers, "content-disposition"),
        Some("attachment; filename=\"liabilities.csv\"")
    );
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "tenant_id,as_of,currency,pending,available,reserved,receivable,paid_out\n\
         acme,2026-12-01T00:00:00.000Z,EUR,0.00,5.00,35.00,0.00,40.00\n\
         acme,2026-12-01T00:00:00.000Z,USD,0.00,0.00,7.00,0.00,0.00\n"
    );
    let (status, problem) = send(
        store,
        &get("/v1/liabilities/export.csv", "as_of=2026-13-01", "acme"),
    )
    .await;
    assert_eq!(status, 422);
    assert!(field_named(&problem, "as_of"), "{problem}");
}

#[tokio::test]
async fn finance_reads_on_the_embedded_store() {
    let store = on_sqlite().await;
    batches_list_drafted_first_in_pages_of_the_callers_tenant_only(&store).await;
    a_batch_exports_as_quoted_guarded_csv_and_never_across_tenants(&store).await;
    liabilities_now_and_as_of_a_past_instant(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_reads_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let (events, projection) =
        event_store_dynamodb::ledger_on_dynamodb(&emulator.sdk_config(), "fin-")
            .await
            .unwrap();
    populate(&events).await;
    // The events table's stream feeds the projector, as Lambda would.
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
    batches_list_drafted_first_in_pages_of_the_callers_tenant_only(&store).await;
    a_batch_exports_as_quoted_guarded_csv_and_never_across_tenants(&store).await;
    liabilities_now_and_as_of_a_past_instant(&store).await;
}
