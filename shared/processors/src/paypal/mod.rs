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

//!
//! Beside the payout adapter (`client`, `answers`, `ports`, `wire`):
//! [`webhook`], the transmission checks and payout item events, and
//! [`report`], the settlement report (STL) reconciled.

mod answers;
mod client;
mod ports;
pub mod report;
pub mod webhook;
mod wire;

pub use answers::item_status;
pub use client::PaypalPayouts;
pub use report::{PaypalSettlementReport, parse_paypal_stl};
pub use webhook::{
    PAYPAL_CERT_HOSTS, PaypalEndpointVerifier, PaypalTransmission, PaypalVerifier, parse_paypal,
};
pub use wire::{
    BatchHeader, CreatePayout, CreatePayoutResponse, ItemError, Link, PayoutAmount, PayoutBatch,
    PayoutBatchHeader, PayoutBatchItem, PayoutItem, PayoutItemDetail, PaypalError,
    PaypalErrorDetail, SenderBatchHeader, SentBatchHeader,
};

/// PayPal's live API.
pub const PAYPAL_LIVE: &str = "https://api-m.paypal.com";
/// PayPal's limit on `sender_item_id`.
pub const SENDER_ITEM_ID_LEN_MAX: usize = 63;
