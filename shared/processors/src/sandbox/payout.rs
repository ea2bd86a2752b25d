//! The sandbox processor: pays in memory, as the affiliate's sandbox
//! behaviour says (settle, fail, or time out once and settle), so the local
//! stack runs the whole payout flow without a real processor.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use ledger_app::payouts::{
    FetchPaymentStatus, PaymentOrder, PaymentStatus, ProcessorError, SubmitPayment,
};
use ledger_domain::PayoutMethod;
use ledger_domain::profile::SandboxBehaviour;

/// A payment the sandbox made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPayment {
    pub reference: String,
    pub order: PaymentOrder,
}

#[derive(Debug, Default)]
pub struct Sandbox {
    payments: Mutex<HashMap<String, SandboxPayment>>,
    submissions: Mutex<u64>,
    /// Notification bodies not yet delivered (see `take_notifications`).
    outbox: Mutex<Vec<String>>,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox::default()
    }

    /// Every payment made, by idempotency key.
    pub fn payments(&self) -> Vec<SandboxPayment> {
        let mut all: Vec<SandboxPayment> = self
            .payments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.reference.cmp(&b.reference));
        all
    }

    /// How many submissions it received (including idempotent repeats).
    pub fn submissions(&self) -> u64 {
        *self.submissions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pay(&self, order: &PaymentOrder) -> String {
        let (reference, new) = {
            let mut payments = self.payments.lock().unwrap_or_else(|p| p.into_inner());
            let n = payments.len() + 1;
            let new = !payments.contains_key(&order.idempotency_key);
            let reference = payments
                .entry(order.idempotency_key.clone())
                .or_insert_with(|| SandboxPayment {
                    reference: format!("sbx_{n:08}"),
                    order: order.clone(),
                })
                .reference
                .clone();
            (reference, new)
        };
        if new {
            self.notify(order, &reference, "item.paid", None);
            if matches!(
                order.method,
                PayoutMethod::Sandbox {
                    behaviour: SandboxBehaviour::ReturnAfterPaid
                }
            ) {
                self.notify(
                    order,
                    &reference,
                    "item.returned",
                    Some("sandbox: returned by the payee's bank"),
                );
            }
        }
        reference
    }

    fn notify(&self, order: &PaymentOrder, reference: &str, kind: &str, reason: Option<&str>) {
        let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        let body = serde_json::json!({
            "id": format!("sbx_evt_{}_{}", reference, kind.replace('.', "_")),
            "type": kind,
            "tenant_id": order.tenant_id.as_str(),
            "batch_id": order.batch_id.as_str(),
            "item_id": order.item_id.as_str(),
            "reference": reference,
            "reason": reason,
        });
        outbox.push(body.to_string());
    }

    /// The notifications the sandbox would post, oldest first, each once:
    /// bodies for `POST /v1/webhooks/sandbox`, to be signed by the caller.
    pub fn take_notifications(&self) -> Vec<String> {
        std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl SubmitPayment for Sandbox {
    async fn submit(&self, order: &PaymentOrder) -> Result<PaymentStatus, ProcessorError> {
        *self.submissions.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        let PayoutMethod::Sandbox { behaviour } = &order.method else {
            return Err(ProcessorError::Invalid(
                "the sandbox pays sandbox payout methods only".to_owned(),
            ));
        };
        match behaviour {
            SandboxBehaviour::Settle | SandboxBehaviour::ReturnAfterPaid => {
                Ok(PaymentStatus::Paid {
                    reference: self.pay(order),
                })
            }
            SandboxBehaviour::Fail => Ok(PaymentStatus::Failed {
                reference: None,
                reason: "sandbox: the payee's account refused the payment".to_owned(),
            }),
            SandboxBehaviour::TimeoutThenSettle => {
                let known = self
                    .payments
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&order.idempotency_key)
                    .map(|p| p.reference.clone());
                match known {
                    // The idempotent repeat answers with the original payment.
                    Some(reference) => Ok(PaymentStatus::Paid { reference }),
                    None => {
                        self.pay(order);
                        Err(ProcessorError::Unknown(
                            "sandbox: timed out after the payment was made".to_owned(),
                        ))
                    }
                }
            }
        }
    }
}

#[async_trait]
impl FetchPaymentStatus for Sandbox {
    async fn status(&self, order: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError> {
        Ok(self
            .payments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&order.idempotency_key)
            .map(|p| PaymentStatus::Paid {
                reference: p.reference.clone(),
            }))
    }
}
