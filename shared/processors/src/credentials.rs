//! Whose processor accounts pay a tenant's affiliates.
//!
//! A deployment either pays every tenant from one set of accounts (the
//! environment: `STRIPE_SECRET_KEY`, `PAYPAL_CLIENT_ID` and `PAYPAL_SECRET`,
//! `SEPA_DEBTOR_*`), or each tenant from its own: with
//! `PROCESSOR_SECRETS_PREFIX` set, tenant `t`'s credentials are the JSON of
//! the Secrets Manager secret `{prefix}{t}` (a `:` in the tenant id is
//! written `@`, which names allow and tenant ids do not):
//!
//! ```json
//! {
//!   "stripe": { "secret_key": "sk_live_...", "account_id": "acct_...", "webhook_secrets": ["whsec_..."] },
//!   "paypal": { "client_id": "...", "secret": "...", "webhook_id": "..." },
//!   "sepa": { "debtor_name": "...", "debtor_iban": "...", "debtor_bic": "..." }
//! }
//! ```
//!
//! Each part is optional: a processor a tenant's secret has no part for
//! fails that tenant's items with a clear reason (their money goes back to
//! available); the environment's accounts are never used for it. A tenant
//! without a secret at all has its payouts retried (then dead-lettered and
//! alarmed), not failed: the secret is more likely missing by mistake, and
//! an earlier attempt through it may have paid. A secret is read on the tenant's first payout
//! after a cold start and kept for [`CREDENTIALS_TTL`]; a rotated secret is
//! used from the next read, without a deploy. A secret that cannot be read
//! (throttled, no permission) or is not valid credentials is an error: the
//! payout is retried, never failed, so a person can mend the secret.
//!
//! Stripe's `account_id` (optional, recommended) names the platform account
//! the key belongs to; PayPal's app is named by its `client_id`. An item's
//! first attempt records the account it paid from, and a later attempt from
//! another account is held, never sent (see `SubmitPayment::paying_account`):
//! the other account's idempotency key and status lookup know nothing of the
//! first attempt. A key rotated within the same account keeps its
//! `account_id`, so rotation holds nothing.
//!
//! The webhook parts verify the notifications each tenant's processor
//! accounts send to `/v1/webhooks/stripe/{tenant_id}` and
//! `/v1/webhooks/paypal/{tenant_id}`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ledger_app::payouts::{ProcessorError, RegistryRef, TenantProcessors};
use ledger_domain::TenantId;
use serde::Deserialize;

use crate::Processors;
use crate::paypal::{PAYPAL_LIVE, PaypalEndpointVerifier, PaypalPayouts};
use crate::sandbox::Sandbox;
use crate::sepa::{Debtor, FileStore, SepaFiles};
use crate::stripe::StripeTransfers;
use crate::webhooks::PaypalVerifier;

/// How long a tenant's credentials are kept before they are read again.
pub const CREDENTIALS_TTL: Duration = Duration::from_secs(300);

/// One tenant's (or the deployment's) processor credentials.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[serde(default)]
    pub stripe: Option<StripeCredentials>,
    #[serde(default)]
    pub paypal: Option<PaypalCredentials>,
    #[serde(default)]
    pub sepa: Option<SepaDebtor>,
}

/// A Stripe platform account's secret key, and the signing secrets of the
/// webhook endpoint it sends to (`/v1/webhooks/stripe/{tenant_id}`; two
/// while Stripe rolls the endpoint's secret).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeCredentials {
    pub secret_key: String,
    /// The platform account the key belongs to (`acct_...`).
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub webhook_secrets: Vec<String>,
}

/// A PayPal REST app, and the id of its webhook
/// (`/v1/webhooks/paypal/{tenant_id}`) that transmissions are verified
/// against.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaypalCredentials {
    pub client_id: String,
    pub secret: String,
    #[serde(default)]
    pub webhook_id: Option<String>,
}

/// The account SEPA credit transfers are paid from.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SepaDebtor {
    pub debtor_name: String,
    pub debtor_iban: String,
    #[serde(default)]
    pub debtor_bic: Option<String>,
}

