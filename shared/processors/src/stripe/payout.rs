//! Stripe Connect transfers through `async-stripe`.
//!
//! One transfer per item, to the affiliate's connected account, in minor
//! units, with the item's key as both the `Idempotency-Key` header and the
//! `transfer_group`, so an unknown outcome is resolved by listing the
//! transfers of that group before anything is sent again.
//!
//! Stripe's awkward answers, as documented ("Idempotent requests", "Errors",
//! "Supported currencies"):
//! - `409` with `idempotency_key_in_use`: another request with the same key
//!   is still being processed. The payment may well exist: unknown, never a
//!   refusal.
//! - `400` of type `idempotency_error`: the key was used with other
//!   parameters. This product's own mistake, and again no word on whether
//!   the transfer exists: unknown.
//! - `429`, `5xx`, and `401`/`403` (the key refused: nothing was asked,
//!   so nothing is known): unknown. Other `4xx`: the transfer was refused.
//! - Amounts are in Stripe's minor units, which are not always ISO's (ISK,
//!   HUF, TWD, three-decimal currencies): see `ledger_domain::units`.
//!
//! Requests are built by async-stripe (their parameters, idempotency key
//! and API version) and sent by [`StripeHttp`] (see `client`); the answer
//! is read into [`TransferRef`], the two fields this adapter uses, rather
//! than async-stripe's full `Transfer`, whose object graph (connected
//! account, charge, reversals) was a quarter of the dispatch function's
//! binary.

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use ledger_app::payouts::{
    FetchPaymentStatus, PaymentOrder, PaymentStatus, ProcessorError, SubmitPayment,
};
use ledger_domain::{PayoutMethod, Processor};
use stripe_client_core::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_connect::transfer::{CreateTransfer, ListTransfer};

use super::client::{StripeFailure, StripeHttp};

/// The fields of a Stripe transfer this adapter reads; every other field
/// of the answer is skipped.
#[derive(Debug, miniserde::Deserialize)]
struct TransferRef {
    id: String,
    reversed: bool,
}

/// A page of transfers (`GET /v1/transfers`).
#[derive(Debug, miniserde::Deserialize)]
struct TransferPage {
    data: Vec<TransferRef>,
}

/// Stripe's API, or a test server speaking it.
pub struct StripeTransfers {
    client: StripeHttp,
    /// The platform account the key belongs to, when the credentials say.
    account: Option<String>,
}

impl std::fmt::Debug for StripeTransfers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret key.
        f.debug_struct("StripeTransfers").finish_non_exhaustive()
    }
}

impl StripeTransfers {
    /// `base_url`: `None` for api.stripe.com.
    pub fn new(secret_key: &str, base_url: Option<&str>) -> Result<Self, ProcessorError> {
        let client = StripeHttp::new(secret_key, base_url)
            .map_err(|e| ProcessorError::Invalid(format!("stripe client: {e}")))?;
        Ok(StripeTransfers {
            client,
            account: None,
        })
    }

    /// Names the platform account (`acct_...`) the key belongs to: each
    /// item's first attempt records it, and an attempt from another
    /// account is held (see `SubmitPayment::paying_account`).
    pub fn paying_from(mut self, account_id: Option<String>) -> Self {
        self.account = account_id;
        self
    }
}

fn account(order: &PaymentOrder) -> Result<&str, ProcessorError> {
    match &order.method {
        PayoutMethod::Stripe { account_id } => Ok(account_id),
        _ => Err(ProcessorError::Invalid(
            "not a Stripe payout method".to_owned(),
        )),
    }
}

/// Timeouts, connection trouble, rate limits, 5xx, a key still in use
/// (409), a refused API key (401, 403: a revoked or mistyped key proves
/// nothing about a payment, so an item is never failed on it) and
/// idempotency errors leave the outcome unknown; other API errors are
/// refusals of this request.
fn classify(e: StripeFailure) -> ProcessorError {
    match e {
        StripeFailure::Api {
            status,
            kind,
            message,
            ..
        } if status != 401
            && status != 403
            && status != 409
            && status != 429
            && status < 500
            && kind != "idempotency_error" =>
        {
            ProcessorError::Invalid(format!(
                "stripe {status}: {}",
                message.as_deref().unwrap_or("request refused")
            ))
        }
        StripeFailure::Api {
            status,
            kind,
            message,
            ..
        } => ProcessorError::Unknown(format!(
            "stripe {status} ({kind}): {}",
            message.as_deref().unwrap_or("outcome unknown")
        )),
        other => ProcessorError::Unknown(other.to_string()),
    }
}

/// The order's amount in Stripe's minor units.
fn stripe_minor(order: &PaymentOrder) -> Result<i64, ProcessorError> {
    Processor::Stripe
        .to_minor(&order.amount)
        .map_err(|e| ProcessorError::Invalid(e.to_string()))
}

#[async_trait]
impl SubmitPayment for StripeTransfers {
    async fn submit(&self, order: &PaymentOrder) -> Result<PaymentStatus, ProcessorError> {
        let destination = account(order)?;
        let currency =
            stripe_types::Currency::from_str(&order.amount.currency().code().to_ascii_lowercase())
                .unwrap_or_else(|never| match never {});
        let key = IdempotencyKey::new(&order.idempotency_key)
            .map_err(|e| ProcessorError::Invalid(format!("idempotency key: {e}")))?;
        let metadata = HashMap::from([
            ("tenant_id".to_owned(), order.tenant_id.to_string()),
            ("payout_batch_id".to_owned(), order.batch_id.to_string()),
            ("payout_item_id".to_owned(), order.item_id.to_string()),
        ]);
        let amount = stripe_minor(order)?;
        let transfer = CreateTransfer::new(currency, destination)
            .amount(amount)
            .transfer_group(&order.idempotency_key)
            .description(format!("Affiliate payout {}", order.item_id))
            .metadata(metadata)
            .build()
            .customize::<TransferRef>()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await
            .map_err(classify)?;
        Ok(PaymentStatus::Paid {
            reference: transfer.id,
        })
    }

    fn paying_account(&self) -> Option<String> {
        self.account.as_ref().map(|id| format!("stripe {id}"))
    }
}

#[async_trait]
impl FetchPaymentStatus for StripeTransfers {
    async fn status(&self, order: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError> {
        account(order)?;
        let list = ListTransfer::new()
            .transfer_group(&order.idempotency_key)
            .limit(1)
            .build()
            .customize::<TransferPage>()
            .send(&self.client)
            .await
            .map_err(classify)?;
        Ok(list.data.into_iter().next().map(|t| {
            if t.reversed {
                PaymentStatus::Failed {
                    reference: Some(t.id),
                    reason: "the transfer was reversed".to_owned(),
                }
            } else {
                PaymentStatus::Paid { reference: t.id }
            }
        }))
    }
}
