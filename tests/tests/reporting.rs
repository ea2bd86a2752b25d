//! Statements and reconciliation end to end over the local stack's HTTP,
//! on the embedded store and on DynamoDB in the emulator: commissions are
//! projected, finance generates the month's statements, an affiliate lists
//! and downloads its own through a short-lived link, and can reach neither
//! another affiliate's nor another tenant's; a processor report dropped in
//! the inbox is reconciled (or quarantined) and the report written. Each
//! statement version written reaches a receiver registered for
//! `statement.published`, signed, once, however often the month is run.

use axum::body::Body;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_stack::{
    Backend, database_path, local_processors, mint_token, reports_inbox, signing_key, start_full,
};
use serde_json::{Value, json};

mod support;
use support::{HttpClient, call, eventually, receiver};

async fn fetch(client: &HttpClient, url: &str) -> (u16, String) {
    let request = axum::http::Request::builder()
        .uri(url)
        .body(Body::empty())
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn flow(backend: Backend, dir: &std::path::Path) {
    let key = signing_key(dir).unwrap();
    let files = dir.join("files");
    let processors = std::sync::Arc::new(local_processors(Some(&files)).unwrap());
    let running = start_full(backend, key.clone(), 0, processors, Some(files.clone()))
        .await
        .unwrap();
    let base = format!("http://{}", running.address);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let token = |tenant: &str, role: &str, who: &str, affiliate: Option<&str>| {
        mint_token(&key, tenant, role, who, affiliate).unwrap()
    };
    let maria = token("acme", "finance-maker", "maria", None);
    let anna = token("acme", "affiliate", "u-anna", Some("aff-anna"));
    let globex_finance = token("globex", "finance-approver", "gus", None);
    let globex_anna = token("globex", "affiliate", "g-anna", Some("aff-anna"));

    let occurred = chrono::Utc::now() - chrono::Duration::hours(1);
    let period = occurred.format("%Y-%m").to_string();
    for (tenant, affiliate, amount) in [
        ("acme", "aff-anna", "100.00"),
        ("acme", "aff-ben", "50.00"),
        ("globex", "aff-anna", "10.00"),
    ] {
        let ingest = token(tenant, "ingest", "tracking", None);
        let (status, body) = call(
            &client,
            "POST",
            &format!("{base}/v1/commissions"),
            &ingest,
            Some(json!({"commissions": [{"commission_id": format!("c-{affiliate}"), "affiliate_id": affiliate,
                "amount": amount, "currency": "EUR", "conversion_id": format!("conv-{affiliate}"),
                "hold_period_days": 30, "occurred_at": occurred.to_rfc3339()}]})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    eventually(30, || async {
        let (_, body) = call(
            &client,
            "GET",
            &format!("{base}/v1/affiliates/aff-ben/balances"),
            &maria,
            None,
        )
        .await;
        (body["balances"][0]["pending"] == "50.00").then_some(())
    })
    .await;

    // A receiver for statement.published.
    let admin = token("acme", "admin", "ada", None);
    let (hook_url, hooked) = receiver().await;
    let (status, endpoint) = call(
        &client,
        "POST",
        &format!("{base}/v1/webhook-endpoints"),
        &admin,
        Some(json!({"url": hook_url, "event_types": ["statement.published"]})),
    )
    .await;
    assert_eq!(status, 201, "{endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_owned();

    // Bad runs: a malformed period names the field; an affiliate may not run.
    let runs = format!("{base}/v1/statement-runs");
    let (status, body) = call(
        &client,
        "POST",
        &runs,
        &maria,
        Some(json!({"period": "2026-13"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "period", "{body}");
    let (status, _) = call(
        &client,
        "POST",
        &runs,
        &anna,
        Some(json!({"period": period})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = call(
        &client,
        "POST",
        &runs,
        &maria,
        Some(json!({"period": period, "reason": "month end"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], 2, "{body}");
    assert_eq!(body["failed"], json!([]), "{body}");
    let (_, again) = call(
        &client,
        "POST",
        &runs,
        &maria,
        Some(json!({"period": period})),
    )
    .await;
    assert_eq!(
        (again["created"].clone(), again["unchanged"].clone()),
        (json!(0), json!(2)),
        "{again}"
    );

    // One signed statement.published per version written: two, not four.
    eventually(30, || async {
        (hooked.lock().unwrap().len() >= 2).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let deliveries = hooked.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    let mut published = Vec::new();
    for (signature, event_id, body) in &deliveries {
        tenant_webhooks::signing::verify(
            signature,
            &secret,
            body.as_bytes(),
            chrono::Utc::now().timestamp(),
            300,
        )
        .expect("signed with the endpoint's secret");
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["type"], "statement.published");
        assert_eq!(&event["id"], event_id);
        assert_eq!(event["tenant_id"], "acme");
        assert_eq!(event["data"]["period"], period.as_str());
        assert_eq!(event["data"]["version"], 1);
        assert_eq!(event["data"]["closing_available"]["amount"], "0.00");
        published.push(event["data"]["affiliate_id"].as_str().unwrap().to_owned());
    }
    published.sort();
    assert_eq!(published, ["aff-anna", "aff-ben"]);

    // The affiliate lists and downloads its own statement.
    let (status, body) = call(
        &client,
        "GET",
        &format!("{base}/v1/affiliates/aff-anna/statements"),
        &anna,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["statements"],
        json!([{"currency": "EUR", "period": period, "version": 1, "latest": true}])
    );
    let download = format!("{base}/v1/affiliates/aff-anna/statements/EUR/{period}");
    let (status, link) = call(
        &client,
        "GET",
        &format!("{download}?format=csv"),
        &anna,
        None,
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().unwrap().to_owned();
    let (status, csv) = fetch(&client, &url).await;
    assert_eq!(status, 200, "{csv}");
    assert!(
        csv.starts_with("row,effective_at,event_type,reference,version,pending"),
        "{csv}"
    );
    assert!(csv.contains("acme/commission/c-aff-anna"), "{csv}");
    assert!(
        csv.lines().last().unwrap().starts_with("closing,") && csv.contains(",100.00,"),
        "{csv}"
    );
    let (_, json_link) = call(&client, "GET", &download, &anna, None).await;
    let (status, statement) = fetch(&client, json_link["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let statement: Value = serde_json::from_str(&statement).unwrap();
    assert_eq!(statement["affiliate_id"], "aff-anna");
    assert_eq!(statement["closing"]["pending"], "100.00");
    // A link altered to reach another file, or with its signature changed, is refused.
    let (status, _) = fetch(&client, &url.replace("aff-anna", "aff-ben")).await;
    assert_eq!(status, 403);
    // The last hex digit changed (to another digit, whatever it was).
    let last = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &url[..url.len() - 1]);
    let (status, _) = fetch(&client, &tampered).await;
    assert_eq!(status, 403);
    let (status, _) = fetch(
        &client,
        &format!("{base}/files/statements/acme/aff-ben/EUR/{period}/v0001.csv"),
    )
    .await;
    assert_eq!(status, 403, "no link, no file");

    // Another affiliate's statements are refused; another tenant's cannot be named.
    for url in [
        format!("{base}/v1/affiliates/aff-ben/statements"),
        format!("{base}/v1/affiliates/aff-ben/statements/EUR/{period}"),
    ] {
        let (status, body) = call(&client, "GET", &url, &anna, None).await;
        assert_eq!(status, 403, "{url}: {body}");
    }
    for who in [&globex_finance, &globex_anna] {
        let (status, body) = call(
            &client,
            "GET",
            &format!("{base}/v1/affiliates/aff-anna/statements"),
            who,
            None,
        )
        .await;
        assert_eq!((status, &body["statements"]), (200, &json!([])), "{body}");
        let (status, _) = call(&client, "GET", &download, who, None).await;
        assert_eq!(status, 404);
    }
    // Bad download parameters name the field.
    let (status, body) = call(
        &client,
        "GET",
        &format!("{base}/v1/affiliates/aff-anna/statements/EURO/2026-1?format=pdf"),
        &anna,
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["currency", "period", "format"], "{body}");

    // A Stripe report dropped in the inbox: reconciled, every payout line
    // unknown to this ledger; a truncated one is quarantined.
    let inbox = reports_inbox(&files).join("acme").join("stripe");
    std::fs::create_dir_all(&inbox).unwrap();
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/reports/stripe-balance-change-from-activity.csv"
    ))
    .unwrap();
    std::fs::write(inbox.join("2026-11.csv"), &sample).unwrap();
    std::fs::write(inbox.join("cut.csv"), &sample[..sample.len() - 30]).unwrap();
    let reports = files.join("reconciliation").join("acme").join("stripe");
    let written = eventually(30, || async {
        let ok = std::fs::read_dir(reports.join("reports"))
            .ok()?
            .flatten()
            .next()?;
        let bad = std::fs::read_dir(reports.join("quarantine"))
            .ok()?
            .flatten()
            .next()?;
        Some((ok.path(), bad.path()))
    })
    .await;
    let report: Value = serde_json::from_slice(&std::fs::read(&written.0).unwrap()).unwrap();
    assert_eq!(report["status"], "mismatches");
    let kinds: Vec<&str> = report["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["missing_in_ledger"; 6], "{report}");
    assert_eq!(report["trial_balance"][0]["balanced"], true, "{report}");
    let quarantined: Value = serde_json::from_slice(&std::fs::read(&written.1).unwrap()).unwrap();
    assert_eq!(
        quarantined["rejection"]["rule"], "truncated",
        "{quarantined}"
    );
    assert!(
        files
            .join("reports")
            .join("done")
            .join("reports_acme_stripe_2026-11.csv")
            .exists()
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_and_reconciliation_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = event_store_sqlite::SqliteEventStore::open(database_path(dir.path())).unwrap();
    flow(Backend::Embedded(store), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_and_reconciliation_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::aws(&emulator.sdk_config(), "rep-", true)
        .await
        .unwrap();
    flow(backend, dir.path()).await;
}
