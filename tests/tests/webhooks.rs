//! Events out through the local stack, on the embedded store and on
//! DynamoDB in the emulator: an admin registers a receiver on 127.0.0.1 for
//! `payout_item.paid`; two items are paid, one fails; the receiver gets one
//! signed delivery per paid item and nothing else, another tenant's
//! receiver gets nothing, the delivery log shows them delivered, and the
//! live feed carries the same public events.

mod support;

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_stack::{Backend, local_processors, mint_token, signing_key, start_full};
use serde_json::{Value, json};
use support::{HttpClient, call, eventually, receiver};
use tenant_webhooks::signing::verify;

async fn flow(backend: Backend, dir: &std::path::Path) {
    let key = signing_key(dir).unwrap();
    let processors = Arc::new(local_processors(None).unwrap());
    let running = start_full(backend, key.clone(), 0, processors, None)
        .await
        .unwrap();
    let base = format!("http://{}", running.address);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let token =
        |tenant: &str, role: &str, who: &str| mint_token(&key, tenant, role, who, None).unwrap();
    let (admin, other_admin) = (
        token("acme", "admin", "ada"),
        token("globex", "admin", "gus"),
    );
    let (ingest, maria, omar) = (
        token("acme", "ingest", "tracking"),
        token("acme", "finance-maker", "maria"),
        token("acme", "finance-approver", "omar"),
    );
    let endpoints = format!("{base}/v1/webhook-endpoints");

    // Refused, naming the field: not an admin, an unknown type, a private
    // address, a port where nothing answers.
    let (url, got) = receiver().await;
    let (status, _) = call(
        &client,
        "POST",
        &endpoints,
        &maria,
        Some(json!({"url": url, "event_types": ["payout_item.paid"]})),
    )
    .await;
    assert_eq!(status, 403);
    for (body, field) in [
        (
            json!({"url": url, "event_types": ["payout_item.claimed"]}),
            "event_types",
        ),
        (
            json!({"url": "https://10.1.2.3/hook", "event_types": ["payout_item.paid"]}),
            "url",
        ),
        (
            json!({"url": "http://example.com/hook", "event_types": ["payout_item.paid"]}),
            "url",
        ),
        (
            json!({"url": "http://127.0.0.1:9/hook", "event_types": ["payout_item.paid"]}),
            "url",
        ),
    ] {
        let (status, problem) = call(&client, "POST", &endpoints, &admin, Some(body)).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, endpoint) = call(
        &client,
        "POST",
        &endpoints,
        &admin,
        Some(json!({"url": url, "event_types": ["payout_item.paid"], "description": "CRM"})),
    )
    .await;
    assert_eq!(status, 201, "{endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let endpoint_id = endpoint["endpoint_id"].as_str().unwrap().to_owned();
    // The secret is shown once.
    let (_, listed) = call(&client, "GET", &endpoints, &admin, None).await;
    assert_eq!(listed["endpoints"].as_array().unwrap().len(), 1);
    assert!(listed["endpoints"][0].get("secret").is_none(), "{listed}");
    assert_eq!(
        listed["endpoints"][0]["secrets"][0]["ends_with"],
        secret[secret.len() - 4..]
    );
    // Another tenant's receiver, for every type.
    let (other_url, other_got) = receiver().await;
    let all: Vec<&str> = ledger_domain::public::PUBLIC_EVENT_TYPES.to_vec();
    let (status, _) = call(
        &client,
        "POST",
        &endpoints,
        &other_admin,
        Some(json!({"url": other_url, "event_types": all})),
    )
    .await;
    assert_eq!(status, 201);
    // Tenants do not see each other's endpoints.
    let (status, _) = call(
        &client,
        "GET",
        &format!("{endpoints}/{endpoint_id}"),
        &other_admin,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The live feed, before anything happens.
    let feed_request = axum::http::Request::builder()
        .uri(format!(
            "{base}/v1/events/stream?types=payout_item.paid,payout_item.failed"
        ))
        .header("authorization", format!("Bearer {admin}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let feed = client.request(feed_request).await.unwrap();
    assert_eq!(feed.status(), 200);
    let mut feed = feed.into_body();

    // Three commissions, three payout methods: two settle, one fails.
    let occurred = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let commissions: Vec<Value> = [("c-a", "aff-anna", "100.00"), ("c-b", "aff-ben", "50.00"), ("c-c", "aff-cy", "7.25")]
        .iter()
        .map(|(id, affiliate, amount)| json!({"commission_id": id, "affiliate_id": affiliate, "amount": amount, "currency": "EUR", "conversion_id": format!("conv-{id}"), "hold_period_days": 0, "occurred_at": occurred}))
        .collect();
    let (status, body) = call(
        &client,
        "POST",
        &format!("{base}/v1/commissions"),
        &ingest,
        Some(json!({"commissions": commissions})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for (affiliate, behaviour) in [
        ("aff-anna", "settle"),
        ("aff-ben", "fail"),
        ("aff-cy", "settle"),
    ] {
        let (status, body) = call(
            &client,
            "PUT",
            &format!("{base}/v1/affiliates/{affiliate}/payout-method"),
            &maria,
            Some(json!({"method": {"processor": "sandbox", "behaviour": behaviour}})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let report = eventually(30, || async {
        let (status, body) = call(
            &client,
            "POST",
            &format!("{base}/v1/payout-runs"),
            &maria,
            Some(json!({"currency": "EUR"})),
        )
        .await;
        (status == 201 && body["items"] == 3).then_some(body)
    })
    .await;
    let batch_id = report["batches"][0]["batch_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = call(
        &client,
        "POST",
        &format!("{base}/v1/payout-batches/{batch_id}/approve"),
        &omar,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // One signed delivery per paid item.
    let deliveries = eventually(30, || async {
        let got = got.lock().unwrap().clone();
        (got.len() >= 2).then_some(got)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let deliveries_after = got.lock().unwrap().clone();
    assert_eq!(
        deliveries_after.len(),
        2,
        "exactly one delivery per paid item: {deliveries_after:?}"
    );
    let now = chrono::Utc::now().timestamp();
    let mut paid = Vec::new();
    for (signature, event_id, body) in &deliveries {
        verify(signature, &secret, body.as_bytes(), now, 300)
            .expect("signed with the endpoint's secret");
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["type"], "payout_item.paid");
        assert_eq!(&event["id"], event_id);
        assert_eq!(event["tenant_id"], "acme");
        assert_eq!(event["data"]["batch_id"], batch_id);
        paid.push(event["data"]["affiliate_id"].as_str().unwrap().to_owned());
    }
    paid.sort();
    assert_eq!(paid, ["aff-anna", "aff-cy"]);

    // The other tenant heard nothing of acme's.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        other_got.lock().unwrap().is_empty(),
        "another tenant's receiver got acme's events"
    );

    // The delivery log.
    let (status, log) = call(
        &client,
        "GET",
        &format!("{endpoints}/{endpoint_id}/deliveries?status=delivered"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let log = log["deliveries"].as_array().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["log"][0]["status_code"], 200);
    let one = &log[0]["event_id"].as_str().unwrap();
    let (status, single) = call(
        &client,
        "GET",
        &format!("{endpoints}/{endpoint_id}/deliveries/{one}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        deliveries
            .iter()
            .any(|(_, _, body)| body == single["payload"].as_str().unwrap()),
        "the log keeps the exact body"
    );
    let (status, problem) = call(
        &client,
        "GET",
        &format!("{endpoints}/{endpoint_id}/deliveries?status=lost"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (status, &problem["errors"][0]["field"]),
        (422, &json!("status"))
    );

    // A replay sends the same body again, signed anew.
    let (status, _) = call(
        &client,
        "POST",
        &format!("{endpoints}/{endpoint_id}/deliveries/{one}/replay"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 202);
    eventually(30, || async {
        (got.lock().unwrap().len() == 3).then_some(())
    })
    .await;
    assert_eq!(
        &got.lock().unwrap()[2].2,
        single["payload"].as_str().unwrap()
    );

    // The live feed carried the paid and the failed item, in the same shape.
    let mut text = String::new();
    let read_feed = async {
        while text.matches("event: payout_item.").count() < 3 {
            let Some(Ok(frame)) = feed.frame().await else {
                break;
            };
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), read_feed)
        .await
        .expect("the feed's events");
    assert_eq!(text.matches("event: payout_item.paid").count(), 2, "{text}");
    assert_eq!(
        text.matches("event: payout_item.failed").count(),
        1,
        "{text}"
    );
    assert!(
        !text.contains("commission.recorded"),
        "filtered by type: {text}"
    );
    drop(feed);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_items_reach_a_registered_receiver_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        event_store_sqlite::SqliteEventStore::open(local_stack::database_path(dir.path())).unwrap();
    flow(Backend::Embedded(store), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_items_reach_a_registered_receiver_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::aws(&emulator.sdk_config(), "hook-", true)
        .await
        .unwrap();
    flow(backend, dir.path()).await;
}