/// Which processors have credentials; never the credentials themselves.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("stripe", &self.stripe.is_some())
            .field("paypal", &self.paypal.is_some())
            .field("sepa", &self.sepa.is_some())
            .finish()
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Credentials {
    /// The deployment's one set, from the environment.
    pub fn from_env() -> Self {
        Credentials {
            // The deployment's webhook secrets are read where they are
            // verified (`STRIPE_WEBHOOK_SECRETS`, `PAYPAL_WEBHOOK_ID`).
            stripe: var("STRIPE_SECRET_KEY").map(|secret_key| StripeCredentials {
                secret_key,
                account_id: var("STRIPE_ACCOUNT_ID"),
                webhook_secrets: Vec::new(),
            }),
            paypal: match (var("PAYPAL_CLIENT_ID"), var("PAYPAL_SECRET")) {
                (Some(client_id), Some(secret)) => Some(PaypalCredentials {
                    client_id,
                    secret,
                    webhook_id: None,
                }),
                _ => None,
            },
            sepa: match (var("SEPA_DEBTOR_NAME"), var("SEPA_DEBTOR_IBAN")) {
                (Some(debtor_name), Some(debtor_iban)) => Some(SepaDebtor {
                    debtor_name,
                    debtor_iban,
                    debtor_bic: var("SEPA_DEBTOR_BIC"),
                }),
                _ => None,
            },
        }
    }

    /// Reads a secret's JSON. The error names the field and the rule, never
    /// a value (serde's own message can quote one, so it is not passed on).
    pub fn from_json(json: &str) -> Result<Self, String> {
        let mut reader = serde_json::Deserializer::from_str(json);
        let credentials = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
            let inner = e.inner().to_string();
            let rule = match e.inner().classify() {
                // These two quote field names only.
                serde_json::error::Category::Data
                    if inner.starts_with("missing field") || inner.starts_with("unknown field") =>
                {
                    inner
                }
                serde_json::error::Category::Data => {
                    "must be text (or, for stripe, paypal and sepa, an object of text fields)"
                        .to_owned()
                }
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    "is not valid JSON".to_owned()
                }
                serde_json::error::Category::Io => "could not be read".to_owned(),
            };
            let path = e.path().to_string();
            if path == "." || path.is_empty() {
                format!("not processor credentials: {rule}")
            } else {
                format!("not processor credentials: at `{path}`: {rule}")
            }
        })?;
        reader
            .end()
            .map_err(|_| "not processor credentials: text after the JSON object".to_owned())?;
        Self::check_values(&credentials)?;
        Ok(credentials)
    }

    /// No value may be blank (an empty webhook secret would let anyone sign
    /// for the tenant, an empty key would be sent as one), and a Stripe
    /// account id must look like one.
    fn check_values(credentials: &Credentials) -> Result<(), String> {
        let mut values: Vec<(String, &str)> = Vec::new();
        if let Some(stripe) = &credentials.stripe {
            values.push(("stripe.secret_key".into(), &stripe.secret_key));
            if let Some(id) = &stripe.account_id {
                values.push(("stripe.account_id".into(), id));
            }
            for (i, secret) in stripe.webhook_secrets.iter().enumerate() {
                values.push((format!("stripe.webhook_secrets[{i}]"), secret));
            }
        }
        if let Some(paypal) = &credentials.paypal {
            values.push(("paypal.client_id".into(), &paypal.client_id));
            values.push(("paypal.secret".into(), &paypal.secret));
            if let Some(id) = &paypal.webhook_id {
                values.push(("paypal.webhook_id".into(), id));
            }
        }
        if let Some(sepa) = &credentials.sepa {
            values.push(("sepa.debtor_name".into(), &sepa.debtor_name));
            values.push(("sepa.debtor_iban".into(), &sepa.debtor_iban));
            if let Some(bic) = &sepa.debtor_bic {
                values.push(("sepa.debtor_bic".into(), bic));
            }
        }
        if let Some((field, _)) = values.iter().find(|(_, v)| v.trim().is_empty()) {
            return Err(format!(
                "not processor credentials: at `{field}`: must not be blank"
            ));
        }
        if let Some(id) = credentials
            .stripe
            .as_ref()
            .and_then(|s| s.account_id.as_deref())
        {
            if !id.starts_with("acct_")
                || id.len() > STRIPE_ACCOUNT_ID_LEN_MAX
                || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(format!(
                    "not processor credentials: at `stripe.account_id`: must be a Stripe account id (acct_ and at most {STRIPE_ACCOUNT_ID_LEN_MAX} letters, digits or _)"
                ));
            }
        }
        Ok(())
    }
}

