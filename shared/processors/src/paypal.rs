//! PayPal Payouts over HTTP with typed requests and responses.
//!
//! One payout per item: `sender_batch_id` and the `PayPal-Request-Id`
//! header are the item's key, `sender_item_id` its id. PayPal keeps request
//! ids for 30 days and answers a repeated request with the original
//! response, so a retry after an unknown outcome never pays twice.

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

    /// Posts JSON with the OAuth token; the answer's JSON. A 5xx or a
    /// transport error is an unknown outcome.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ProcessorError> {
        let token = self.token().await?;
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .json(body)
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
        // PayPal's item webhooks carry only `sender_item_id`: it names the
        // tenant and the item, so a notice finds its item. `/` is in no id.
        let sender_item_id = format!("{}/{}", order.tenant_id, order.item_id);
        if sender_item_id.len() > SENDER_ITEM_ID_LEN_MAX {
            return Err(ProcessorError::Invalid(format!(
                "tenant and item id are longer than PayPal's {SENDER_ITEM_ID_LEN_MAX}-character sender_item_id"
            )));
        }
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
        let body = Self::request_for(order)?;
        let token = self.token().await?;
        let response = self
            .http
            .post(format!("{}/v1/payments/payouts", self.base_url))
            .bearer_auth(token)
            .header("PayPal-Request-Id", &order.idempotency_key)
            .json(&body)
            .send()
            .await
            .map_err(unknown)?;
        let status = response.status();
        if status.is_success() {
            let created: CreatePayoutResponse = response.json().await.map_err(unknown)?;
            let reference = created.batch_header.payout_batch_id;
            return Ok(match created.batch_header.batch_status.as_str() {
                "DENIED" => PaymentStatus::Failed {
                    reference: Some(reference),
                    reason: "paypal denied the payout".to_owned(),
                },
                _ => PaymentStatus::Accepted { reference },
            });
        }
        let error: Option<PaypalError> = response.json().await.ok();
        let (name, message) = error
            .map(|e| (e.name, e.message))
            .unwrap_or_else(|| ("UNKNOWN".to_owned(), String::new()));
        if status.is_server_error() || status.as_u16() == 429 || name.contains("DUPLICATE") {
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
    /// PayPal has no lookup by the sender's key; the same request repeated
    /// with the same `PayPal-Request-Id` returns the original payout, so
    /// "unknown" lets the dispatcher repeat it safely.
    async fn status(&self, _order: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError> {
        Ok(None)
    }
}
