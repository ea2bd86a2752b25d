//! Refunds, chargebacks and adjustments end to end over the local stack's
//! HTTP and its commissions queue, on the embedded store and on DynamoDB in
//! the emulator: a refund in the hold period reduces pending; a chargeback
//! after payout (over the queue, delivered twice) becomes a receivable, and
//! the next drafted payout nets it; bad changes are refused with the field
//! named and change no balance.

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_stack::{Backend, database_path, local_processors, mint_token, signing_key, start_full};
use serde_json::{Value, json};

mod support;
use support::{HttpClient, eventually};

/// A request with its own idempotency key.
async fn send(
    client: &HttpClient,
    method: &str,
    url: &str,
    token: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    use http_body_util::BodyExt;
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .header("idempotency-key", key);
    let body = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            axum::body::Body::from(b.to_string())
        }
        None => axum::body::Body::empty(),
    };
    let response = client.request(request.body(body).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn flow(backend: Backend, dir: &std::path::Path) {
    let key = signing_key(dir).unwrap();
    let files = dir.join("files");
    let processors = std::sync::Arc::new(local_processors(Some(&files)).unwrap());
    let running = start_full(backend, key.clone(), 0, processors, Some(files))
        .await
        .unwrap();
    let base = format!("http://{}", running.address);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let token = |role: &str, who: &str| mint_token(&key, "acme", role, who, None).unwrap();
    // An admin approves: no approval limits are configured here.
    let (ingest, maria, ada) = (
        token("ingest", "tracking"),
        token("finance-maker", "maria"),
        token("admin", "ada"),
    );
    let occurred = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let commission = |id: &str, amount: &str, hold: u32| {
        json!({"commission_id": id, "affiliate_id": "aff-kim", "amount": amount, "currency": "EUR",
               "conversion_id": format!("conv-{id}"), "hold_period_days": hold, "occurred_at": occurred})
    };
    let balance = || async {
        let (_, body) = send(
            &client,
            "GET",
            &format!("{base}/v1/affiliates/aff-kim/balances"),
            &maria,
            "read",
            None,
        )
        .await;
        body["balances"][0].clone()
    };
    let (status, body) = send(
        &client,
        "POST",
        &format!("{base}/v1/commissions"),
        &ingest,
        "first",
        Some(json!({"commissions": [commission("c-paid", "100.00", 0), commission("c-held", "20.00", 30)]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // A refund in the hold period, over HTTP: pending goes down.
    let (status, body) = send(
        &client,
        "POST",
        &format!("{base}/v1/commissions/c-held/reversals"),
        &ingest,
        "refund-re_1",
        Some(json!({"amount": "5.00", "currency": "EUR", "reason": "refund", "reference": "re_1"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["results"][0]["account"], "pending", "{body}");
    // Bad changes: refused naming the field, no balance moves.
    for (url, change, status, field) in [
        (
            "c-held/reversals",
            json!({"amount": "15.01", "currency": "EUR", "reason": "refund", "reference": "re_2"}),
            422,
            "amount",
        ),
        (
            "c-nope/reversals",
            json!({"currency": "EUR", "reason": "chargeback", "reference": "dp_0"}),
            404,
            "commission_id",
        ),
        (
            "c-held/adjustments",
            json!({"delta": "-1.00", "currency": "USD", "reason": "wrong currency"}),
            422,
            "currency",
        ),
    ] {
        let (got, problem) = send(
            &client,
            "POST",
            &format!("{base}/v1/commissions/{url}"),
            &ingest,
            &format!("bad-{url}"),
            Some(change),
        )
        .await;
        assert_eq!(got, status, "{url}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{url}: {problem}");
    }
    eventually(30, || async {
        let b = balance().await;
        (b["pending"] == "15.00" && b["available"] == "100.00").then_some(())
    })
    .await;

    // c-paid is paid out through the sandbox.
    let (status, body) = send(
        &client,
        "PUT",
        &format!("{base}/v1/affiliates/aff-kim/payout-method"),
        &maria,
        "method",
        Some(json!({"method": {"processor": "sandbox", "behaviour": "settle"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let pay = |run: &'static str| {
        let (client, base, maria, ada) = (client.clone(), base.clone(), maria.clone(), ada.clone());
        async move {
            let attempt = std::cell::Cell::new(0);
            let report = eventually(30, || async {
                // Each attempt is a new request: an empty run is an answer too.
                attempt.set(attempt.get() + 1);
                let (status, body) = send(
                    &client,
                    "POST",
                    &format!("{base}/v1/payout-runs"),
                    &maria,
                    &format!("{run}-{}", attempt.get()),
                    Some(json!({"currency": "EUR"})),
                )
                .await;
                match status {
                    201 => Some(body),
                    200 | 409 => None,
                    _ => panic!("unexpected {status} {body}"),
                }
            })
            .await;
            let batch = report["batches"][0]["batch_id"]
                .as_str()
                .unwrap()
                .to_owned();
            let url = format!("{base}/v1/payout-batches/{batch}");
            let (status, body) =
                send(&client, "POST", &format!("{url}/approve"), &ada, run, None).await;
            assert_eq!(status, 200, "{body}");
            eventually(30, || async {
                let (_, body) = send(&client, "GET", &url, &ada, "read", None).await;
                (body["items"][0]["status"] == "paid").then_some(body["items"][0].clone())
            })
            .await
        }
    };
    let first = pay("run-1").await;
    assert_eq!(first["amount"]["amount"], "100.00", "{first}");
    eventually(30, || async {
        (balance().await["paid_out"] == "100.00").then_some(())
    })
    .await;

    // A chargeback of the paid commission, over the queue, delivered twice.
    let chargeback = json!({"kind": "reversal", "commission_id": "c-paid", "amount": "30.00",
                            "currency": "EUR", "reason": "chargeback", "reference": "dp_1",
                            "occurred_at": occurred});
    for _ in 0..2 {
        let (status, body) = send(
            &client,
            "POST",
            &format!("{base}/local/queues/commissions"),
            &ingest,
            "chargeback-dp_1",
            Some(chargeback.clone()),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    let b = eventually(30, || async {
        let b = balance().await;
        (b["receivable"] != "0.00").then_some(b)
    })
    .await;
    assert_eq!(
        (&b["receivable"], &b["available"], &b["net_payable"]),
        (&json!("30.00"), &json!("0.00"), &json!("-30.00")),
        "a receivable, once: {b}"
    );

    // The next commission matures; the next payout nets the receivable.
    let (status, body) = send(
        &client,
        "POST",
        &format!("{base}/v1/commissions"),
        &ingest,
        "second",
        Some(commission("c-next", "50.00", 0)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    eventually(30, || async {
        (balance().await["available"] == "50.00").then_some(())
    })
    .await;
    let second = pay("run-2").await;
    assert_eq!(
        (
            &second["amount"]["amount"],
            &second["receivable_netted"]["amount"]
        ),
        (&json!("20.00"), &json!("30.00")),
        "{second}"
    );
    let b = eventually(30, || async {
        let b = balance().await;
        (b["paid_out"] == "120.00").then_some(b)
    })
    .await;
    assert_eq!(
        (&b["receivable"], &b["available"], &b["pending"]),
        (&json!("0.00"), &json!("0.00"), &json!("15.00")),
        "{b}"
    );
    assert!(running.queue.dead_letters().is_empty());
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chargeback_after_payout_is_netted_by_the_next_payout_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = event_store_sqlite::SqliteEventStore::open(database_path(dir.path())).unwrap();
    flow(Backend::Embedded(store), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chargeback_after_payout_is_netted_by_the_next_payout_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::aws(&emulator.sdk_config(), "changes-", true)
        .await
        .unwrap();
    flow(backend, dir.path()).await;
}
