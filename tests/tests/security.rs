//! The security suite: every route of the local stack, over real HTTP, tried
//! as an attacker would, on both backends. Each attempt is refused (or sees
//! only its own tenant), and nothing is written.

use axum::body::Body;
use event_store::EventStore;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ledger_domain::{
    Actor, ActorKind, CommandContext, DraftedItem, Money, PayoutBatchCommand, PayoutBatchId,
    PayoutItemId, Processor,
};
use local_stack::{Backend, DevClaims, mint_token, signing_key, start};
use serde_json::{Value, json};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

async fn call(
    client: &HttpClient,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String) {
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(url)
        .header("idempotency-key", "attack-1");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
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
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn event_count(backend: &Backend) -> usize {
    let page = match backend {
        Backend::Embedded(store) => store.read_all(None, 1000).await,
        Backend::Aws { store, .. } => store.read_all(None, 1000).await,
    };
    page.unwrap().events.len()
}

fn expired(key: &[u8]) -> String {
    let claims = DevClaims {
        iss: "local-stack".into(),
        sub: "old".into(),
        tenant_id: "acme".into(),
        roles: "admin".into(),
        affiliate_id: None,
        exp: chrono::Utc::now().timestamp() - 3600,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap()
}

async fn suite(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(dir.path()).unwrap();
    // Acme's ledger: a commission, and a batch drafted by maria, approved by omar.
    let ctx = |actor: &str| CommandContext {
        tenant_id: ledger_domain::TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::User, actor)
            .unwrap()
            .acting(Some("finance-maker"), Some("req-1"))
            .unwrap(),
        now: chrono::Utc::now(),
        effective_at: chrono::Utc::now(),
    };
    let batch = PayoutBatchId::new("b-1").unwrap();
    let items = vec![DraftedItem {
        item_id: PayoutItemId::new("i-1").unwrap(),
        affiliate_id: ledger_domain::AffiliateId::new("aff-anna").unwrap(),
        amount: Money::parse("1.00", ledger_domain::Currency::EUR).unwrap(),
        receivable_netted: Money::parse("0", ledger_domain::Currency::EUR).unwrap(),
        processor: Processor::Sandbox,
        destination: None,
    }];
    let seed = |backend: &Backend, command, actor: &'static str| {
        let backend = backend.clone();
        let batch = batch.clone();
        async move {
            match &backend {
                Backend::Embedded(store) => {
                    ledger_app::run_payout_batch(store, &batch, command, &ctx(actor), None).await
                }
                Backend::Aws { store, .. } => {
                    ledger_app::run_payout_batch(store, &batch, command, &ctx(actor), None).await
                }
            }
            .unwrap();
        }
    };
    match &backend {
        Backend::Embedded(store) => {
            ledger_app::payouts::draft_batch(store, &ctx("maria"), &batch, items, 0).await
        }
        Backend::Aws { store, .. } => {
            ledger_app::payouts::draft_batch(store, &ctx("maria"), &batch, items, 0).await
        }
    }
    .unwrap();
    // The maker approving her own batch is refused by the one rule that guards it.
    let own = match &backend {
        Backend::Embedded(store) => {
            ledger_app::run_payout_batch(store, &batch, approve(), &ctx("maria"), None).await
        }
        Backend::Aws { store, .. } => {
            ledger_app::run_payout_batch(store, &batch, approve(), &ctx("maria"), None).await
        }
    };
    assert!(matches!(
        own,
        Err(ledger_app::AppError::PayoutBatch(
            ledger_domain::PayoutBatchError::MakerCannotApprove { .. }
        ))
    ));
    seed(&backend, approve(), "omar").await;

    let running = start(backend.clone(), key.clone(), 0).await.unwrap();
    let base = format!("http://{}", running.address);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let commission = json!({"commission_id": "c-1", "affiliate_id": "aff-anna", "amount": "12.50", "currency": "EUR", "conversion_id": "conv-1"});
    let ingest = mint_token(&key, "acme", "ingest", "tracking", None).unwrap();
    assert_eq!(
        call(
            &client,
            "POST",
            &format!("{base}/v1/commissions"),
            Some(&ingest),
            Some(commission.clone())
        )
        .await
        .0,
        201
    );
    // Let the projector catch up so reads have something to leak.
    for _ in 0..100 {
        let anna = mint_token(&key, "acme", "affiliate", "u-anna", Some("aff-anna")).unwrap();
        let (_, body) = call(
            &client,
            "GET",
            &format!("{base}/v1/affiliates/aff-anna/balances"),
            Some(&anna),
            None,
        )
        .await;
        if body.contains("12.50") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let before = event_count(&backend).await;

    let routes: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            format!("{base}/v1/commissions"),
            Some(
                json!({"commission_id": "c-evil", "affiliate_id": "aff-anna", "amount": "999.00", "currency": "EUR", "conversion_id": "conv-evil"}),
            ),
        ),
        (
            "GET",
            format!("{base}/v1/affiliates/aff-anna/balances"),
            None,
        ),
        (
            "GET",
            format!("{base}/v1/affiliates/aff-anna/journal?currency=EUR"),
            None,
        ),
        (
            "GET",
            format!("{base}/v1/audit/affiliates/aff-anna?currency=EUR"),
            None,
        ),
        ("GET", format!("{base}/v1/audit/batches/b-1"), None),
        (
            "POST",
            format!("{base}/local/queues/commissions"),
            Some(
                json!({"commission_id": "c-evil-q", "affiliate_id": "aff-anna", "amount": "999.00", "currency": "EUR", "conversion_id": "conv-evil-q"}),
            ),
        ),
        (
            "GET",
            format!("{base}/local/queues/commissions/dead-letters"),
            None,
        ),
        // Reversals and adjustments: the tracking network's alone.
        (
            "POST",
            format!("{base}/v1/commissions/c-1/reversals"),
            Some(json!({"currency": "EUR", "reason": "chargeback", "reference": "dp_evil"})),
        ),
        (
            "POST",
            format!("{base}/v1/commissions/c-1/adjustments"),
            Some(json!({"delta": "-1.00", "currency": "EUR", "reason": "evil"})),
        ),
        (
            "POST",
            format!("{base}/v1/commission-changes"),
            Some(
                json!({"changes": [{"kind": "reversal", "commission_id": "c-1", "currency": "EUR", "reason": "fraud", "reference": "x"}]}),
            ),
        ),
        // From here on, payouts: no route is open to the tracking network.
        (
            "GET",
            format!("{base}/v1/affiliates/aff-anna/payout-profile"),
            None,
        ),
        (
            "PUT",
            format!("{base}/v1/affiliates/aff-anna/payout-method"),
            Some(json!({"method": {"processor": "paypal", "receiver": "mallory@evil.example"}})),
        ),
        (
            "PUT",
            format!("{base}/v1/affiliates/aff-anna/payout-minimums/EUR"),
            Some(json!({"amount": "0.01"})),
        ),
        (
            "POST",
            format!("{base}/v1/affiliates/aff-anna/payout-holds"),
            Some(json!({"reason": "manual", "note": "x"})),
        ),
        (
            "POST",
            format!("{base}/v1/affiliates/aff-anna/payout-holds/manual/lift"),
            Some(json!({"note": "x"})),
        ),
        ("POST", format!("{base}/v1/payout-runs"), Some(json!({}))),
        ("GET", format!("{base}/v1/payout-batches/b-1"), None),
        (
            "POST",
            format!("{base}/v1/payout-batches/b-1/approve"),
            None,
        ),
        (
            "POST",
            format!("{base}/v1/payout-batches/b-1/reject"),
            Some(json!({"reason": "x"})),
        ),
        (
            "POST",
            format!("{base}/v1/payout-batches/b-1/dispatch"),
            None,
        ),
        (
            "GET",
            format!("{base}/local/queues/dispatch/dead-letters"),
            None,
        ),
        // Finance reads: finance and admins of the tenant only.
        ("GET", format!("{base}/v1/payout-batches"), None),
        (
            "GET",
            format!("{base}/v1/payout-batches/b-1/export.csv"),
            None,
        ),
        ("GET", format!("{base}/v1/liabilities"), None),
        ("GET", format!("{base}/v1/liabilities/export.csv"), None),
    ];
    let forged = mint_token(
        b"an-attacker-key-an-attacker-key!",
        "acme",
        "admin",
        "mallory",
        None,
    )
    .unwrap();
    let wrong_role = |route: usize| -> String {
        // A real token of acme, with a role the route does not allow.
        let role = match route {
            0 => "finance-maker",
            1 | 2 => "ingest",
            3..=6 => "finance-approver",
            7..=9 => "admin",
            _ => "ingest",
        };
        mint_token(&key, "acme", role, "someone", None).unwrap()
    };
    for (i, (method, url, body)) in routes.iter().enumerate() {
        for (attack, token, status) in [
            ("no token", None, 401),
            ("garbage token", Some("not.a.token".to_owned()), 401),
            ("expired token", Some(expired(&key)), 401),
            ("forged signature", Some(forged.clone()), 401),
            ("wrong role", Some(wrong_role(i)), 403),
        ] {
            let (got, reply) = call(&client, method, url, token.as_deref(), body.clone()).await;
            assert_eq!(got, status, "{attack} on {method} {url}: {reply}");
            assert!(
                reply.contains("application/problem+json")
                    || reply.contains("\"type\":\"/problems/"),
                "{attack}: {reply}"
            );
        }
    }
    // An affiliate reading another affiliate, or the audit trail.
    let ben = mint_token(&key, "acme", "affiliate", "u-ben", Some("aff-ben")).unwrap();
    for (_, url, _) in routes.iter().filter(|(method, _, _)| *method == "GET") {
        assert_eq!(
            call(&client, "GET", url, Some(&ben), None).await.0,
            403,
            "{url}"
        );
    }
    // Another tenant's admin sees nothing of acme, whatever the query says.
    let globex = mint_token(&key, "globex", "admin", "gina", None).unwrap();
    for (_, url, _) in routes.iter().filter(|(method, _, _)| *method == "GET") {
        let url = if url.contains('?') {
            format!("{url}&tenant_id=acme")
        } else {
            format!("{url}?tenant_id=acme")
        };
        let (status, reply) = call(&client, "GET", &url, Some(&globex), None).await;
        assert!(
            status == 200 || status == 404 || status == 422,
            "{url}: {status} {reply}"
        );
        assert!(
            !reply.contains("12.50") && !reply.contains("acme/") && !reply.contains("maria"),
            "{url} leaked: {reply}"
        );
    }
    // Role and tenant escalation through the body is refused.
    for field in ["tenant_id", "roles", "actor"] {
        let mut body = routes[0].2.clone().unwrap();
        body[field] = json!("admin");
        let (status, reply) = call(&client, "POST", &routes[0].1, Some(&ingest), Some(body)).await;
        assert_eq!(status, 422, "{field}: {reply}");
        assert!(reply.contains(field), "{reply}");
    }
    assert_eq!(
        event_count(&backend).await,
        before,
        "no attack wrote anything"
    );

    // The admin lists who did what to the batch and to the affiliate.
    let admin = mint_token(&key, "acme", "admin", "ada", None).unwrap();
    let (status, reply) = call(&client, "GET", &routes[4].1, Some(&admin), None).await;
    assert_eq!(status, 200, "{reply}");
    let audit: Value = serde_json::from_str(&reply).unwrap();
    let actors: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(actors, vec!["maria", "omar"]);
    assert_eq!(audit["entries"][0]["actor"]["request_id"], "req-1");
    let (status, reply) = call(&client, "GET", &routes[3].1, Some(&admin), None).await;
    assert_eq!(status, 200, "{reply}");
    let audit: Value = serde_json::from_str(&reply).unwrap();
    let posted = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "commission.recorded")
        .expect("the posted commission");
    assert_eq!(
        (
            posted["actor"]["id"].as_str(),
            posted["actor"]["role"].as_str()
        ),
        (Some("tracking"), Some("ingest"))
    );
    assert!(
        posted["actor"]["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("local-")),
        "{posted}"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_attackers_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        event_store_sqlite::SqliteEventStore::open(dir.path().join("ledger.sqlite")).unwrap();
    suite(Backend::Embedded(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_attackers_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    suite(
        Backend::aws(&emulator.sdk_config(), "sec-", true)
            .await
            .unwrap(),
    )
    .await;
}

fn approve() -> PayoutBatchCommand {
    PayoutBatchCommand::Approve {
        authority: ledger_domain::events::ApprovalAuthority::Finance,
        limits: ledger_domain::ApprovalLimits::from_json(r#"{"EUR": {"batch_total_max": "1000000.00"}, "USD": {"batch_total_max": "1000000.00"}, "JPY": {"batch_total_max": "100000000"}, "KWD": {"batch_total_max": "1000000.000"}}"#).expect("test limits"),
        approved_today: Vec::new(),
    }
}
