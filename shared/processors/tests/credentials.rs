//! Each tenant's processor credentials from its own Secrets Manager secret
//! (on the AWS emulator), used against a local server speaking Stripe's API
//! that answers only to the key it is given: a tenant's items go through its
//! own platform account, a tenant without a secret has no processor, a
//! malformed secret is an error that names the field and never the value,
//! and a rotated secret is used once the cached one expires.

mod support;

use std::time::Duration;

use aws_emulator::Emulator;
use ledger_app::payouts::{ProcessorError, ProcessorPorts, TenantProcessors};
use ledger_domain::{Currency, PayoutMethod, Processor, TenantId};
use processors::credentials::{Credentials, Settings, TenantSecrets, secret_name};
use support::order;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PREFIX: &str = "payouts/test/";

fn tenant(id: &str) -> TenantId {
    TenantId::new(id).unwrap()
}

async fn put_secret(client: &aws_sdk_secretsmanager::Client, tenant: &str, json: &str) {
    let name = secret_name(PREFIX, &TenantId::new(tenant).unwrap());
    if client
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .is_ok()
    {
        client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(json)
            .send()
            .await
            .unwrap();
    } else {
        client
            .create_secret()
            .name(&name)
            .secret_string(json)
            .send()
            .await
            .unwrap();
    }
}

fn stripe_key(key: &str) -> String {
    serde_json::json!({ "stripe": { "secret_key": key } }).to_string()
}

/// A transfer answered only for requests signed with `key`.
async fn transfer_for_key(server: &MockServer, key: &str, transfer: &str) {
    Mock::given(method("POST"))
        .and(path("/v1/transfers"))
        .and(header("Authorization", format!("Bearer {key}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": transfer,
            "object": "transfer",
            "amount": 1000,
            "currency": "eur",
            "destination": "acct_1MTfjCQ9PRzxEwkZ",
            "reversed": false
        })))
        .mount(server)
        .await;
}

fn settings(server: &MockServer) -> Settings {
    Settings {
        stripe_api_base: Some(format!("{}/", server.uri())),
        ..Settings::default()
    }
}

/// The reference of a Stripe payment made through `tenant`'s processors.
async fn pay_by_stripe(secrets: &TenantSecrets, tenant_id: &str, item: &str) -> String {
    let registry = secrets.for_tenant(&tenant(tenant_id)).await.unwrap();
    let Some(ProcessorPorts::Api { submit, .. }) = registry.ports(Processor::Stripe) else {
        panic!("{tenant_id} has no Stripe");
    };
    let mut order = order(
        item,
        "10.00",
        Currency::EUR,
        PayoutMethod::Stripe {
            account_id: "acct_1MTfjCQ9PRzxEwkZ".into(),
        },
    );
    order.tenant_id = tenant(tenant_id);
    match submit.submit(&order).await.unwrap() {
        ledger_app::payouts::PaymentStatus::Paid { reference } => reference,
        other => panic!("not paid: {other:?}"),
    }
}

