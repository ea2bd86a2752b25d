//! Processor notifications through the webhook routes and the SEPA status
//! file handler, with the signed samples of `events/webhooks/`, on the
//! embedded store and on DynamoDB: every signature failure is refused and
//! writes nothing; every status maps; duplicates are recorded once; late
//! news never moves money backwards; a failure after payment puts the money
//! back once; an unknown item is acknowledged and kept for finance; and no
//! byte sequence panics the handlers.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use event_store::EventStore;
use http_body_util::BodyExt;
use ledger_app::payouts::{
    DraftOptions, MemoryQueue, ProcessorError, approve_batch, change_profile, draft_payouts,
};
use ledger_app::run_commission;
use ledger_domain::events::ApprovalAuthority;
use ledger_domain::payout::ItemStatus;
use ledger_domain::profile::SandboxBehaviour;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, ApprovalLimits, CommandContext, CommissionCommand, CommissionId,
    Currency, ItemOutcome, Money, PayoutMethod, PayoutRunId, ProfileChange, TenantId,
};
use processor_webhooks::{WebhookState, router};
use processors::webhooks::{PaypalTransmission, PaypalVerifier, stripe_signature_header};
use serde_json::Value;
use tower::ServiceExt;

/// The samples' signing time, and the secrets they were signed with.
const SIGNED_AT: i64 = 1_795_168_800;
const STRIPE_SECRET: &str = "whsec_test_7c1d0f525b7e4d0e9a51";
const SANDBOX_SECRET: &str = "sbx_test_secret_0f52";
const PAYPAL_KEY: &str = "paypal-test-signing-key";
const PAYPAL_WEBHOOK_ID: &str = "8PT597110X687430LKGECATA";

fn sample(name: &str) -> (Vec<(String, String)>, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/webhooks")
        .join(name);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let headers = v["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    (headers, v["body"].as_str().unwrap().to_owned())
}

fn xml(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/webhooks")
            .join(name),
    )
    .unwrap()
}

/// A stand-in for PayPal's certificate check: HMAC over PayPal's documented
/// signed message (`transmission_id|time|webhook_id|crc32(body)`).
struct TestPaypalVerifier;

#[async_trait]
impl PaypalVerifier for TestPaypalVerifier {
    async fn verify(&self, t: &PaypalTransmission, body: &[u8]) -> Result<bool, ProcessorError> {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(PAYPAL_KEY.as_bytes()).unwrap();
        mac.update(t.signed_message(PAYPAL_WEBHOOK_ID, body).as_bytes());
        let Ok(sig) = hex::decode(&t.transmission_sig) else {
            return Ok(false);
        };
        Ok(mac.verify_slice(&sig).is_ok())
    }
}

fn clock() -> i64 {
    SIGNED_AT + 10
}

fn app<S: EventStore + 'static>(store: S) -> axum::Router {
    router(Arc::new(WebhookState {
        store,
        stripe_secrets: vec!["whsec_old_rotated_out".into(), STRIPE_SECRET.into()],
        sandbox_secrets: vec![SANDBOX_SECRET.into()],
        paypal: Some(Arc::new(TestPaypalVerifier)),
        tenants: None,
        clock,
    }))
}

