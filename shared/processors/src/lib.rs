//! Processor adapters behind the payout ports of `ledger_app::payouts`.
//!
//! | processor | flow | idempotency | unknown outcome |
//! |---|---|---|---|
//! | Stripe | Connect transfer (`POST /v1/transfers`) via `async-stripe` | `Idempotency-Key` = tenant:item, `transfer_group` = the same | list transfers by `transfer_group` |
//! | PayPal | Payouts (`POST /v1/payments/payouts`), one item per payout | `PayPal-Request-Id` and `sender_batch_id` = tenant:item, `sender_item_id` = tenant/item | the `sender_batch_id` looked up with a request that pays no one (a used one links to its batch), then `GET /v1/payments/payouts/{id}` |
//! | SEPA | pain.001.001.03 file per batch and currency | end-to-end id = item; the file is never overwritten | the file is read back |
//! | Sandbox | in memory, for the local stack and tests | the key | remembered |
//!
//! Each processor is one folder (`stripe/`, `paypal/`, `sepa/`,
//! `sandbox/`) holding its payout adapter, its notifications (webhooks or
//! status files) and its settlement-report parser; [`webhooks`] and
//! [`report`] hold what they share, [`registry`] wires them to the ports
//! (`ledger_app::payouts` for payouts, `ledger_app::reports` for reports).
//!
//! Amounts go to processors in their own units: Stripe in minor units
//! (integers), PayPal and SEPA as decimal strings with the currency's
//! decimals. No float is ever involved.

pub mod credentials;
pub mod paypal;
pub mod registry;
pub mod report;
pub mod sandbox;
pub mod sepa;
pub mod sepa_status;
pub mod stripe;
pub mod webhooks;

pub use registry::{ProcessorReports, Processors};

/// Selects the TLS crypto provider (aws-lc-rs, the one async-stripe uses)
/// for every HTTPS client of the process. Idempotent.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means another provider was installed first: that one is used.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}
