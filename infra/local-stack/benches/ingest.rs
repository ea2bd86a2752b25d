//! Bulk ingest over HTTP through the local stack's real router and handler
//! (token check, JSON parsing, validation, the ingest use case with its
//! idempotency record, the embedded store; its projector running beside
//! it, as in the product), driven by an in-process load generator: four
//! clients posting bodies of 99 commissions (the most a body takes), each
//! with its own `Idempotency-Key`. Printed beside the embedded append of the
//! same commissions in the same run: the store's `append_transaction` of 99
//! prepared appends at a time, nothing else. Each side gets a fresh data
//! directory; the two alternate, best of two each. Every answer is checked:
//! every commission recorded, none a duplicate, nothing lost.
//!
//! `COMMISSIONS` (default 49,500) sets the size.

mod common;

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use common::{env_size, percentile};
use event_store::{AppendRequest, EventStore};
use event_store_sqlite::SqliteEventStore;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, Commission, CommissionCommand, CommissionId,
    Currency, Money, TenantId,
};
use local_stack::{Backend, database_path, mint_token, signing_key, start};
use serde_json::{Value, json};

/// The most commissions one body takes.
const BODY: usize = 99;
const CLIENTS: usize = 4;
const ROUNDS: usize = 2;

fn commission(i: usize) -> Value {
    json!({"commission_id": format!("c-{i}"), "affiliate_id": format!("aff-{}", i % 1000),
           "amount": format!("{}.{:02}", 1 + i % 100, i % 100), "currency": "EUR",
           "conversion_id": format!("conv-{i}"), "hold_period_days": 30})
}

/// The same commissions as the store's appends, decided up front.
fn prepared(n: usize) -> Vec<AppendRequest> {
    let tenant = TenantId::new("acme").expect("tenant");
    let t0 = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    (0..n)
        .map(|i| {
            let ctx = CommandContext {
                tenant_id: tenant.clone(),
                actor: Actor::new(ActorKind::Service, "tracking").expect("actor"),
                now: t0 + Duration::milliseconds(i as i64),
                effective_at: t0,
            };
            let command = CommissionCommand::Record {
                commission_id: CommissionId::new(format!("c-{i}")).expect("id"),
                affiliate_id: AffiliateId::new(format!("aff-{}", i % 1000)).expect("id"),
                amount: Money::from_minor(100 + (i as i64 % 10_000), Currency::EUR).expect("money"),
                hold_period_days: 30,
                source_conversion_id: format!("conv-{i}"),
                order_reference: None,
            };
            let events = Commission::default()
                .handle(command, &ctx)
                .expect("decided");
            AppendRequest::from_domain(0, &events).expect("request")
        })
        .collect()
}

async fn embedded_append(n: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteEventStore::open(database_path(dir.path())).expect("store");
    let mut requests = prepared(n);
    let started = Instant::now();
    while !requests.is_empty() {
        let rest = requests.split_off(requests.len().min(BODY));
        let batch = std::mem::replace(&mut requests, rest);
        let written = store.append_transaction(batch).await.expect("append");
        assert!(written.iter().all(|w| !w.duplicate));
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Commissions per second over HTTP, and each request's latency (ms).
async fn over_http(n: usize) -> (f64, Vec<f64>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = signing_key(dir.path()).expect("key");
    let store = SqliteEventStore::open(database_path(dir.path())).expect("store");
    let running = start(Backend::Embedded(store), key.clone(), 0)
        .await
        .expect("stack");
    let url = format!("http://{}/v1/commissions", running.address);
    let token = mint_token(&key, "acme", "ingest", "tracking", None).expect("token");
    let bodies: Vec<(usize, String)> = (0..n)
        .collect::<Vec<_>>()
        .chunks(BODY)
        .enumerate()
        .map(|(b, chunk)| {
            let commissions: Vec<Value> = chunk.iter().map(|i| commission(*i)).collect();
            (b, json!({ "commissions": commissions }).to_string())
        })
        .collect();
    let shares: Vec<Vec<(usize, String)>> = (0..CLIENTS)
        .map(|c| bodies.iter().skip(c).step_by(CLIENTS).cloned().collect())
        .collect();
    let started = Instant::now();
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let (url, token) = (url.clone(), token.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut latencies = Vec::with_capacity(share.len());
                let mut recorded = 0usize;
                for (b, body) in share {
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .header("idempotency-key", format!("bulk-{b}"))
                        .body(body)
                        .send()
                        .await
                        .expect("post");
                    assert_eq!(response.status().as_u16(), 201, "a bulk body is recorded");
                    let answer: Value = response.json().await.expect("answer");
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    recorded += answer["results"].as_array().map_or(0, |r| {
                        r.iter().filter(|c| c["status"] == "recorded").count()
                    });
                }
                (recorded, latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut recorded = 0;
    for task in tasks {
        let (r, l) = task.await.expect("client");
        recorded += r;
        latencies.extend(l);
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    assert_eq!(recorded, n, "every commission recorded, none lost");
    running.shutdown().await.expect("shutdown");
    (rate, latencies)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n = env_size("COMMISSIONS", 49_500);
    let (mut best_append, mut best_http, mut best_latencies) = (0.0_f64, 0.0_f64, Vec::new());
    for round in 1..=ROUNDS {
        let append = embedded_append(n).await;
        let (http, latencies) = over_http(n).await;
        println!(
            "round {round}: embedded append {append:.0} commissions/s, bulk HTTP ingest {http:.0} commissions/s"
        );
        best_append = best_append.max(append);
        if http > best_http {
            best_http = http;
            best_latencies = latencies;
        }
    }
    best_latencies.sort_by(|a, b| a.total_cmp(b));
    let (median, p99) = (
        percentile(&best_latencies, 0.5),
        percentile(&best_latencies, 0.99),
    );
    let ratio = best_http / best_append * 100.0;
    println!(
        "bulk HTTP ingest, {n} commissions in bodies of {BODY} from {CLIENTS} clients: {best_http:.0}/s ({ratio:.0}% of the embedded append), request median {median:.1} ms, p99 {p99:.1} ms"
    );
    println!(
        "SUMMARY|bulk HTTP ingest through the local stack (bodies of {BODY}, {CLIENTS} clients)|{best_http:.0} commissions/s ({ratio:.0}% of the append); per request median {median:.0} ms, p99 {p99:.0} ms|embedded append of the same commissions: {best_append:.0}/s|>= 50% of the append|{}",
        if ratio >= 50.0 { "MET" } else { "MISSED" }
    );
}