/// The longest Stripe account id taken (Stripe's ids are far shorter).
pub const STRIPE_ACCOUNT_ID_LEN_MAX: usize = 64;

/// What every tenant shares: the sandbox, the processors' API addresses and
/// where SEPA files go.
#[derive(Clone, Default)]
pub struct Settings {
    pub sandbox: Option<Arc<Sandbox>>,
    /// A test server instead of Stripe's API.
    pub stripe_api_base: Option<String>,
    /// PayPal's API (live unless a sandbox or test server is named).
    pub paypal_api_base: Option<String>,
    pub sepa_files: Option<FileStore>,
    /// This function never pays by file (it polls): a tenant's SEPA part
    /// is not built, so it needs no file store.
    pub skip_sepa: bool,
}

impl Settings {
    /// `SANDBOX_PROCESSOR=enabled`, `STRIPE_API_BASE`, `PAYPAL_API_BASE`, and
    /// `SEPA_FILES_BUCKET` (with the S3 client given) or `SEPA_FILES_DIR`.
    pub fn from_env(s3: Option<aws_sdk_s3::Client>) -> Self {
        Settings {
            sandbox: (var("SANDBOX_PROCESSOR").as_deref() == Some("enabled"))
                .then(|| Arc::new(Sandbox::new())),
            stripe_api_base: var("STRIPE_API_BASE"),
            paypal_api_base: var("PAYPAL_API_BASE"),
            sepa_files: match (var("SEPA_FILES_BUCKET"), var("SEPA_FILES_DIR"), s3) {
                (Some(bucket), _, Some(client)) => Some(FileStore::S3 { client, bucket }),
                (None, Some(dir), _) => Some(FileStore::Directory(PathBuf::from(dir))),
                _ => None,
            },
            skip_sepa: false,
        }
    }

    /// The same, for a function that never pays by file.
    pub fn without_sepa(self) -> Self {
        Settings {
            skip_sepa: true,
            ..self
        }
    }
}

impl Processors {
    /// The adapters `credentials` configure, with what every tenant shares.
    pub fn build(settings: &Settings, credentials: &Credentials) -> Result<Self, String> {
        let mut processors = Processors {
            sandbox: settings.sandbox.clone(),
            ..Processors::default()
        };
        if let Some(stripe) = &credentials.stripe {
            processors.stripe = Some(
                StripeTransfers::new(&stripe.secret_key, settings.stripe_api_base.as_deref())
                    .map_err(|e| format!("stripe: {e}"))?
                    .paying_from(stripe.account_id.clone()),
            );
        }
        if let Some(paypal) = &credentials.paypal {
            let base = settings.paypal_api_base.as_deref().unwrap_or(PAYPAL_LIVE);
            processors.paypal = Some(
                PaypalPayouts::new(base, &paypal.client_id, &paypal.secret)
                    .map_err(|e| format!("paypal: {e}"))?,
            );
        }
        if let Some(sepa) = credentials.sepa.as_ref().filter(|_| !settings.skip_sepa) {
            let debtor = Debtor::new(
                &sepa.debtor_name,
                &sepa.debtor_iban,
                sepa.debtor_bic.as_deref(),
            )
            .map_err(|e| format!("sepa: {e}"))?;
            let Some(store) = settings.sepa_files.clone() else {
                return Err("SEPA needs SEPA_FILES_BUCKET (with S3) or SEPA_FILES_DIR".to_owned());
            };
            processors.sepa = Some(SepaFiles::new(debtor, store));
        }
        Ok(processors)
    }
}

/// The Secrets Manager name of a tenant's credentials.
pub fn secret_name(prefix: &str, tenant: &TenantId) -> String {
    format!("{prefix}{}", tenant.as_str().replace(':', "@"))
}

/// Tenants whose accounts are kept at once; past it, expired entries are
/// dropped, and if none is, all are (a request naming tenants that do not
/// exist cannot grow the cache without bound).
pub const CACHED_TENANTS_MAX: usize = 10_000;

