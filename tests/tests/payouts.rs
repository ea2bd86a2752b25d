//! The payout flow end to end over the local stack's HTTP, on the embedded
//! store and on DynamoDB in the emulator: commissions mature, finance sets
//! payout methods, a maker drafts, the maker's own approval is refused, a
//! second person approves, and dispatch pays through the sandbox (settled
//! or failed, the failed money back on the balance) and writes the SEPA
//! file. Bad input gets a problem naming the field and changes nothing.

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_stack::{Backend, database_path, local_processors, mint_token, signing_key, start_full};
use serde_json::{Value, json};

mod support;
use support::{HttpClient, call, eventually};

async fn flow(backend: Backend, dir: &std::path::Path) {
    let key = signing_key(dir).unwrap();
    let files = dir.join("files");
    let processors = std::sync::Arc::new(local_processors(Some(&files)).unwrap());
    let inbox = files.join("sepa-status").join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let running = start_full(
        backend,
        key.clone(),
        0,
        processors.clone(),
        Some(files.clone()),
    )
    .await
    .unwrap();
    let base = format!("http://{}", running.address);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let token = |role: &str, who: &str| mint_token(&key, "acme", role, who, None).unwrap();
    let (ingest, maria, omar) = (
        token("ingest", "tracking"),
        token("finance-maker", "maria"),
        token("finance-approver", "omar"),
    );
    let anna = mint_token(&key, "acme", "affiliate", "u-anna", Some("aff-anna")).unwrap();

    // Commissions with no hold period: they mature on the next maturing run.
    let occurred = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let commissions: Vec<Value> = [
        ("c-a", "aff-anna", "100.00"),
        ("c-b", "aff-ben", "50.00"),
        ("c-d", "aff-dora", "42.10"),
        ("c-e", "aff-eve", "10.00"),
        ("c-f", "aff-fay", "30.00"),
    ]
    .iter()
    .map(|(id, affiliate, amount)| {
        json!({"commission_id": id, "affiliate_id": affiliate, "amount": amount, "currency": "EUR",
               "conversion_id": format!("conv-{id}"), "hold_period_days": 0, "occurred_at": occurred})
    })
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

    // Payout methods. A bad IBAN is refused, naming the field, and changes nothing.
    let method = |affiliate: &str| format!("{base}/v1/affiliates/{affiliate}/payout-method");
    let (status, body) = call(
        &client,
        "PUT",
        &method("aff-dora"),
        &maria,
        Some(json!({"method": {"processor": "sepa", "iban": "DE89 3704 0044 0532 0130 01", "account_holder": "Dora Lee"}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "method.iban", "{body}");
    let (status, body) = call(
        &client,
        "GET",
        &format!("{base}/v1/affiliates/aff-dora/payout-profile"),
        &maria,
        None,
    )
    .await;
    assert_eq!((status, &body["method"]), (200, &Value::Null), "{body}");
    // An affiliate cannot set its own bank details here; an approver cannot either.
    for who in [&anna, &omar] {
        let (status, _) = call(
            &client,
            "PUT",
            &method("aff-anna"),
            who,
            Some(json!({"method": {"processor": "sandbox", "behaviour": "settle"}})),
        )
        .await;
        assert_eq!(status, 403);
    }
    for (affiliate, m) in [
        (
            "aff-anna",
            json!({"processor": "sandbox", "behaviour": "settle"}),
        ),
        (
            "aff-ben",
            json!({"processor": "sandbox", "behaviour": "fail"}),
        ),
        (
            "aff-dora",
            // A name outside the SEPA set is kept; the file carries its conversion.
            json!({"processor": "sepa", "iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX", "account_holder": "Dora Müller & Söhne"}),
        ),
        (
            "aff-eve",
            json!({"processor": "sandbox", "behaviour": "timeout_then_settle"}),
        ),
        (
            "aff-fay",
            json!({"processor": "sandbox", "behaviour": "return_after_paid"}),
        ),
    ] {
        let (status, body) = call(
            &client,
            "PUT",
            &method(affiliate),
            &maria,
            Some(json!({"method": m})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, body) = call(
        &client,
        "GET",
        &format!("{base}/v1/affiliates/aff-dora/payout-profile"),
        &maria,
        None,
    )
    .await;
    assert_eq!(
        body["method"], "sepa DE** **** 3000",
        "bank details are masked"
    );

    // Wait until the commissions matured and were projected, then draft.
    let runs = format!("{base}/v1/payout-runs");
    let (_, bad) = call(
        &client,
        "POST",
        &runs,
        &maria,
        Some(json!({"max_batches": 0})),
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "max_batches", "{bad}");
    let (_, forbidden) = call(&client, "POST", &runs, &omar, Some(json!({}))).await;
    assert_eq!(forbidden["status"], 403);
    let report = eventually(30, || async {
        let (status, body) = call(
            &client,
            "POST",
            &runs,
            &maria,
            Some(json!({"currency": "EUR"})),
        )
        .await;
        match status {
            201 if body["items"] == 5 => Some(body),
            // Not matured or not projected yet: nothing drafted, or the
            // draft sequence ahead of the projection.
            200 | 409 => None,
            _ => panic!("unexpected {status} {body}"),
        }
    })
    .await;
    let batch_id = report["batches"][0]["batch_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(report["batches"][0]["totals"][0]["amount"], "232.10");
    let batch_url = format!("{base}/v1/payout-batches/{batch_id}");

    // Four eyes: the maker cannot approve; the approver can, once.
    let (status, body) = call(
        &client,
        "POST",
        &format!("{batch_url}/approve"),
        &maria,
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(
        &client,
        "POST",
        &format!("{batch_url}/approve"),
        &omar,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dispatch_messages"], 5);
    let (status, _) = call(
        &client,
        "POST",
        &format!("{batch_url}/approve"),
        &omar,
        None,
    )
    .await;
    assert_eq!(status, 409, "approving an approved batch");
    let (status, _) = call(
        &client,
        "POST",
        &format!("{batch_url}/reject"),
        &omar,
        Some(json!({"reason": "too late"})),
    )
    .await;
    assert_eq!(status, 409, "rejecting an approved batch");

    // Dispatch: anna paid, ben failed, dora in the SEPA file, eve paid once
    // after a timeout.
    let items = eventually(30, || async {
        let (_, body) = call(&client, "GET", &batch_url, &omar, None).await;
        let items = body["items"].as_array()?.clone();
        // Settled, except SEPA transfers, which stay submitted until the
        // bank's status report (submit and outcome are two writes).
        // fay's payment comes back by the sandbox's signed notification.
        items
            .iter()
            .all(|i| {
                i["status"] != "awaiting"
                    && (i["status"] != "submitted" || i["processor"] == "sepa")
                    && (i["affiliate_id"] != "aff-fay" || i["status"] == "returned")
            })
            .then_some(items)
    })
    .await;
    let status_of = |affiliate: &str| {
        items
            .iter()
            .find(|i| i["affiliate_id"] == affiliate)
            .map(|i| i["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(status_of("aff-anna"), "paid");
    assert_eq!(status_of("aff-ben"), "failed");
    assert_eq!(status_of("aff-dora"), "submitted");
    assert_eq!(status_of("aff-eve"), "paid");
    assert_eq!(status_of("aff-fay"), "returned");
    let sandbox = processors.sandbox.as_ref().unwrap();
    assert_eq!(
        sandbox.payments().len(),
        3,
        "anna, eve and fay, each paid once"
    );
    let file = files.join(format!("sepa/acme/{batch_id}/pain.001-EUR.xml"));
    let xml = std::fs::read_to_string(&file).unwrap();
    assert!(
        xml.contains(r#"<InstdAmt Ccy="EUR">42.10</InstdAmt>"#),
        "{xml}"
    );
    assert!(xml.contains("<Nm>Dora Mueller + Soehne</Nm>"), "{xml}");
    // The bank's status report settles dora's transfer.
    let dora_item = items
        .iter()
        .find(|i| i["affiliate_id"] == "aff-dora")
        .unwrap()["item_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let report = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>
<GrpHdr><MsgId>STS-1</MsgId><CreDtTm>2026-11-20T09:00:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>acme/{batch_id}/pain.001-EUR</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId></OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><TxInfAndSts><OrgnlEndToEndId>{dora_item}</OrgnlEndToEndId><TxSts>ACSC</TxSts></TxInfAndSts></OrgnlPmtInfAndSts>
</CstmrPmtStsRpt></Document>"#
    );
    // A report for a message this stack never issued is quarantined with
    // the rule, and dora's transfer stays submitted.
    let forged = report.replace(&format!("acme/{batch_id}/"), "acme/pb-999999/");
    std::fs::write(inbox.join("status-0.xml"), forged).unwrap();
    let reason = files.join("sepa-status/failed/status-0.xml.reason.txt");
    eventually(30, || async { reason.exists().then_some(()) }).await;
    let reason = std::fs::read_to_string(&reason).unwrap();
    assert!(
        reason.contains("is not a pain.001 this system issued"),
        "{reason}"
    );
    let quarantined = std::fs::read_dir(files.join("sepa-quarantine"))
        .unwrap()
        .count();
    assert_eq!(quarantined, 1, "the quarantine record, for finance");
    let (_, body) = call(&client, "GET", &batch_url, &omar, None).await;
    let dora = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["affiliate_id"] == "aff-dora")
        .unwrap()
        .clone();
    assert_eq!(dora["status"], "submitted", "{dora}");
    std::fs::write(inbox.join("status-1.xml"), report).unwrap();
    eventually(30, || async {
        let (_, body) = call(&client, "GET", &batch_url, &omar, None).await;
        let dora = body["items"]
            .as_array()?
            .iter()
            .find(|i| i["affiliate_id"] == "aff-dora")?
            .clone();
        (dora["status"] == "paid").then_some(())
    })
    .await;
    assert!(files.join("sepa-status/done/status-1.xml").exists());

    // Balances: anna paid out, ben's money back on available.
    let balances = |affiliate: &'static str| {
        let (client, base, maria) = (client.clone(), base.clone(), maria.clone());
        async move {
            let (_, body) = call(
                &client,
                "GET",
                &format!("{base}/v1/affiliates/{affiliate}/balances"),
                &maria,
                None,
            )
            .await;
            body["balances"][0].clone()
        }
    };
    eventually(30, || async {
        let (a, b, f) = (
            balances("aff-anna").await,
            balances("aff-ben").await,
            balances("aff-fay").await,
        );
        (a["paid_out"] == "100.00"
            && b["available"] == "50.00"
            && b["reserved"] == "0.00"
            && f["available"] == "30.00"
            && f["paid_out"] == "0.00")
            .then_some(())
    })
    .await;
    assert!(running.dispatch.dead_letters().is_empty());
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft_approve_dispatch_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = event_store_sqlite::SqliteEventStore::open(database_path(dir.path())).unwrap();
    flow(Backend::Embedded(store), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft_approve_dispatch_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::aws(&emulator.sdk_config(), "pay-", true)
        .await
        .unwrap();
    flow(backend, dir.path()).await;
}