#[tokio::test]
async fn each_tenant_pays_from_its_own_account_and_a_tenant_without_a_secret_has_none() {
    processors::install_crypto_provider();
    let emulator = Emulator::start().unwrap();
    let client = aws_sdk_secretsmanager::Client::new(&emulator.sdk_config());
    let stripe = MockServer::start().await;
    transfer_for_key(&stripe, "sk_test_acme", "tr_acme").await;
    transfer_for_key(&stripe, "sk_test_globex", "tr_globex").await;
    put_secret(&client, "acme", &stripe_key("sk_test_acme")).await;
    put_secret(&client, "globex:eu", &stripe_key("sk_test_globex")).await;
    let secrets = TenantSecrets::new(
        client.clone(),
        PREFIX,
        settings(&stripe),
        Duration::from_secs(300),
    );

    assert_eq!(pay_by_stripe(&secrets, "acme", "pb-1.1").await, "tr_acme");
    // A ':' in the tenant id is written '@' in the secret's name.
    assert_eq!(
        secret_name(PREFIX, &tenant("globex:eu")),
        "payouts/test/globex@eu"
    );
    assert_eq!(
        pay_by_stripe(&secrets, "globex:eu", "pb-1.2").await,
        "tr_globex"
    );

    // A secret without a part: no such processor (its items fail back to
    // available), never another tenant's or the deployment's account.
    put_secret(
        &client,
        "hooli",
        &serde_json::json!({"paypal": {"client_id": "id", "secret": "s"}}).to_string(),
    )
    .await;
    let hooli = secrets.for_tenant(&tenant("hooli")).await.unwrap();
    for processor in [Processor::Stripe, Processor::Sepa] {
        assert!(hooli.ports(processor).is_none(), "{processor:?}");
    }
    assert!(hooli.ports(Processor::Paypal).is_some());
    // No secret at all: not answered, so the payout waits (retried, then
    // dead-lettered), never failed.
    let Err(ProcessorError::Unknown(reason)) = secrets.for_tenant(&tenant("initech")).await else {
        panic!("a tenant without a secret was answered");
    };
    assert!(reason.contains("payouts/test/initech"), "{reason}");
    // Each key was used for its own tenant's request only.
    let requests = stripe.received_requests().await.unwrap();
    let keys: Vec<_> = requests
        .iter()
        .map(|r| r.headers.get("authorization").unwrap().to_str().unwrap())
        .collect();
    assert_eq!(keys, ["Bearer sk_test_acme", "Bearer sk_test_globex"]);
}

#[tokio::test]
async fn a_rotated_secret_is_used_once_the_cached_one_expires() {
    processors::install_crypto_provider();
    let emulator = Emulator::start().unwrap();
    let client = aws_sdk_secretsmanager::Client::new(&emulator.sdk_config());
    let stripe = MockServer::start().await;
    transfer_for_key(&stripe, "sk_test_old", "tr_old").await;
    transfer_for_key(&stripe, "sk_test_new", "tr_new").await;
    put_secret(&client, "acme", &stripe_key("sk_test_old")).await;

    let cached = TenantSecrets::new(
        client.clone(),
        PREFIX,
        settings(&stripe),
        Duration::from_secs(300),
    );
    let fresh = TenantSecrets::new(client.clone(), PREFIX, settings(&stripe), Duration::ZERO);
    assert_eq!(pay_by_stripe(&cached, "acme", "pb-2.1").await, "tr_old");
    assert_eq!(pay_by_stripe(&fresh, "acme", "pb-2.2").await, "tr_old");

    put_secret(&client, "acme", &stripe_key("sk_test_new")).await;
    // Within its time to live the cached key is still used; read again,
    // the new one is, without a restart.
    assert_eq!(pay_by_stripe(&cached, "acme", "pb-2.3").await, "tr_old");
    assert_eq!(pay_by_stripe(&fresh, "acme", "pb-2.4").await, "tr_new");
}