/// What a function builds from a tenant's credentials: its payout
/// adapters ([`TenantPayouts`]) or what its notifications are verified with
/// ([`TenantWebhooks`]). Each function links only what it builds.
pub trait FromCredentials: Send + Sync + Sized + 'static {
    fn from_credentials(settings: &Settings, credentials: &Credentials) -> Result<Self, String>;
}

/// A tenant's payout adapters (the dispatcher, the poller).
pub struct TenantPayouts {
    pub processors: Arc<Processors>,
}

impl FromCredentials for TenantPayouts {
    fn from_credentials(settings: &Settings, credentials: &Credentials) -> Result<Self, String> {
        let processors = Processors::build(settings, credentials)?;
        Ok(TenantPayouts {
            processors: Arc::new(processors),
        })
    }
}

/// What a tenant's processors' notifications are verified with (the
/// webhook function).
pub struct TenantWebhooks {
    /// Its Stripe webhook endpoint's signing secrets (none: no endpoint).
    pub stripe_webhook_secrets: Vec<String>,
    /// Its PayPal webhook's verifier (none: no webhook).
    pub paypal_verifier: Option<Arc<dyn PaypalVerifier>>,
}

impl FromCredentials for TenantWebhooks {
    fn from_credentials(settings: &Settings, credentials: &Credentials) -> Result<Self, String> {
        let paypal_verifier = match &credentials.paypal {
            Some(PaypalCredentials {
                client_id,
                secret,
                webhook_id: Some(webhook_id),
            }) => {
                let base = settings.paypal_api_base.as_deref().unwrap_or(PAYPAL_LIVE);
                let payouts = PaypalPayouts::new(base, client_id, secret)
                    .map_err(|e| format!("paypal: {e}"))?;
                Some(Arc::new(PaypalEndpointVerifier::new(payouts, webhook_id))
                    as Arc<dyn PaypalVerifier>)
            }
            _ => None,
        };
        Ok(TenantWebhooks {
            stripe_webhook_secrets: credentials
                .stripe
                .as_ref()
                .map(|s| s.webhook_secrets.clone())
                .unwrap_or_default(),
            paypal_verifier,
        })
    }
}

/// When a tenant's secret was read, and what it configured (`None`: no
/// secret).
type Cached<T> = (Instant, Option<Arc<T>>);

/// What each tenant's own secret configures (`T`), kept for a while.
pub struct TenantSecrets<T = TenantPayouts> {
    client: aws_sdk_secretsmanager::Client,
    prefix: String,
    settings: Settings,
    ttl: Duration,
    /// `None`: the tenant has no secret (kept too, so a stream of requests
    /// naming a tenant that does not exist costs one read per time to live).
    cache: Mutex<HashMap<TenantId, Cached<T>>>,
}

