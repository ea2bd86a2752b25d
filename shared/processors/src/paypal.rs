//! PayPal Payouts over HTTP with typed requests and responses.
//!
//! One payout per item: `sender_batch_id` and the `PayPal-Request-Id`
//! header are the item's key, `sender_item_id` its id. PayPal keeps both
//! for 30 days: a repeated request is answered with the original response,
//! or refused because the `sender_batch_id` was used, with a link to the
//! original payout. Either way a retry after an unknown outcome never pays
//! twice, and a refusal of that kind leads to the original batch.
//!
//! Status lookup. PayPal reads payouts only by its own ids
//! (`GET /v1/payments/payouts/{payout_batch_id}`, which lists the items and
//! their `transaction_status`). To find the batch of an item from its
//! `sender_batch_id`, the adapter sends a create request that can pay no
//! one: the item's `sender_batch_id` with an empty `items` list (the schema
//! requires at least one item) and no `PayPal-Request-Id`. PayPal refuses a
//! used `sender_batch_id` with a link to the original payout, whose details
//! are then read; a `sender_batch_id` never used is refused as invalid, which
//! means "no such payout". Should PayPal check the items before the
//! `sender_batch_id`, a paid item reads as "no such payout": the dispatcher
//! then repeats the original request, which PayPal answers with (or refuses
//! with a link to) the original payout, and the poller leaves the item for
//! later; neither pays twice or releases money.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use ledger_app::payouts::{
    FetchPaymentStatus, PaymentOrder, PaymentStatus, ProcessorError, SubmitPayment,
};
use ledger_domain::PayoutMethod;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// PayPal's live API.
pub const PAYPAL_LIVE: &str = "https://api-m.paypal.com";
/// PayPal's limit on `sender_item_id`.
pub const SENDER_ITEM_ID_LEN_MAX: usize = 63;
/// How long one call may take before its outcome counts as unknown.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutAmount {
    /// A decimal string with the currency's decimals.
    pub value: String,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderBatchHeader {
    pub sender_batch_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_subject: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutItem {
    pub recipient_type: String,
    pub amount: PayoutAmount,
    pub receiver: String,
    pub sender_item_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `POST /v1/payments/payouts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatePayout {
    pub sender_batch_header: SenderBatchHeader,
    pub items: Vec<PayoutItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BatchHeader {
    pub payout_batch_id: String,
    pub batch_status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreatePayoutResponse {
    pub batch_header: BatchHeader,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaypalError {
    pub name: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub debug_id: Option<String>,
    #[serde(default)]
    pub details: Vec<PaypalErrorDetail>,
    #[serde(default)]
    pub links: Vec<Link>,
}

/// One detail of a PayPal error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaypalErrorDetail {
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub issue: String,
    /// On a used `sender_batch_id`: the original payout.
    #[serde(default)]
    pub link: Vec<Link>,
}

/// A HATEOAS link.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Link {
    pub href: String,
    #[serde(default)]
    pub rel: Option<String>,
}

impl PaypalError {
    /// Whether PayPal refused a `sender_batch_id` it has already paid out
    /// under (`USER_BUSINESS_ERROR`, detail field `SENDER_BATCH_ID`, "Batch
    /// with given sender_batch_id already exists"). A validation error of
    /// the field (too long, say) is not that.
    pub fn is_used_sender_batch_id(&self) -> bool {
        if matches!(self.name.as_str(), "VALIDATION_ERROR" | "INVALID_REQUEST") {
            return false;
        }
        self.details.iter().any(|d| {
            let field = d.field.as_deref().unwrap_or_default();
            let field = field.rsplit(['/', '.']).next().unwrap_or_default();
            let issue = d.issue.to_ascii_lowercase();
            (field.eq_ignore_ascii_case("sender_batch_id") || issue.contains("sender_batch_id"))
                && (issue.contains("already") || issue.contains("duplicate"))
        })
    }

    /// The original payout's `payout_batch_id`, from the links of the error
    /// or of its details. Only the id is taken: the adapter reads it from its
    /// own API base, never from a host named in an answer.
    pub fn original_batch_id(&self) -> Option<String> {
        self.details
            .iter()
            .flat_map(|d| d.link.iter())
            .chain(self.links.iter())
            .find_map(|link| batch_id_from_href(&link.href))
    }
}

/// The longest `payout_batch_id` accepted (PayPal's are 30 at most).
const BATCH_ID_LEN_MAX: usize = 64;

/// `…/v1/payments/payouts/{payout_batch_id}` -> the id, when it is made of
/// letters, digits, `-` and `_` only (it goes into a path).
fn batch_id_from_href(href: &str) -> Option<String> {
    let url = reqwest::Url::parse(href).ok()?;
    let id = url.path().strip_prefix("/v1/payments/payouts/")?;
    let valid = !id.is_empty()
        && id.len() <= BATCH_ID_LEN_MAX
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| id.to_owned())
}

/// `GET /v1/payments/payouts/{payout_batch_id}`: the batch and its items.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PayoutBatch {
    pub batch_header: PayoutBatchHeader,
    #[serde(default)]
    pub items: Vec<PayoutBatchItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PayoutBatchHeader {
    pub payout_batch_id: String,
    pub batch_status: String,
    #[serde(default)]
    pub sender_batch_header: Option<SentBatchHeader>,
}

/// The sender's header, as PayPal shows it back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SentBatchHeader {
    #[serde(default)]
    pub sender_batch_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PayoutBatchItem {
    #[serde(default)]
    pub payout_item_id: Option<String>,
    /// SUCCESS, FAILED, PENDING, UNCLAIMED, RETURNED, ONHOLD, BLOCKED,
    /// REFUNDED or REVERSED.
    #[serde(default)]
    pub transaction_status: Option<String>,
    pub payout_item: PayoutItemDetail,
    #[serde(default)]
    pub errors: Option<ItemError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PayoutItemDetail {
    #[serde(default)]
    pub sender_item_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ItemError {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// What an item's `transaction_status` means for the ledger.
/// - `SUCCESS`: paid;
/// - `FAILED`, `RETURNED`, `REFUNDED`, `REVERSED`, `BLOCKED`: failed, the
///   money comes back (`reason` says why);
/// - `UNCLAIMED`: still pending: PayPal returns unclaimed money after 30
///   days, and the item then reads `RETURNED`;
/// - `PENDING`, `ONHOLD`, `UNPROCESSED`, and any status PayPal may add:
///   still pending (nothing moves).
pub fn item_status(
    transaction_status: &str,
    reference: &str,
    errors: Option<&ItemError>,
) -> PaymentStatus {
    let reference = reference.to_owned();
    match transaction_status {
        "SUCCESS" => PaymentStatus::Paid { reference },
        "FAILED" | "RETURNED" | "REFUNDED" | "REVERSED" | "BLOCKED" => {
            let detail = errors
                .map(|e| {
                    format!(
                        ": {}: {}",
                        e.name.as_deref().unwrap_or_default(),
                        e.message.as_deref().unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            PaymentStatus::Failed {
                reference: Some(reference),
                reason: format!("paypal item {transaction_status}{detail}"),
            }
        }
        "UNCLAIMED" | "PENDING" | "ONHOLD" | "UNPROCESSED" => PaymentStatus::Accepted { reference },
        other => {
            tracing::warn!(
                status = other,
                "unknown paypal transaction_status, read as pending"
            );
            PaymentStatus::Accepted { reference }
        }
    }
}

/// What a create request was answered.
enum CreateAnswer {
    Created(CreatePayoutResponse),
    /// The `sender_batch_id` was used: the original payout's id.
    Used(String),
    Refused(reqwest::StatusCode, PaypalError),
}

#[derive(Debug, Clone, Deserialize)]
struct Token {
    access_token: String,
    expires_in: u64,
}

/// PayPal Payouts, or a test server speaking its API.
pub struct PaypalPayouts {
    http: reqwest::Client,
    base_url: String,
    client_id: String,
    secret: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for PaypalPayouts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaypalPayouts")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn unknown(e: reqwest::Error) -> ProcessorError {
    ProcessorError::Unknown(format!("paypal: {e}"))
}

/// A lookup that could not be made proves nothing about the payment.
fn as_unknown(e: ProcessorError) -> ProcessorError {
    match e {
        ProcessorError::Invalid(m) => ProcessorError::Unknown(m),
        unknown => unknown,
    }
}

impl PaypalPayouts {
    pub fn new(base_url: &str, client_id: &str, secret: &str) -> Result<Self, ProcessorError> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| ProcessorError::Invalid(format!("paypal client: {e}")))?;
        Ok(PaypalPayouts {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            token: Mutex::new(None),
        })
    }

    async fn token(&self) -> Result<String, ProcessorError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let response = self
            .http
            .post(format!("{}/v1/oauth2/token", self.base_url))
            .basic_auth(&self.client_id, Some(&self.secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(unknown)?;
        let status = response.status();
        if !status.is_success() {
            let e = ProcessorError::Invalid(format!("paypal token: HTTP {status}"));
            return Err(if status.is_server_error() {
                ProcessorError::Unknown(e.to_string())
            } else {
                e
            });
        }
        let token: Token = response.json().await.map_err(unknown)?;
        // Renew a minute early.
        let until = Instant::now() + Duration::from_secs(token.expires_in.saturating_sub(60));
        *cached = Some((token.access_token.clone(), until));
        Ok(token.access_token)
    }

    /// The API base this adapter sends its credentials to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Posts JSON with the OAuth token; the answer's JSON. A 5xx or a
    /// transport error is an unknown outcome.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ProcessorError> {
        self.post_json_text(path, body.to_string()).await
    }

    /// Posts a JSON text exactly as given (for a body that must carry bytes
    /// verbatim); as `post_json` otherwise.
    pub async fn post_json_text(
        &self,
        path: &str,
        body: String,
    ) -> Result<serde_json::Value, ProcessorError> {
        let token = self.token().await?;
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(unknown)?;
        let status = response.status();
        if status.is_server_error() {
            return Err(ProcessorError::Unknown(format!(
                "paypal {path}: HTTP {status}"
            )));
        }
        if !status.is_success() {
            return Err(ProcessorError::Invalid(format!(
                "paypal {path}: HTTP {status}"
            )));
        }
        response.json().await.map_err(unknown)
    }

    /// PayPal's item webhooks carry only `sender_item_id`: it names the
    /// tenant and the item, so a notice finds its item. `/` is in no id.
    pub fn sender_item_id(order: &PaymentOrder) -> Result<String, ProcessorError> {
        let sender_item_id = format!("{}/{}", order.tenant_id, order.item_id);
        if sender_item_id.len() > SENDER_ITEM_ID_LEN_MAX {
            return Err(ProcessorError::Invalid(format!(
                "tenant and item id are longer than PayPal's {SENDER_ITEM_ID_LEN_MAX}-character sender_item_id"
            )));
        }
        Ok(sender_item_id)
    }

    /// The status lookup's request: the item's `sender_batch_id` and no
    /// item, so PayPal can create nothing from it.
    pub fn lookup_request_for(order: &PaymentOrder) -> serde_json::Value {
        serde_json::json!({
            "sender_batch_header": {"sender_batch_id": order.idempotency_key},
            "items": [],
        })
    }

    /// `POST /v1/payments/payouts`, with `PayPal-Request-Id` when given.
    async fn create(
        &self,
        body: &serde_json::Value,
        request_id: Option<&str>,
    ) -> Result<CreateAnswer, ProcessorError> {
        let token = self.token().await?;
        let mut request = self
            .http
            .post(format!("{}/v1/payments/payouts", self.base_url))
            .bearer_auth(token)
            .json(body);
        if let Some(id) = request_id {
            request = request.header("PayPal-Request-Id", id);
        }
        let response = request.send().await.map_err(unknown)?;
        let status = response.status();
        if status.is_success() {
            let created: CreatePayoutResponse = response.json().await.map_err(unknown)?;
            return Ok(CreateAnswer::Created(created));
        }
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(ProcessorError::Unknown(format!(
                "paypal payouts: HTTP {status}"
            )));
        }
        let error: PaypalError = response.json().await.unwrap_or(PaypalError {
            name: "UNKNOWN".to_owned(),
            message: String::new(),
            debug_id: None,
            details: Vec::new(),
            links: Vec::new(),
        });
        if error.is_used_sender_batch_id() {
            return match error.original_batch_id() {
                Some(id) => Ok(CreateAnswer::Used(id)),
                // It exists, and PayPal did not say where.
                None => Err(ProcessorError::Unknown(format!(
                    "paypal {status} {}: the sender_batch_id was used, without a link to its payout",
                    error.name
                ))),
            };
        }
        Ok(CreateAnswer::Refused(status, error))
    }

    /// What became of an order's item in the payout batch `batch_id`
    /// (`GET /v1/payments/payouts/{batch_id}`). PayPal said the batch
    /// exists, so every answer short of the item's status is unknown.
    pub async fn batch_status(
        &self,
        order: &PaymentOrder,
        batch_id: &str,
    ) -> Result<PaymentStatus, ProcessorError> {
        let sender_item_id = Self::sender_item_id(order)?;
        let token = self.token().await.map_err(as_unknown)?;
        let response = self
            .http
            .get(format!("{}/v1/payments/payouts/{batch_id}", self.base_url))
            .bearer_auth(token)
            .send()
            .await
            .map_err(unknown)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProcessorError::Unknown(format!(
                "paypal payout {batch_id}: HTTP {status}"
            )));
        }
        let batch: PayoutBatch = response.json().await.map_err(unknown)?;
        let header = &batch.batch_header;
        let sent = header
            .sender_batch_header
            .as_ref()
            .and_then(|h| h.sender_batch_id.as_deref());
        if sent.is_some_and(|id| id != order.idempotency_key) {
            return Err(ProcessorError::Unknown(format!(
                "paypal payout {batch_id} has sender_batch_id {sent:?}, not {:?}",
                order.idempotency_key
            )));
        }
        let reference = header.payout_batch_id.clone();
        let item = batch
            .items
            .iter()
            .find(|i| i.payout_item.sender_item_id.as_deref() == Some(sender_item_id.as_str()));
        match item {
            Some(item) => Ok(item_status(
                item.transaction_status.as_deref().unwrap_or("PENDING"),
                &reference,
                item.errors.as_ref(),
            )),
            None if header.batch_status == "DENIED" => Ok(PaymentStatus::Failed {
                reference: Some(reference),
                reason: "paypal denied the payout".to_owned(),
            }),
            None => Err(ProcessorError::Unknown(format!(
                "paypal payout {batch_id} ({}) lists no item {sender_item_id}",
                header.batch_status
            ))),
        }
    }

    /// The request this adapter sends for an order.
    pub fn request_for(order: &PaymentOrder) -> Result<CreatePayout, ProcessorError> {
        let PayoutMethod::Paypal { receiver } = &order.method else {
            return Err(ProcessorError::Invalid(
                "not a PayPal payout method".to_owned(),
            ));
        };
        let recipient_type = if receiver.contains('@') {
            "EMAIL"
        } else {
            "PAYPAL_ID"
        };
        let sender_item_id = Self::sender_item_id(order)?;
        Ok(CreatePayout {
            sender_batch_header: SenderBatchHeader {
                sender_batch_id: order.idempotency_key.clone(),
                email_subject: Some("You have an affiliate payout".to_owned()),
            },
            items: vec![PayoutItem {
                recipient_type: recipient_type.to_owned(),
                amount: PayoutAmount {
                    value: order.amount.amount().to_string(),
                    currency: order.amount.currency().code().to_owned(),
                },
                receiver: receiver.clone(),
                sender_item_id,
                note: Some(format!("Payout {}", order.batch_id)),
            }],
        })
    }
}

#[async_trait]
impl SubmitPayment for PaypalPayouts {
    async fn submit(&self, order: &PaymentOrder) -> Result<PaymentStatus, ProcessorError> {
        let body = serde_json::to_value(Self::request_for(order)?)
            .map_err(|e| ProcessorError::Invalid(format!("paypal request: {e}")))?;
        let (status, error) = match self.create(&body, Some(&order.idempotency_key)).await? {
            CreateAnswer::Created(created) => {
                let reference = created.batch_header.payout_batch_id;
                return Ok(match created.batch_header.batch_status.as_str() {
                    "DENIED" => PaymentStatus::Failed {
                        reference: Some(reference),
                        reason: "paypal denied the payout".to_owned(),
                    },
                    _ => PaymentStatus::Accepted { reference },
                });
            }
            // An earlier attempt did reach PayPal: that payout is the answer.
            CreateAnswer::Used(batch_id) => return self.batch_status(order, &batch_id).await,
            CreateAnswer::Refused(status, error) => (status, error),
        };
        let PaypalError { name, message, .. } = error;
        if name.contains("DUPLICATE") {
            // A duplicate means an earlier attempt did reach PayPal.
            return Err(ProcessorError::Unknown(format!(
                "paypal {status} {name}: {message}"
            )));
        }
        match name.as_str() {
            "INSUFFICIENT_FUNDS"
            | "RECEIVER_UNREGISTERED"
            | "RECEIVER_ACCOUNT_LOCKED"
            | "CURRENCY_NOT_SUPPORTED_FOR_RECEIVER" => Ok(PaymentStatus::Failed {
                reference: None,
                reason: format!("paypal {name}: {message}"),
            }),
            _ => Err(ProcessorError::Invalid(format!(
                "paypal {status} {name}: {message}"
            ))),
        }
    }
}

#[async_trait]
impl FetchPaymentStatus for PaypalPayouts {
    /// Finds the item's payout by its `sender_batch_id` with a request that
    /// can create nothing (see the module's notes), then reads the item's
    /// `transaction_status`. `None`: PayPal has no payout under that key.
    /// Every answer that proves nothing either way is unknown, never a
    /// refusal: a lookup must not fail an item that may have been paid.
    async fn status(&self, order: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError> {
        let PayoutMethod::Paypal { .. } = &order.method else {
            return Err(ProcessorError::Invalid(
                "not a PayPal payout method".to_owned(),
            ));
        };
        Self::sender_item_id(order)?;
        // A submitted item carries PayPal's payout batch id: read it.
        if let Some(batch_id) = &order.reference {
            return self.batch_status(order, batch_id).await.map(Some);
        }
        let answer = self
            .create(&Self::lookup_request_for(order), None)
            .await
            .map_err(as_unknown)?;
        match answer {
            CreateAnswer::Used(batch_id) => self.batch_status(order, &batch_id).await.map(Some),
            // Refused as invalid: nothing was ever paid under this key.
            CreateAnswer::Refused(status, error)
                if status.as_u16() == 400
                    && matches!(error.name.as_str(), "VALIDATION_ERROR" | "INVALID_REQUEST") =>
            {
                Ok(None)
            }
            CreateAnswer::Refused(status, error) => Err(ProcessorError::Unknown(format!(
                "paypal status lookup: {status} {}: {}",
                error.name, error.message
            ))),
            CreateAnswer::Created(created) => {
                // PayPal accepted a payout with no item: nothing can be paid
                // from it, but the key is now taken. Someone must look.
                tracing::error!(batch = %created.batch_header.payout_batch_id, key = %order.idempotency_key, "paypal accepted an empty status lookup payout");
                Err(ProcessorError::Unknown(format!(
                    "paypal accepted the status lookup as payout {}",
                    created.batch_header.payout_batch_id
                )))
            }
        }
    }
}
