//! The ports payouts go through: the dispatch queue and the processors'
//! flows (submission, status, batch files), with the types they exchange.

use async_trait::async_trait;
use event_store::StoreError;
use ledger_domain::{
    AffiliateId, Currency, Money, PayoutBatchId, PayoutItemId, PayoutMethod, TenantId,
};
use serde::{Deserialize, Serialize};

/// A message asking the dispatcher to pay one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchMessage {
    pub tenant_id: TenantId,
    pub batch_id: PayoutBatchId,
    pub item_id: PayoutItemId,
}

/// Where dispatch messages go (SQS in AWS, an in-process queue locally).
#[async_trait]
pub trait DispatchQueue: Send + Sync {
    async fn enqueue(&self, messages: &[DispatchMessage]) -> Result<(), StoreError>;
}

/// One payment a processor is asked to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOrder {
    pub tenant_id: TenantId,
    pub batch_id: PayoutBatchId,
    pub item_id: PayoutItemId,
    pub affiliate_id: AffiliateId,
    pub amount: Money,
    pub method: PayoutMethod,
    /// Unique per item across tenants; sent as the processor's idempotency
    /// key on every attempt.
    pub idempotency_key: String,
    /// The processor's reference, once the item was submitted (PayPal's
    /// payout batch id): a status lookup reads it directly.
    pub reference: Option<String>,
}

/// What a processor answered to a submission or a status query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Taken, not settled yet (a webhook or the poller will say more).
    Accepted { reference: String },
    /// Paid.
    Paid { reference: String },
    /// Refused or failed for good: the money comes back.
    Failed {
        reference: Option<String>,
        reason: String,
    },
}

/// A processor call that did not give a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessorError {
    /// Timeout, connection loss or 5xx: the payment may or may not exist.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// This product's request or configuration is wrong (4xx other than a
    /// refusal of the payment itself): retrying will not help.
    #[error("processor refused the request: {0}")]
    Invalid(String),
}

/// Submits a payment. One small trait per flow.
#[async_trait]
pub trait SubmitPayment: Send + Sync {
    async fn submit(&self, order: &PaymentOrder) -> Result<PaymentStatus, ProcessorError>;

    /// The processor account payments go out from, as the credentials
    /// name it (an account or app id, never a secret); `None` when they
    /// name none. Recorded with an item's first attempt: a later attempt
    /// from another account is held, since that account's idempotency key
    /// and status lookup know nothing of the first.
    fn paying_account(&self) -> Option<String> {
        None
    }
}

/// Asks a processor what became of a payment (by its idempotency key or
/// reference). `Ok(None)`: the processor has no such payment.
#[async_trait]
pub trait FetchPaymentStatus: Send + Sync {
    async fn status(&self, order: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError>;
}

/// A processor paid by one file per batch and currency (SEPA credit
/// transfers): the first of the batch's items to be dispatched writes the
/// file for all of them; the others find themselves in it.
#[async_trait]
pub trait SubmitBatchFile: Send + Sync {
    /// Where the file of this batch and currency is kept.
    fn file_key(
        &self,
        tenant_id: &TenantId,
        batch_id: &PayoutBatchId,
        currency: Currency,
    ) -> String;
    /// The payment ids in the file, or `None` if it was not written yet.
    async fn payment_ids(&self, key: &str) -> Result<Option<Vec<String>>, ProcessorError>;
    /// Writes the file for these orders, never replacing an existing one.
    /// Returns the payment ids it holds (those of the file already there,
    /// if another dispatcher wrote it first).
    async fn write(
        &self,
        key: &str,
        orders: &[PaymentOrder],
    ) -> Result<Vec<String>, ProcessorError>;
    /// The id of an order's payment in the file (its end-to-end id).
    fn payment_id(&self, order: &PaymentOrder) -> String;
}

/// A processor's flows.
pub enum ProcessorPorts<'a> {
    /// Paid one payment at a time over an API.
    Api {
        submit: &'a dyn SubmitPayment,
        status: &'a dyn FetchPaymentStatus,
    },
    /// Paid by a file per batch and currency.
    File(&'a dyn SubmitBatchFile),
}

/// The processors configured in this deployment.
pub trait ProcessorRegistry: Send + Sync {
    fn ports(&self, processor: ledger_domain::Processor) -> Option<ProcessorPorts<'_>>;
}

/// The processors one tenant's payouts go through. A [`ProcessorRegistry`]
/// serves every tenant alike; a deployment where each tenant pays from its
/// own processor accounts looks up that tenant's registry (built from its
/// own credentials) instead.
#[async_trait]
pub trait TenantProcessors: Send + Sync {
    /// The tenant's registry. An error is a lookup that did not answer
    /// (the credentials could not be read): the caller retries later, it
    /// does not fail the tenant's payments.
    async fn for_tenant<'a>(&'a self, tenant: &TenantId)
    -> Result<RegistryRef<'a>, ProcessorError>;
}

/// A tenant's registry: the shared one, or one built for the tenant.
pub enum RegistryRef<'a> {
    Shared(&'a (dyn ProcessorRegistry + 'a)),
    Tenant(std::sync::Arc<dyn ProcessorRegistry>),
}

impl<'a> std::ops::Deref for RegistryRef<'a> {
    type Target = dyn ProcessorRegistry + 'a;

    fn deref(&self) -> &Self::Target {
        match self {
            RegistryRef::Shared(registry) => *registry,
            RegistryRef::Tenant(registry) => registry.as_ref(),
        }
    }
}

/// One registry for every tenant.
#[async_trait]
impl<P: ProcessorRegistry> TenantProcessors for P {
    async fn for_tenant<'a>(
        &'a self,
        _tenant: &TenantId,
    ) -> Result<RegistryRef<'a>, ProcessorError> {
        Ok(RegistryRef::Shared(self))
    }
}