async fn post(
    app: &axum::Router,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> (u16, Value) {
    let mut request = axum::http::Request::builder().method("POST").uri(path);
    for (k, v) in headers {
        request = request.header(k.as_str(), v.as_str());
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn ctx(actor: &str) -> CommandContext {
    let now = chrono::Utc::now();
    CommandContext {
        tenant_id: TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::User, actor).unwrap(),
        now,
        effective_at: now,
    }
}

/// Batch pb-000001: .1 anna (Stripe), .2 ben (PayPal), .3 chloe and .4 dora (SEPA), approved.
async fn approved_batch<S: EventStore>(
    store: &S,
    reads: &dyn event_store::PayoutReads,
    project: impl AsyncFn(),
) {
    let methods = [
        (
            "aff-anna",
            PayoutMethod::Stripe {
                account_id: "acct_1MTfjCQ9PRzxEwkZ".into(),
            },
        ),
        (
            "aff-ben",
            PayoutMethod::Paypal {
                receiver: "ben@example.com".into(),
            },
        ),
        (
            "aff-chloe",
            PayoutMethod::Sepa {
                iban: "DE89370400440532013000".into(),
                bic: None,
                account_holder: "Chloe".into(),
            },
        ),
        (
            "aff-dora",
            PayoutMethod::Sepa {
                iban: "FR1420041010050500013M02606".into(),
                bic: None,
                account_holder: "Dora".into(),
            },
        ),
    ];
    for (affiliate, method) in methods {
        let id = CommissionId::new(format!("c-{affiliate}")).unwrap();
        let mut early = ctx("tracker");
        early.effective_at -= chrono::Duration::hours(1);
        let record = CommissionCommand::Record {
            commission_id: id.clone(),
            affiliate_id: AffiliateId::new(affiliate).unwrap(),
            amount: Money::parse("100.00", Currency::EUR).unwrap(),
            hold_period_days: 0,
            source_conversion_id: format!("conv-{affiliate}"),
            order_reference: None,
        };
        run_commission(store, &id, record, &early, None)
            .await
            .unwrap();
        run_commission(store, &id, CommissionCommand::Mature, &ctx("tracker"), None)
            .await
            .unwrap();
        change_profile(
            store,
            &AffiliateId::new(affiliate).unwrap(),
            ProfileChange::MethodSet { method },
            &ctx("maria"),
        )
        .await
        .unwrap();
    }
    project().await;
    let report = draft_payouts(
        store,
        reads,
        &ctx("maria"),
        &DraftOptions::new(PayoutRunId::new("run-1").unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(report.batches[0].batch_id.as_str(), "pb-000001");
    assert_eq!(report.items, 4);
    approve_batch(
        store,
        &MemoryQueue::default(),
        &report.batches[0].batch_id,
        ApprovalAuthority::Finance,
        &ApprovalLimits::from_json(r#"{"EUR": {"batch_total_max": "1000.00"}}"#).unwrap(),
        &ctx("omar"),
    )
    .await
    .unwrap();
}

/// Writes the batch's pain.001 (pb-000001.3 chloe and .4 dora, 100.00 EUR
/// each) as dispatch does, into `dir`; the payment files' store.
async fn sepa_payment_file(dir: &std::path::Path) -> processors::sepa::FileStore {
    use ledger_app::payouts::{PaymentOrder, SubmitBatchFile};
    let files = processors::sepa::FileStore::Directory(dir.to_owned());
    let debtor = processors::sepa::Debtor::new(
        "Acme Affiliates GmbH",
        "DE02120300000000202051",
        Some("BYLADEM1001"),
    )
    .unwrap();
    let sepa = processors::sepa::SepaFiles::new(debtor, files.clone());
    let (tenant, batch) = (
        TenantId::new("acme").unwrap(),
        ledger_domain::PayoutBatchId::new("pb-000001").unwrap(),
    );
    let orders: Vec<PaymentOrder> = [
        (
            "pb-000001.3",
            "aff-chloe",
            "DE89370400440532013000",
            "Chloe",
        ),
        (
            "pb-000001.4",
            "aff-dora",
            "FR1420041010050500013M02606",
            "Dora",
        ),
    ]
    .into_iter()
    .map(|(item, affiliate, iban, holder)| PaymentOrder {
        tenant_id: tenant.clone(),
        batch_id: batch.clone(),
        item_id: ledger_domain::PayoutItemId::new(item).unwrap(),
        affiliate_id: AffiliateId::new(affiliate).unwrap(),
        amount: Money::parse("100.00", Currency::EUR).unwrap(),
        method: PayoutMethod::Sepa {
            iban: iban.into(),
            bic: None,
            account_holder: holder.into(),
        },
        idempotency_key: format!("acme:{item}"),
        reference: None,
    })
    .collect();
    let key = sepa.file_key(&tenant, &batch, Currency::EUR);
    assert_eq!(key, "sepa/acme/pb-000001/pain.001-EUR.xml");
    assert_eq!(sepa.write(&key, &orders).await.unwrap().len(), 2);
    files
}

async fn event_count<S: EventStore>(store: &S) -> usize {
    let mut n = 0;
    let mut cursor = None;
    loop {
        let page = store.read_all(cursor.as_ref(), 1000).await.unwrap();
        if page.events.is_empty() {
            return n;
        }
        n += page.events.len();
        cursor = Some(page.next);
    }
}

async fn statuses<S: EventStore>(store: &S) -> Vec<ItemStatus> {
    ledger_app::payouts::load_batch(
        store,
        &TenantId::new("acme").unwrap(),
        &ledger_domain::PayoutBatchId::new("pb-000001").unwrap(),
    )
    .await
    .unwrap()
    .state()
    .unwrap()
    .items
    .iter()
    .map(|i| i.status)
    .collect()
}

async fn suite<S: EventStore + Clone + 'static>(
    store: S,
    reads: &dyn event_store::PayoutReads,
    project: impl AsyncFn(),
) {
    approved_batch(&store, reads, &project).await;
    let app = app(store.clone());
    let before = event_count(&store).await;

    // Every signature failure: refused, nothing written.
    let (headers, body) = sample("stripe-transfer-created.json");
    let signature = headers
        .iter()
        .find(|(k, _)| k == "stripe-signature")
        .unwrap()
        .1
        .clone();
    let json = [("content-type".to_owned(), "application/json".to_owned())];
    let with = |sig: &str| {
        vec![
            json[0].clone(),
            ("stripe-signature".to_owned(), sig.to_owned()),
        ]
    };
    for (attack, headers, status) in [
        ("unsigned", json.to_vec(), 400),
        ("malformed", with("garbage"), 400),
        ("no v1", with(&format!("t={SIGNED_AT}")), 400),
        ("bad hex", with(&format!("t={SIGNED_AT},v1=zz")), 400),
        (
            "wrong secret",
            with(&stripe_signature_header(
                "whsec_attacker",
                SIGNED_AT,
                body.as_bytes(),
            )),
            401,
        ),
        (
            "expired",
            with(&stripe_signature_header(
                STRIPE_SECRET,
                SIGNED_AT - 400,
                body.as_bytes(),
            )),
            401,
        ),
        (
            "from the future",
            with(&stripe_signature_header(
                STRIPE_SECRET,
                SIGNED_AT + 400,
                body.as_bytes(),
            )),
            401,
        ),
        (
            "signature of another body",
            with(&stripe_signature_header(STRIPE_SECRET, SIGNED_AT, b"{}")),
            401,
        ),
        (
            "timestamp changed",
            with(&signature.replacen(&SIGNED_AT.to_string(), &(SIGNED_AT + 1).to_string(), 1)),
            401,
        ),
    ] {
        let (got, reply) = post(&app, "/v1/webhooks/stripe", &headers, &body).await;
        assert_eq!(got, status, "{attack}: {reply}");
        assert!(
            reply["type"].as_str().unwrap().starts_with("/problems/"),
            "{attack}"
        );
    }
    // A replay of a genuine notification long after it was signed.
    let late = router(Arc::new(WebhookState {
        store: store.clone(),
        stripe_secrets: vec![STRIPE_SECRET.into()],
        sandbox_secrets: vec![],
        paypal: None,
        tenants: None,
        clock: || SIGNED_AT + 3600,
    }));
    assert_eq!(
        post(&late, "/v1/webhooks/stripe", &headers, &body).await.0,
        401,
        "replayed"
    );
    assert_eq!(
        post(&late, "/v1/webhooks/paypal", &headers, &body).await.0,
        503,
        "paypal not configured"
    );
    // A genuine PayPal transmission replayed an hour later.
    let late_paypal = router(Arc::new(WebhookState {
        store: store.clone(),
        stripe_secrets: vec![],
        sandbox_secrets: vec![],
        paypal: Some(Arc::new(TestPaypalVerifier)),
        tenants: None,
        clock: || SIGNED_AT + 3600,
    }));
    let (ph, pb) = sample("paypal-item-succeeded.json");
    let (status, reply) = post(&late_paypal, "/v1/webhooks/paypal", &ph, &pb).await;
    assert_eq!(status, 401, "{reply}");
    // Several v1 signatures (a rotation): one matching is enough.
    let both = format!("{signature},v1={}", "00".repeat(32));
    let mut tampered = sample("paypal-item-succeeded.json");
    tampered.1 = tampered.1.replace("50.00", "5000.00");
    assert_eq!(
        post(&app, "/v1/webhooks/paypal", &tampered.0, &tampered.1)
            .await
            .0,
        401,
        "paypal body changed"
    );
    let mut no_headers = tampered.0.clone();
    no_headers.retain(|(k, _)| k != "paypal-transmission-sig");
    assert_eq!(
        post(&app, "/v1/webhooks/paypal", &no_headers, &tampered.1)
            .await
            .0,
        400
    );
    assert_eq!(
        event_count(&store).await,
        before,
        "no refused notification wrote anything"
    );

    // Stripe: paid, the same again (a duplicate), then reversed: money back once.
    let (status, reply) = post(&app, "/v1/webhooks/stripe", &with(&both), &body).await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (200, Some("recorded")),
        "{reply}"
    );
    assert_eq!(reply["movement"], "reserved_to_paid");
    let (_, reply) = post(&app, "/v1/webhooks/stripe", &headers, &body).await;
    assert_eq!(reply["status"], "duplicate");
    let (h, b) = sample("stripe-transfer-reversed.json");
    let (_, reply) = post(&app, "/v1/webhooks/stripe", &h, &b).await;
    assert_eq!(reply["movement"], "paid_to_available", "{reply}");
    let (_, reply) = post(&app, "/v1/webhooks/stripe", &h, &b).await;
    assert_eq!(reply["status"], "duplicate");
    let (h, b) = sample("stripe-ignored-type.json");
    assert_eq!(
        post(&app, "/v1/webhooks/stripe", &h, &b).await.1["status"],
        "ignored"
    );
    let (h, b) = sample("stripe-transfer-unknown-item.json");
    assert_eq!(
        post(&app, "/v1/webhooks/stripe", &h, &b).await.1["status"],
        "unmatched"
    );
    assert_eq!(
        post(&app, "/v1/webhooks/stripe", &h, &b).await.1["status"],
        "duplicate"
    );

    // PayPal: failed first; the success that arrives after it is recorded
    // but moves nothing; every later status too.
    let (h, b) = sample("paypal-item-failed.json");
    let (status, reply) = post(&app, "/v1/webhooks/paypal", &h, &b).await;
    assert_eq!(
        (status, &reply["movement"]),
        (200, &Value::from("reserved_to_available")),
        "{reply}"
    );
    for name in [
        "paypal-item-succeeded.json",
        "paypal-item-returned.json",
        "paypal-item-unclaimed.json",
        "paypal-item-blocked.json",
        "paypal-item-refunded.json",
        "paypal-item-reversed.json",
    ] {
        let (h, b) = sample(name);
        let (status, reply) = post(&app, "/v1/webhooks/paypal", &h, &b).await;
        assert_eq!(
            (status, &reply["movement"]),
            (200, &Value::from("none")),
            "{name}: {reply}"
        );
    }

    // SEPA: the pain.001 this system wrote for the batch's SEPA items
    // (chloe .3 and dora .4, 100.00 EUR each) is what status files answer.
    let dir = tempfile::tempdir().unwrap();
    let files = sepa_payment_file(dir.path()).await;
    use ledger_app::payouts::NoticeRecorded;
    use ledger_domain::MoneyMovement;
    use processor_webhooks::SepaFileOutcome;
    let handle = |key: &'static str, bytes: Vec<u8>| {
        let (store, files) = (store.clone(), files.clone());
        async move {
            processor_webhooks::handle_sepa_file(&store, &files, key, &bytes)
                .await
                .unwrap()
        }
    };

    // Files that answer no message this system issued, or not as issued:
    // quarantined whole with the rule, nothing recorded, the record where
    // finance looks.
    let before_sepa = event_count(&store).await;
    let statuses_before = statuses(&store).await;
    for (name, rule) in [
        ("sepa-pain002-unknown-message.xml", "unknown_message"),
        (
            "sepa-pain002-unknown-end-to-end.xml",
            "unknown_end_to_end_id",
        ),
        ("sepa-camt054-wrong-amount.xml", "amount_mismatch"),
    ] {
        let outcome = handle("sepa-status/suspect.xml", xml(name)).await;
        let SepaFileOutcome::Quarantined { key, rejection } = outcome else {
            panic!("{name} was not quarantined: {outcome:?}");
        };
        let written: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(&key)).unwrap()).unwrap();
        assert_eq!(written["rejection"]["rule"], rule, "{name}: {rejection}");
        assert_eq!(written["status"], "quarantined");
        assert_eq!(written["source"], "sepa-status/suspect.xml");
        assert!(key.starts_with("sepa-quarantine/"), "{key}");
    }
    for (name, garbage) in [
        ("not a status file", &b"<Document><Other/></Document>"[..]),
        ("truncated", b"<Document><CstmrPmtStsRpt><OrgnlPmtInfAndSts><TxInfAndSts><TxSts>RJCT</TxSts></TxInfAndSts>"),
    ] {
        let outcome = handle("sepa-status/x.xml", garbage.to_vec()).await;
        assert!(
            matches!(&outcome, SepaFileOutcome::Quarantined { rejection, .. }
                if matches!(rejection, processors::sepa_status::StatusFileRejection::Unreadable { .. })),
            "{name}: {outcome:?}"
        );
    }
    assert_eq!(
        event_count(&store).await,
        before_sepa,
        "no quarantined file recorded anything"
    );
    assert_eq!(statuses(&store).await, statuses_before, "nothing moved");

    // chloe settled, dora rejected; then chloe's transfer returned.
    let recorded = handle("sepa-status/2026-11-20.xml", xml("sepa-pain002-status.xml")).await;
    assert_eq!(
        recorded,
        SepaFileOutcome::Recorded(vec![
            NoticeRecorded::Outcome(MoneyMovement::ReservedToPaid),
            NoticeRecorded::Outcome(MoneyMovement::ReservedToAvailable),
        ])
    );
    let again = handle("sepa-status/2026-11-20.xml", xml("sepa-pain002-status.xml")).await;
    assert_eq!(
        again,
        SepaFileOutcome::Recorded(vec![NoticeRecorded::Duplicate, NoticeRecorded::Duplicate])
    );
    let returned = handle("sepa-status/2026-12-04.xml", xml("sepa-camt054-return.xml")).await;
    assert_eq!(
        returned,
        SepaFileOutcome::Recorded(vec![NoticeRecorded::Outcome(
            MoneyMovement::PaidToAvailable
        )])
    );

    use ledger_domain::payout::ItemStatus::Final;
    assert_eq!(
        statuses(&store).await,
        vec![
            Final(ItemOutcome::Returned),
            Final(ItemOutcome::Failed),
            Final(ItemOutcome::Returned),
            Final(ItemOutcome::Failed),
        ]
    );
    // Every affiliate's money is back on available, exactly once.
    project().await;
    let _ = SandboxBehaviour::Settle;
}

