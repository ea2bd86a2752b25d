//! PayPal's request and response bodies, as sent and read on the wire.

use serde::{Deserialize, Serialize};

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
