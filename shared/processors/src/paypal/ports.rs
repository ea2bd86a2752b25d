//! The payout ports (`SubmitPayment`, `FetchPaymentStatus`) on PayPal
//! Payouts: a create request's answer, or the status lookup, read as the
//! item's status.

use async_trait::async_trait;
use ledger_app::payouts::{
    FetchPaymentStatus, PaymentOrder, PaymentStatus, ProcessorError, SubmitPayment,
};
use ledger_domain::PayoutMethod;

use super::answers::{CreateAnswer, as_unknown};
use super::client::PaypalPayouts;
use super::wire::PaypalError;

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

    /// The app's client id: PayPal's idempotency (`sender_batch_id`) and
    /// lookups are its account's, so an item first sent through one app is
    /// not sent through another.
    fn paying_account(&self) -> Option<String> {
        Some(format!("paypal {}", self.client_id()))
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
