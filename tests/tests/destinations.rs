//! Money goes where the approver saw it go, over the local stack's HTTP:
//! every item of a drafted batch shows its masked destination; a payout
//! method changed after drafting is held until someone other than the
//! person who changed it lifts the hold; the item whose destination changed
//! is not paid (its money comes back); and the affiliate's audit trail
//! shows every change with who made it.

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_stack::{Backend, database_path, local_processors, mint_token, signing_key, start_full};
use serde_json::{Value, json};

mod support;
use support::{HttpClient, call, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_destination_is_held_and_the_approved_item_is_not_paid_there() {
    let dir = tempfile::tempdir().unwrap();
    let store = event_store_sqlite::SqliteEventStore::open(database_path(dir.path())).unwrap();
    let key = signing_key(dir.path()).unwrap();
    let files = dir.path().join("files");
    let processors = std::sync::Arc::new(local_processors(Some(&files)).unwrap());
    let running = start_full(
        Backend::Embedded(store),
        key.clone(),
        0,
        processors,
        Some(files),
    )
    .await
    .unwrap();
    let base = format!("http://{}", running.address);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let token = |role: &str, who: &str| mint_token(&key, "acme", role, who, None).unwrap();
    let (ingest, maria, omar, admin) = (
        token("ingest", "tracking"),
        token("finance-maker", "maria"),
        token("finance-approver", "omar"),
        token("admin", "ada"),
    );
    let occurred = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (status, body) = call(
        &client,
        "POST",
        &format!("{base}/v1/commissions"),
        &ingest,
        Some(
            json!({"commission_id": "c-z", "affiliate_id": "aff-zoe", "amount": "75.00",
                    "currency": "EUR", "conversion_id": "conv-z", "hold_period_days": 0,
                    "occurred_at": occurred}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let method_url = format!("{base}/v1/affiliates/aff-zoe/payout-method");
    let (status, body) = call(
        &client,
        "PUT",
        &method_url,
        &maria,
        Some(json!({"method": {"processor": "sandbox", "behaviour": "settle"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let report = eventually(30, || async {
        let (status, body) = call(
            &client,
            "POST",
            &format!("{base}/v1/payout-runs"),
            &maria,
            Some(json!({"currency": "EUR"})),
        )
        .await;
        (status == 201 && body["items"] == 1).then_some(body)
    })
    .await;
    let batch_id = report["batches"][0]["batch_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let batch_url = format!("{base}/v1/payout-batches/{batch_id}");

    // The approver sees where the item pays.
    let (_, batch) = call(&client, "GET", &batch_url, &omar, None).await;
    assert_eq!(
        batch["items"][0]["destination"], "sandbox settle",
        "{batch}"
    );
    assert_eq!(
        batch["items"][0]["destination_fingerprint"]
            .as_str()
            .map(str::len),
        Some(12),
        "{batch}"
    );

    // Between drafting and dispatch, maria points zoe somewhere else.
    let (status, body) = call(
        &client,
        "PUT",
        &method_url,
        &maria,
        Some(json!({"method": {"processor": "sandbox", "behaviour": "return_after_paid"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let profile_url = format!("{base}/v1/affiliates/aff-zoe/payout-profile");
    let (_, profile) = call(&client, "GET", &profile_url, &omar, None).await;
    assert!(
        profile.to_string().contains("method_changed"),
        "a changed method is held: {profile}"
    );
    // She cannot lift her own change's hold.
    let lift_url = format!("{base}/v1/affiliates/aff-zoe/payout-holds/method_changed/lift");
    let (status, body) = call(
        &client,
        "POST",
        &lift_url,
        &maria,
        Some(json!({"note": "I checked it myself"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["type"], "/problems/forbidden", "{body}");

    // omar approves what he saw; dispatch refuses the changed destination.
    let (status, body) = call(
        &client,
        "POST",
        &format!("{batch_url}/approve"),
        &omar,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let item = eventually(30, || async {
        let (_, body) = call(&client, "GET", &batch_url, &omar, None).await;
        let item = body["items"][0].clone();
        (item["status"] != "awaiting").then_some(item)
    })
    .await;
    assert_eq!(item["status"], "failed", "{item}");
    let (_, audit) = call(
        &client,
        "GET",
        &format!("{base}/v1/audit/batches/{batch_id}"),
        &admin,
        None,
    )
    .await;
    assert!(audit.to_string().contains("payout_item.failed"), "{audit}");
    // The money is available again (to be paid to the new destination
    // once a second person lifts the hold).
    let balance = eventually(30, || async {
        let (_, body) = call(
            &client,
            "GET",
            &format!("{base}/v1/affiliates/aff-zoe/balances"),
            &omar,
            None,
        )
        .await;
        let eur = body["balances"]
            .as_array()?
            .iter()
            .find(|b| b["currency"] == "EUR")?
            .clone();
        (eur["available"] == "75.00").then_some(eur)
    })
    .await;
    assert_eq!(balance["reserved"], "0.00", "{balance}");
    let (status, body) = call(
        &client,
        "POST",
        &lift_url,
        &omar,
        Some(json!({"note": "called zoe back on the number we hold"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Who changed what, masked, in the affiliate's audit trail.
    let (status, audit) = call(
        &client,
        "GET",
        &format!("{base}/v1/audit/affiliates/aff-zoe?currency=EUR"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{audit}");
    let changes: Vec<(String, String)> = audit["profile_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"]["id"].as_str().unwrap_or_default().to_owned(),
                e["change"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            ("maria".to_owned(), "method set: sandbox settle".to_owned()),
            (
                "maria".to_owned(),
                "method set: sandbox return_after_paid".to_owned()
            ),
            (
                "omar".to_owned(),
                "hold lifted: method_changed (called zoe back on the number we hold)".to_owned()
            ),
        ],
        "{audit}"
    );
    let _: Value = audit;
    running.shutdown().await.unwrap();
}
