//! The HTTP client: the OAuth token, the create and batch calls, and the
//! request built for an order.

use std::time::{Duration, Instant};

use ledger_app::payouts::{PaymentOrder, PaymentStatus, ProcessorError};
use ledger_domain::PayoutMethod;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::SENDER_ITEM_ID_LEN_MAX;
use super::answers::{CreateAnswer, as_unknown, item_status, unknown};
use super::wire::{
    CreatePayout, CreatePayoutResponse, PayoutAmount, PayoutBatch, PayoutItem, PaypalError,
    SenderBatchHeader,
};

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

impl PaypalPayouts {
    pub fn new(base_url: &str, client_id: &str, secret: &str) -> Result<Self, ProcessorError> {
        let http = crate::http_client()
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

    /// The REST app payouts go out from (its client id, not a secret).
    pub fn client_id(&self) -> &str {
        &self.client_id
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
    pub(super) async fn create(
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