impl<T: FromCredentials> TenantSecrets<T> {
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        prefix: impl Into<String>,
        settings: Settings,
        ttl: Duration,
    ) -> Self {
        TenantSecrets {
            client,
            prefix: prefix.into(),
            settings,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's accounts, from the cache while fresh, else from its
    /// secret as it is now; `None` when it has no secret.
    pub async fn accounts(&self, tenant: &TenantId) -> Result<Option<Arc<T>>, ProcessorError> {
        if let Some(accounts) = self.cached(tenant) {
            return Ok(accounts);
        }
        let accounts = match self.read(tenant).await? {
            None => None,
            Some(credentials) => {
                let accounts = T::from_credentials(&self.settings, &credentials).map_err(|e| {
                    ProcessorError::Invalid(format!(
                        "secret {}: {e}",
                        secret_name(&self.prefix, tenant)
                    ))
                })?;
                tracing::info!(tenant = %tenant, credentials = ?credentials, "tenant processor credentials read");
                Some(Arc::new(accounts))
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHED_TENANTS_MAX {
            // Tenants without a secret go first, then expired entries.
            cache.retain(|_, (read_at, accounts)| {
                accounts.is_some() && read_at.elapsed() < self.ttl
            });
            if cache.len() >= CACHED_TENANTS_MAX {
                cache.clear();
            }
        }
        cache.insert(tenant.clone(), (Instant::now(), accounts.clone()));
        Ok(accounts)
    }

    fn cached(&self, tenant: &TenantId) -> Option<Option<Arc<T>>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(tenant)
            .filter(|(read_at, _)| read_at.elapsed() < self.ttl)
            .map(|(_, accounts)| accounts.clone())
    }

    /// The tenant's credentials as its secret holds them now (`None`
    /// without a secret).
    async fn read(&self, tenant: &TenantId) -> Result<Option<Credentials>, ProcessorError> {
        let name = secret_name(&self.prefix, tenant);
        let answer = self.client.get_secret_value().secret_id(&name).send().await;
        let value = match answer {
            Ok(value) => value,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                tracing::warn!(tenant = %tenant, secret = %name, "tenant has no processor credentials secret");
                return Ok(None);
            }
            Err(e) => {
                return Err(ProcessorError::Unknown(format!(
                    "read secret {name}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )));
            }
        };
        let Some(json) = value.secret_string() else {
            return Err(ProcessorError::Invalid(format!(
                "secret {name} holds no text (processor credentials are JSON)"
            )));
        };
        Credentials::from_json(json)
            .map(Some)
            .map_err(|e| ProcessorError::Invalid(format!("secret {name}: {e}")))
    }
}

#[async_trait]
impl TenantProcessors for TenantSecrets<TenantPayouts> {
    async fn for_tenant<'a>(
        &'a self,
        tenant: &TenantId,
    ) -> Result<RegistryRef<'a>, ProcessorError> {
        // No secret at all is more likely a secret not created yet (or
        // deleted by mistake) than a tenant paid by no one: its payouts wait
        // (retried, then dead-lettered and alarmed) rather than fail, since
        // an earlier attempt through that account may have paid.
        match self.accounts(tenant).await? {
            Some(accounts) => Ok(RegistryRef::Tenant(accounts.processors.clone())),
            None => Err(ProcessorError::Unknown(format!(
                "tenant {tenant} has no processor credentials (no secret {})",
                secret_name(&self.prefix, tenant)
            ))),
        }
    }
}

/// Each tenant's own accounts, when `PROCESSOR_SECRETS_PREFIX` names where
/// they are kept (`None` without it), read with a Secrets Manager client of
/// `config`.
pub fn tenant_secrets_from_env<T: FromCredentials>(
    config: &aws_config::SdkConfig,
    settings: Settings,
) -> Option<TenantSecrets<T>> {
    var("PROCESSOR_SECRETS_PREFIX").map(|prefix| {
        TenantSecrets::new(
            aws_sdk_secretsmanager::Client::new(config),
            prefix,
            settings,
            CREDENTIALS_TTL,
        )
    })
}

/// The processors of a deployment, as configured by its environment: each
/// tenant's own (`PROCESSOR_SECRETS_PREFIX`), else the environment's one set
/// for every tenant.
pub fn from_env(
    config: &aws_config::SdkConfig,
    settings: Settings,
) -> Result<ProcessorsFor, String> {
    match tenant_secrets_from_env(config, settings.clone()) {
        Some(tenants) => Ok(ProcessorsFor::EachTenant(tenants)),
        None => Ok(ProcessorsFor::Deployment(Box::new(Processors::build(
            &settings,
            &Credentials::from_env(),
        )?))),
    }
}

/// The processors of a deployment: one set for every tenant, or each
/// tenant's own.
pub enum ProcessorsFor {
    Deployment(Box<Processors>),
    EachTenant(TenantSecrets),
}

impl std::fmt::Debug for ProcessorsFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcessorsFor::Deployment(p) => f.debug_tuple("Deployment").field(p).finish(),
            ProcessorsFor::EachTenant(s) => f
                .debug_struct("EachTenant")
                .field("prefix", &s.prefix)
                .field("ttl", &s.ttl)
                .finish(),
        }
    }
}

#[async_trait]
impl TenantProcessors for ProcessorsFor {
    async fn for_tenant<'a>(
        &'a self,
        tenant: &TenantId,
    ) -> Result<RegistryRef<'a>, ProcessorError> {
        match self {
            ProcessorsFor::Deployment(processors) => processors.as_ref().for_tenant(tenant).await,
            ProcessorsFor::EachTenant(secrets) => secrets.for_tenant(tenant).await,
        }
    }
}
