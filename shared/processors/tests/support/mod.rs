//! Shared test orders.

use ledger_app::payouts::PaymentOrder;
use ledger_domain::{
    AffiliateId, Currency, Money, PayoutBatchId, PayoutItemId, PayoutMethod, TenantId,
};

pub fn order(item: &str, amount: &str, currency: Currency, method: PayoutMethod) -> PaymentOrder {
    PaymentOrder {
        tenant_id: TenantId::new("acme").unwrap(),
        batch_id: PayoutBatchId::new("pb-000007").unwrap(),
        item_id: PayoutItemId::new(item).unwrap(),
        affiliate_id: AffiliateId::new("aff-anna").unwrap(),
        amount: Money::parse(amount, currency).unwrap(),
        method,
        idempotency_key: format!("acme:{item}"),
        reference: None,
    }
}
