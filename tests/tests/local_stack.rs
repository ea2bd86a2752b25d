//! The local stack over real HTTP on 127.0.0.1: tokens from the development
//! issuer, commissions posted, balances read, and a shutdown that loses no
//! acknowledged event.

use axum::body::Body;
use event_store_sqlite::SqliteEventStore;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_stack::{database_path, mint_token, signing_key, start};
use serde_json::{Value, json};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

async fn call(
    client: &HttpClient,
    method: &str,
    url: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = axum::http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let body = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let response = client.request(request.body(body).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339()
}

fn commission(id: &str, amount: &str) -> Value {
    json!({"commission_id": id, "affiliate_id": "aff-zoe", "amount": amount, "currency": "EUR", "conversion_id": format!("conv-{id}")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_then_read_then_shut_down_without_losing_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(dir.path()).unwrap();
    let store = SqliteEventStore::open(database_path(dir.path())).unwrap();
    let running = start(local_stack::Backend::Embedded(store), key.clone(), 0)
        .await
        .unwrap();
    let base = format!("http://{}", running.address);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let ingest = mint_token(&key, "acme", "ingest", "tracking", None).unwrap();
    let zoe = mint_token(&key, "acme", "affiliate", "u-zoe", Some("aff-zoe")).unwrap();

    // No token, a forged token, another tenant's token: refused.
    let url = format!("{base}/v1/commissions");
    assert_eq!(
        call(
            &client,
            "POST",
            &url,
            None,
            Some("k"),
            Some(commission("c-1", "1.00"))
        )
        .await
        .0,
        401
    );
    let forged = mint_token(
        b"not-the-key-not-the-key-not-the-",
        "acme",
        "ingest",
        "x",
        None,
    )
    .unwrap();
    assert_eq!(
        call(
            &client,
            "POST",
            &url,
            Some(&forged),
            Some("k"),
            Some(commission("c-1", "1.00"))
        )
        .await
        .0,
        401
    );
    assert_eq!(
        call(
            &client,
            "POST",
            &url,
            Some(&zoe),
            Some("k"),
            Some(commission("c-1", "1.00"))
        )
        .await
        .0,
        403
    );

    // Fifty commissions posted concurrently, all acknowledged.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (client, url, token) = (client.clone(), url.clone(), ingest.clone());
        tasks.push(tokio::spawn(async move {
            call(
                &client,
                "POST",
                &url,
                Some(&token),
                Some(&format!("conv-c-{i}")),
                Some(commission(&format!("c-{i}"), "2.00")),
            )
            .await
            .0
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }
    // Shut down at once: in-flight work finishes, the projector drains.
    running.shutdown().await.unwrap();

    // Reopen the same file: everything acknowledged is there and projected.
    let store = SqliteEventStore::open(database_path(dir.path())).unwrap();
    let row = store
        .affiliate_balance(
            &ledger_domain::TenantId::new("acme").unwrap(),
            &ledger_domain::AffiliateId::new("aff-zoe").unwrap(),
            "EUR",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.fields["pending"], -10_000, "50 x 2.00 EUR pending");

    // And the API reads it back after a restart.
    let running = start(local_stack::Backend::Embedded(store), key.clone(), 0)
        .await
        .unwrap();
    let base = format!("http://{}", running.address);
    let (status, body) = call(
        &client,
        "GET",
        &format!("{base}/v1/affiliates/aff-zoe/balances"),
        Some(&zoe),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["balances"][0]["pending"], "100.00");
    let (status, _) = call(
        &client,
        "GET",
        &format!("{base}/v1/affiliates/aff-other/balances"),
        Some(&zoe),
        None,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, page) = call(
        &client,
        "GET",
        &format!("{base}/v1/affiliates/aff-zoe/journal?currency=EUR&limit=20"),
        Some(&zoe),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["lines"].as_array().unwrap().len(), 20);

    // A conversion from 31 days ago with a 30-day hold matures on its own.
    let mut late = commission("c-late", "5.00");
    late["occurred_at"] = days_ago(31).into();
    let url = format!("{base}/v1/commissions");
    let (status, _) = call(
        &client,
        "POST",
        &url,
        Some(&ingest),
        Some("conv-late"),
        Some(late),
    )
    .await;
    assert_eq!(status, 201);
    let mut available = Value::Null;
    for _ in 0..150 {
        let (_, body) = call(
            &client,
            "GET",
            &format!("{base}/v1/affiliates/aff-zoe/balances"),
            Some(&zoe),
            None,
            None,
        )
        .await;
        available = body["balances"][0]["available"].clone();
        if available == "5.00" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(available, "5.00", "matured by the stack's maturing job");
    running.shutdown().await.unwrap();
}

#[test]
fn tokens_are_only_minted_for_known_roles() {
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(dir.path()).unwrap();
    assert_eq!(signing_key(dir.path()).unwrap(), key, "the key is kept");
    assert!(mint_token(&key, "acme", "root", "x", None).is_err());
    assert!(mint_token(&key, "acme", "affiliate", "x", None).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_stack_runs_on_dynamodb_by_configuration() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(dir.path()).unwrap();
    let backend = local_stack::Backend::aws(&emulator.sdk_config(), "stack-", true)
        .await
        .unwrap();
    let running = start(backend, key.clone(), 0).await.unwrap();
    let base = format!("http://{}", running.address);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let ingest = mint_token(&key, "acme", "ingest", "tracking", None).unwrap();
    let zoe = mint_token(&key, "acme", "affiliate", "u-zoe", Some("aff-zoe")).unwrap();
    for i in 0..3 {
        let (status, body) = call(
            &client,
            "POST",
            &format!("{base}/v1/commissions"),
            Some(&ingest),
            Some(&format!("k{i}")),
            Some(commission(&format!("c-{i}"), "1.50")),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let mut pending = Value::Null;
    for _ in 0..100 {
        let (_, body) = call(
            &client,
            "GET",
            &format!("{base}/v1/affiliates/aff-zoe/balances"),
            Some(&zoe),
            None,
            None,
        )
        .await;
        pending = body["balances"][0]["pending"].clone();
        if pending == "4.50" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(pending, "4.50", "projected from the events table's stream");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_queue_feeds_the_sqs_handler_and_keeps_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(dir.path()).unwrap();
    let store = SqliteEventStore::open(database_path(dir.path())).unwrap();
    let running = start(local_stack::Backend::Embedded(store), key.clone(), 0)
        .await
        .unwrap();
    let base = format!("http://{}", running.address);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let ingest = mint_token(&key, "acme", "ingest", "tracking", None).unwrap();
    let admin = mint_token(&key, "acme", "admin", "ada", None).unwrap();
    let zoe = mint_token(&key, "acme", "affiliate", "u-zoe", Some("aff-zoe")).unwrap();
    let queue = format!("{base}/local/queues/commissions");
    assert_eq!(
        call(
            &client,
            "POST",
            &queue,
            None,
            None,
            Some(commission("c-q0", "1.00"))
        )
        .await
        .0,
        401
    );
    assert_eq!(
        call(
            &client,
            "POST",
            &queue,
            Some(&zoe),
            None,
            Some(commission("c-q0", "1.00"))
        )
        .await
        .0,
        403
    );
    for (id, amount) in [("c-q1", "3.00"), ("c-q2", "4.00"), ("c-q3", "1.001")] {
        let (status, body) = call(
            &client,
            "POST",
            &queue,
            Some(&ingest),
            Some(&format!("conv-{id}")),
            Some(commission(id, amount)),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    let mut dead = Value::Null;
    let mut pending = Value::Null;
    for _ in 0..100 {
        let (_, body) = call(
            &client,
            "GET",
            &format!("{base}/v1/affiliates/aff-zoe/balances"),
            Some(&zoe),
            None,
            None,
        )
        .await;
        pending = body["balances"][0]["pending"].clone();
        let (_, letters) = call(
            &client,
            "GET",
            &format!("{queue}/dead-letters"),
            Some(&admin),
            None,
            None,
        )
        .await;
        dead = letters["dead_letters"].clone();
        if pending == "7.00" && dead.as_array().is_some_and(|d| d.len() == 1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(pending, "7.00", "the good messages are ingested");
    assert_eq!(dead.as_array().map(Vec::len), Some(1), "{dead}");
    assert_eq!(dead[0]["receives"], 5);
    assert!(dead[0]["body"].as_str().unwrap().contains("1.001"));
    assert_eq!(
        call(
            &client,
            "GET",
            &format!("{queue}/dead-letters"),
            Some(&zoe),
            None,
            None
        )
        .await
        .0,
        403
    );
    running.shutdown().await.unwrap();
}