#[tokio::test]
async fn a_malformed_secret_is_an_error_naming_the_field_never_the_value() {
    let emulator = Emulator::start().unwrap();
    let client = aws_sdk_secretsmanager::Client::new(&emulator.sdk_config());
    let stripe = MockServer::start().await;
    let secrets = TenantSecrets::new(client.clone(), PREFIX, settings(&stripe), Duration::ZERO);
    let cases = [
        (
            r#"{"stripe": {"secret_kee": "sk_live_LEAK"}}"#,
            "unknown field `secret_kee`",
        ),
        (r#"{"stripe": "sk_live_LEAK"}"#, "at `stripe`: must be text"),
        (
            r#"{"paypal": {"client_id": "LEAK"}}"#,
            "missing field `secret`",
        ),
        (
            r#"{"stripe": {"secret_key": "sk_live_LEAK""#,
            "not valid JSON",
        ),
        (
            r#"{"sepa": {"debtor_name": "Acme", "debtor_iban": "DE00LEAK"}}"#,
            "sepa: debtor",
        ),
        // A blank webhook secret would let anyone sign for the tenant.
        (
            r#"{"stripe": {"secret_key": "sk_live_LEAK", "webhook_secrets": ["whsec_LEAK", " "]}}"#,
            "at `stripe.webhook_secrets[1]`: must not be blank",
        ),
        (
            r#"{"paypal": {"client_id": "", "secret": "LEAK"}}"#,
            "at `paypal.client_id`: must not be blank",
        ),
        (
            r#"{"stripe": {"secret_key": "sk_live_LEAK", "account_id": "sk_live_LEAK"}}"#,
            "at `stripe.account_id`: must be a Stripe account id",
        ),
    ];
    for (json, expected) in cases {
        put_secret(&client, "acme", json).await;
        let Err(ProcessorError::Invalid(reason)) = secrets.for_tenant(&tenant("acme")).await else {
            panic!("{json} was accepted");
        };
        assert!(reason.contains(expected), "{json}: {reason}");
        assert!(reason.contains("payouts/test/acme"), "{reason}");
        assert!(!reason.contains("LEAK"), "{json}: {reason}");
    }
}

#[tokio::test]
async fn a_function_that_never_pays_by_file_builds_no_sepa_part() {
    let emulator = Emulator::start().unwrap();
    let client = aws_sdk_secretsmanager::Client::new(&emulator.sdk_config());
    let sepa = serde_json::json!({"sepa": {"debtor_name": "Acme Media GmbH", "debtor_iban": "DE89370400440532013000"}});
    put_secret(&client, "acme", &sepa.to_string()).await;
    // The dispatcher needs where files go: without it the secret is refused.
    let dispatcher =
        TenantSecrets::new(client.clone(), PREFIX, Settings::default(), Duration::ZERO);
    let Err(ProcessorError::Invalid(reason)) = dispatcher.for_tenant(&tenant("acme")).await else {
        panic!("SEPA without a file store was built");
    };
    assert!(reason.contains("SEPA needs"), "{reason}");
    // The poller and the webhooks never write files: the part is left out.
    let poller = TenantSecrets::new(
        client,
        PREFIX,
        Settings::default().without_sepa(),
        Duration::ZERO,
    );
    let registry = poller.for_tenant(&tenant("acme")).await.unwrap();
    assert!(registry.ports(Processor::Sepa).is_none());
}

#[test]
fn credentials_are_never_printed() {
    let credentials = Credentials::from_json(
        r#"{"stripe": {"secret_key": "sk_live_SECRET"}, "paypal": {"client_id": "id", "secret": "SECRET"}}"#,
    )
    .unwrap();
    let printed = format!("{credentials:?}");
    assert!(!printed.contains("SECRET"), "{printed}");
    assert!(printed.contains("stripe: true"), "{printed}");
    assert!(
        Credentials::from_json(r#"{"stripe": {"secret_key": "x"}} trailing"#)
            .unwrap_err()
            .contains("text after")
    );
}

/// The accounts a tenant's payouts go out from, as its credentials name
/// them: each item's first attempt records one, and an attempt from another
/// is held (the dispatch tests show it). A key without an account id names
/// none; PayPal's app is named by its client id.
#[test]
fn the_credentials_name_the_accounts_payouts_go_out_from() {
    use ledger_app::payouts::{ProcessorPorts, ProcessorRegistry};
    let named = |json: &str| {
        let credentials = Credentials::from_json(json).unwrap();
        let processors =
            processors::Processors::build(&Settings::default().without_sepa(), &credentials)
                .unwrap();
        [Processor::Stripe, Processor::Paypal].map(|p| match processors.ports(p) {
            Some(ProcessorPorts::Api { submit, .. }) => submit.paying_account(),
            _ => None,
        })
    };
    assert_eq!(
        named(
            r#"{"stripe": {"secret_key": "sk_live_1", "account_id": "acct_1Platform"}, "paypal": {"client_id": "AppOne", "secret": "s"}}"#
        ),
        [
            Some("stripe acct_1Platform".to_owned()),
            Some("paypal AppOne".to_owned())
        ]
    );
    assert_eq!(
        named(r#"{"stripe": {"secret_key": "sk_live_1"}}"#),
        [None, None]
    );
}