async fn available<S: event_store::PayoutReads + ?Sized>(reads: &S) -> Vec<(String, String)> {
    let page = reads
        .payout_candidates(&TenantId::new("acme").unwrap(), None, 100)
        .await
        .unwrap();
    page.candidates
        .iter()
        .map(|c| (c.affiliate_id.to_string(), c.available.amount().to_string()))
        .collect()
}

#[tokio::test]
async fn notifications_on_the_embedded_store() {
    let store = event_store_sqlite::SqliteEventStore::in_memory().unwrap();
    let project = || {
        let store = store.clone();
        async move { while store.project_ledger(1000).await.unwrap().events > 0 {} }
    };
    suite(store.clone(), &store, &project).await;
    assert_eq!(
        available(&store).await,
        ["aff-anna", "aff-ben", "aff-chloe", "aff-dora"]
            .map(|a| (a.to_owned(), "100.00".to_owned()))
    );
}

#[tokio::test]
async fn sandbox_notifications_take_the_same_path() {
    let store = event_store_sqlite::SqliteEventStore::in_memory().unwrap();
    let app = app(store.clone());
    let (h, b) = sample("sandbox-item-returned.json");
    // No batch pb-000001 here: verified, acknowledged, kept as unmatched.
    let (status, reply) = post(&app, "/v1/webhooks/sandbox", &h, &b).await;
    assert_eq!(
        (status, &reply["status"]),
        (200, &Value::from("unmatched")),
        "{reply}"
    );
    let forged: Vec<(String, String)> = h
        .iter()
        .map(|(k, v)| {
            if k == "sandbox-signature" {
                (
                    k.clone(),
                    stripe_signature_header("nope", SIGNED_AT, b.as_bytes()),
                )
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    assert_eq!(post(&app, "/v1/webhooks/sandbox", &forged, &b).await.0, 401);
}

/// The stand-in verifier, counting the transmissions it is asked about.
struct CountingPaypalVerifier(std::sync::atomic::AtomicUsize);

#[async_trait]
impl PaypalVerifier for CountingPaypalVerifier {
    async fn verify(&self, t: &PaypalTransmission, body: &[u8]) -> Result<bool, ProcessorError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        TestPaypalVerifier.verify(t, body).await
    }
}

#[tokio::test]
async fn paypal_transmissions_stale_or_off_paypal_hosts_are_refused_before_verifying() {
    let verifier = Arc::new(CountingPaypalVerifier(Default::default()));
    let asked = || verifier.0.load(std::sync::atomic::Ordering::SeqCst);
    let store = event_store_sqlite::SqliteEventStore::in_memory().unwrap();
    let at = |clock: fn() -> i64| {
        router(Arc::new(WebhookState {
            store: store.clone(),
            stripe_secrets: vec![],
            sandbox_secrets: vec![],
            paypal: Some(verifier.clone() as Arc<dyn PaypalVerifier>),
            tenants: None,
            clock,
        }))
    };
    let (headers, body) = sample("paypal-item-succeeded.json");
    let with_cert = |cert_url: &str| -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(k, v)| {
                let v = if k == "paypal-cert-url" { cert_url } else { v };
                (k.clone(), v.to_owned())
            })
            .collect()
    };
    // The signature covers no cert_url: only the precheck can refuse these.
    for (cert_url, status) in [
        ("https://paypal.example/v1/notifications/certs/CERT-1", 401),
        (
            "https://api.paypal.com.example/v1/notifications/certs/CERT-1",
            401,
        ),
        ("http://api.paypal.com/v1/notifications/certs/CERT-1", 401),
        ("not a url", 400),
    ] {
        let (got, reply) = post(
            &at(clock),
            "/v1/webhooks/paypal",
            &with_cert(cert_url),
            &body,
        )
        .await;
        assert_eq!(got, status, "{cert_url}: {reply}");
    }
    let late: fn() -> i64 = || SIGNED_AT + 3600;
    assert_eq!(
        post(&at(late), "/v1/webhooks/paypal", &headers, &body)
            .await
            .0,
        401
    );
    assert_eq!(asked(), 0, "nothing was sent to be verified");
    assert_eq!(event_count(&store).await, 0);
    // The genuine transmission is verified once (no batch here: kept).
    let (got, reply) = post(&at(clock), "/v1/webhooks/paypal", &headers, &body).await;
    assert_eq!(
        (got, &reply["status"]),
        (200, &Value::from("unmatched")),
        "{reply}"
    );
    assert_eq!(asked(), 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

    /// Arbitrary bytes and headers never panic the verifiers, the parsers or
    /// the routes; nothing unsigned is ever accepted.
    #[test]
    fn arbitrary_input_never_panics(
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
        signature in ".{0,200}",
        route in 0usize..3,
        xml in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024),
    ) {
        let _ = processors::webhooks::parse_stripe(&body);
        let _ = processors::webhooks::parse_paypal(&body);
        let _ = processors::webhooks::parse_sandbox(&body);
        if let Ok(file) = processors::sepa_status::read_status_file(&xml) {
            let _ = processors::sepa_status::status_notices("fuzz.xml", &file, &Default::default());
        }
        let _ = processors::webhooks::verify_stripe_signature("stripe-signature", Some(&signature), &body, &[STRIPE_SECRET.to_owned()], SIGNED_AT);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let status = runtime.block_on(async {
            let store = event_store_sqlite::SqliteEventStore::in_memory().unwrap();
            let app = app(store);
            let path = ["/v1/webhooks/stripe", "/v1/webhooks/paypal", "/v1/webhooks/sandbox"][route];
            let mut request = axum::http::Request::builder().method("POST").uri(path);
            if let Ok(v) = axum::http::HeaderValue::from_str(&signature) {
                request = request
                    .header("stripe-signature", v.clone())
                    .header("sandbox-signature", v.clone())
                    .header("paypal-transmission-sig", v);
            }
            app.oneshot(request.body(Body::from(body.clone())).unwrap()).await.unwrap().status().as_u16()
        });
        proptest::prop_assert!([400, 401, 413].contains(&status), "status {}", status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let (store, projection) =
        event_store_dynamodb::ledger_on_dynamodb(&emulator.sdk_config(), "hooks-")
            .await
            .unwrap();
    let cursor = std::sync::Mutex::new(None::<event_store::Cursor>);
    let project = || async {
        loop {
            let after = cursor.lock().unwrap().clone();
            let page = store.read_all(after.as_ref(), 1000).await.unwrap();
            if page.events.is_empty() {
                return;
            }
            projection.project(&page.events).await.unwrap();
            *cursor.lock().unwrap() = Some(page.next);
        }
    };
    suite(store.clone(), &projection, &project).await;
    assert_eq!(
        available(&projection).await.len(),
        4,
        "every affiliate's money is back on available"
    );
}

/// Puts a tenant's processor credentials where the deployment keeps them.
async fn put_credentials(client: &aws_sdk_secretsmanager::Client, tenant: &str, json: Value) {
    client
        .create_secret()
        .name(format!("payouts/test/{tenant}"))
        .secret_string(json.to_string())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tenants_own_endpoint_verifies_with_its_own_secret_and_takes_only_its_payouts() {
    let emulator = aws_emulator::Emulator::start().unwrap();
    let client = aws_sdk_secretsmanager::Client::new(&emulator.sdk_config());
    put_credentials(
        &client,
        "acme",
        // Its SEPA part is not built here: this function writes no files.
        serde_json::json!({
            "stripe": {"secret_key": "sk_test_acme", "webhook_secrets": ["whsec_acme_new", "whsec_acme_old"]},
            "sepa": {"debtor_name": "Acme Media GmbH", "debtor_iban": "DE89370400440532013000"}
        }),
    )
    .await;
    put_credentials(
        &client,
        "globex",
        serde_json::json!({"stripe": {"secret_key": "sk_test_globex", "webhook_secrets": ["whsec_globex"]}}),
    )
    .await;
    put_credentials(
        &client,
        "initech",
        serde_json::json!({"stripe": {"secret_key": "sk_test_initech"}}),
    )
    .await;
    let store = event_store_sqlite::SqliteEventStore::in_memory().unwrap();
    let project = || {
        let store = store.clone();
        async move { while store.project_ledger(1000).await.unwrap().events > 0 {} }
    };
    approved_batch(&store, &store, &project).await;
    let app = router(Arc::new(WebhookState {
        store: store.clone(),
        // The deployment has no Stripe endpoint of its own.
        stripe_secrets: Vec::new(),
        sandbox_secrets: Vec::new(),
        paypal: None,
        tenants: Some(Arc::new(processors::credentials::TenantSecrets::new(
            client,
            "payouts/test/",
            processors::credentials::Settings::default().without_sepa(),
            std::time::Duration::from_secs(300),
        ))),
        clock,
    }));
    let before = event_count(&store).await;
    // acme's transfer of pb-000001.1, signed as each tenant's account would.
    let (_, body) = sample("stripe-transfer-created.json");
    let signed = |secret: &str| {
        vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "stripe-signature".to_owned(),
                stripe_signature_header(secret, SIGNED_AT, body.as_bytes()),
            ),
        ]
    };
    for (case, path, secret, status) in [
        // The deployment's endpoint has no secret: unavailable, retried.
        (
            "deployment endpoint",
            "/v1/webhooks/stripe",
            "whsec_acme_old",
            503,
        ),
        (
            "another tenant's secret",
            "/v1/webhooks/stripe/acme",
            "whsec_globex",
            401,
        ),
        // Verified by globex's secret, but it names acme's payout.
        (
            "another tenant's payout",
            "/v1/webhooks/stripe/globex",
            "whsec_globex",
            403,
        ),
        (
            "tenant without a webhook secret",
            "/v1/webhooks/stripe/initech",
            "whsec_acme_old",
            404,
        ),
        (
            "tenant without credentials",
            "/v1/webhooks/stripe/umbrella",
            "whsec_acme_old",
            404,
        ),
        // Stripe's headers on PayPal's endpoint: refused before any lookup.
        (
            "no PayPal transmission",
            "/v1/webhooks/paypal/acme",
            "whsec_acme_old",
            400,
        ),
        (
            "not a tenant id",
            "/v1/webhooks/stripe/bad!id",
            "whsec_acme_old",
            400,
        ),
    ] {
        let (got, reply) = post(&app, path, &signed(secret), &body).await;
        assert_eq!(got, status, "{case}: {reply}");
        assert_eq!(event_count(&store).await, before, "{case}: nothing written");
    }
    let (_, reply) = post(&app, "/v1/webhooks/stripe/bad!id", &signed("x"), &body).await;
    assert!(reply.to_string().contains("tenant_id"), "{reply}");
    // Unsigned: 400 naming the header, before the tenant's secret is read.
    let json = [("content-type".to_owned(), "application/json".to_owned())];
    let (status, reply) = post(&app, "/v1/webhooks/stripe/acme", &json, &body).await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply.to_string().contains("stripe-signature"), "{reply}");
    // A PayPal transmission for a tenant whose credentials have no PayPal
    // webhook: there is no such endpoint.
    let (paypal_headers, paypal_body) = sample("paypal-item-succeeded.json");
    let (status, reply) = post(
        &app,
        "/v1/webhooks/paypal/acme",
        &paypal_headers,
        &paypal_body,
    )
    .await;
    assert_eq!(status, 404, "{reply}");

    // Where the secrets cannot be read at all: a signed notification is
    // 503 (the processor retries); an unsigned one is 400 before any read.
    let unreachable = router(Arc::new(WebhookState {
        store: store.clone(),
        stripe_secrets: Vec::new(),
        sandbox_secrets: Vec::new(),
        paypal: None,
        tenants: Some(Arc::new(processors::credentials::TenantSecrets::new(
            aws_sdk_secretsmanager::Client::new(&aws_emulator::sdk_config_for(
                "http://127.0.0.1:9",
            )),
            "payouts/test/",
            processors::credentials::Settings::default().without_sepa(),
            std::time::Duration::from_secs(300),
        ))),
        clock,
    }));
    let (status, reply) = post(&unreachable, "/v1/webhooks/stripe/acme", &json, &body).await;
    assert_eq!(status, 400, "{reply}");
    let (status, reply) = post(
        &unreachable,
        "/v1/webhooks/stripe/acme",
        &signed("whsec_acme_old"),
        &body,
    )
    .await;
    assert_eq!(status, 503, "{reply}");
    assert_eq!(event_count(&store).await, before);

    // Its own endpoint, with either of its secrets (while Stripe rolls it).
    let (status, reply) = post(
        &app,
        "/v1/webhooks/stripe/acme",
        &signed("whsec_acme_old"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "recorded", "{reply}");
    assert_eq!(statuses(&store).await[0], ItemStatus::Paid);
    let (status, reply) = post(
        &app,
        "/v1/webhooks/stripe/acme",
        &signed("whsec_acme_new"),
        &body,
    )
    .await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (200, Some("duplicate")),
        "{reply}"
    );

    // A transfer acme made by hand in its own account names no tenant: it
    // is kept for acme's finance, under acme, not in the shared stream.
    let (_, unknown) = sample("stripe-transfer-unknown-item.json");
    let mut event: Value = serde_json::from_str(&unknown).unwrap();
    event["id"] = "evt_manual_acme_1".into();
    event["data"]["object"]["metadata"] = serde_json::json!({});
    event["data"]["object"]["transfer_group"] = Value::Null;
    let manual = event.to_string();
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (
            "stripe-signature".to_owned(),
            stripe_signature_header("whsec_acme_new", SIGNED_AT, manual.as_bytes()),
        ),
    ];
    let before_manual = event_count(&store).await;
    let (status, reply) = post(&app, "/v1/webhooks/stripe/acme", &headers, &manual).await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (200, Some("unmatched")),
        "{reply}"
    );
    assert_eq!(event_count(&store).await, before_manual + 1);
    let page = store.read_all(None, 1000).await.unwrap();
    let kept = page.events.last().unwrap();
    assert!(
        kept.stream.as_str().starts_with("acme/"),
        "{}",
        kept.stream.as_str()
    );
}
