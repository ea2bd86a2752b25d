//! Webhook deliveries through the local stack: commissions posted over
//! HTTP (bodies of 99, the most a body takes) to the stack's real router, committed, fanned out
//! from the event log and delivered, signed, to a receiver on 127.0.0.1
//! registered for `commission.recorded`. Prints deliveries per second for a
//! burst, and the latency from commit (the event's `created_at`) to receipt
//! (median and p99) at a steady 50 commissions/s, beside the baseline from
//! the same run: the same receiver taking signed POSTs of the same bodies
//! from one client, one after another (what one endpoint can take in order).
//!
//! `BURST` (default 5,000) and `PACED` (default 500) set the sizes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use common::{env_size, percentile};
use local_stack::{Backend, mint_token, signing_key, start};
use serde_json::{Value, json};

type Seen = Arc<
    Mutex<
        Vec<(
            String,
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::Utc>,
        )>,
    >,
>;

async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_headers: HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let now = chrono::Utc::now();
                if let Ok(event) = serde_json::from_str::<Value>(&body) {
                    let created = event["created_at"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.with_timezone(&chrono::Utc))
                        .unwrap_or(now);
                    let id = event["id"].as_str().unwrap_or_default().to_owned();
                    kept.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((id, created, now));
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn commission(i: usize) -> Value {
    json!({"commission_id": format!("c-{i}"), "affiliate_id": format!("aff-{}", i % 50),
           "amount": "10.00", "currency": "EUR", "conversion_id": format!("conv-{i}")})
}

async fn post(client: &reqwest::Client, url: &str, token: &str, key: String, body: Value) {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .expect("post commissions");
    assert!(response.status().is_success(), "{}", response.status());
}

async fn wait_for(seen: &Seen, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen.lock().unwrap_or_else(|p| p.into_inner()).len() < n {
        assert!(Instant::now() < deadline, "deliveries did not arrive");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (burst, paced) = (env_size("BURST", 5_000), env_size("PACED", 500));
    let dir = tempfile::tempdir().expect("tempdir");
    let key = signing_key(dir.path()).expect("key");
    let store = event_store_sqlite::SqliteEventStore::open(local_stack::database_path(dir.path()))
        .expect("store");
    let running = start(Backend::Embedded(store), key.clone(), 0)
        .await
        .expect("stack");
    let base = format!("http://{}", running.address);
    let client = reqwest::Client::new();
    let admin = mint_token(&key, "acme", "admin", "ada", None).expect("token");
    let ingest = mint_token(&key, "acme", "ingest", "tracking", None).expect("token");
    let (url, seen) = receiver().await;
    let registered: Value = client
        .post(format!("{base}/v1/webhook-endpoints"))
        .bearer_auth(&admin)
        .json(&json!({"url": url, "event_types": ["commission.recorded"]}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("endpoint");
    let secret = registered["secret"].as_str().expect("secret").to_owned();

    // The burst: bodies of 99, posted one after another.
    let started = Instant::now();
    for (n, chunk) in (0..burst).collect::<Vec<_>>().chunks(99).enumerate() {
        let body = json!({"commissions": chunk.iter().map(|i| commission(*i)).collect::<Vec<_>>()});
        post(
            &client,
            &format!("{base}/v1/commissions"),
            &ingest,
            format!("burst-{n}"),
            body,
        )
        .await;
    }
    wait_for(&seen, burst).await;
    let burst_seconds = started.elapsed().as_secs_f64();
    let rate = burst as f64 / burst_seconds;

    // Steady load: 50 commissions a second, one per request.
    let before = seen.lock().unwrap_or_else(|p| p.into_inner()).len();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for i in 0..paced {
        tick.tick().await;
        post(
            &client,
            &format!("{base}/v1/commissions"),
            &ingest,
            format!("paced-{i}"),
            commission(burst + i),
        )
        .await;
    }
    wait_for(&seen, before + paced).await;
    let mut latencies: Vec<f64> = seen.lock().unwrap_or_else(|p| p.into_inner())[before..]
        .iter()
        .map(|(_, created, received)| {
            (*received - *created).num_microseconds().unwrap_or(0) as f64 / 1000.0
        })
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let (median, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));

    // Every event once.
    let ids: std::collections::BTreeSet<String> = seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(id, _, _)| id.clone())
        .collect();
    assert_eq!(ids.len(), burst + paced, "each event delivered once");

    // The baseline: the same receiver, signed POSTs of a delivery's size, in order.
    let sample = serde_json::to_string(&json!({"id": "evt_0", "type": "commission.recorded", "created_at": chrono::Utc::now(), "data": commission(0)}))
        .expect("json");
    let raw_client = reqwest::Client::new();
    let raw_n = burst.min(5_000);
    let raw_started = Instant::now();
    for _ in 0..raw_n {
        let signature = tenant_webhooks::signing::sign(
            &[&secret],
            chrono::Utc::now().timestamp(),
            sample.as_bytes(),
        );
        raw_client
            .post(&url)
            .header("content-type", "application/json")
            .header(tenant_webhooks::signing::SIGNATURE_HEADER, signature)
            .body(sample.clone())
            .send()
            .await
            .expect("raw post");
    }
    let raw_rate = raw_n as f64 / raw_started.elapsed().as_secs_f64();
    running.shutdown().await.expect("shutdown");

    let ratio = rate / raw_rate * 100.0;
    let met = ratio >= 25.0 && p99 <= 1000.0;
    println!(
        "burst: {burst} commissions committed and delivered in {burst_seconds:.2} s: {rate:.0} deliveries/s"
    );
    println!("paced: {paced} at 50/s: commit to delivery median {median:.1} ms, p99 {p99:.1} ms");
    println!("baseline: {raw_n} signed POSTs to the same receiver in order: {raw_rate:.0}/s");
    println!(
        "SUMMARY|webhook deliveries through the local stack, one endpoint|{rate:.0} deliveries/s ({ratio:.0}% of raw); commit to delivery at 50/s: median {median:.0} ms, p99 {p99:.0} ms|signed POSTs to the receiver in order: {raw_rate:.0}/s|>= 25% of raw, p99 <= 1 s|{}",
        if met { "MET" } else { "MISSED" }
    );
}
