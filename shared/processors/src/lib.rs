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

/// Selects the TLS crypto provider (ring, the one the AWS SDK's client is
/// built with) for every HTTPS client of the process. Idempotent.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means another provider was installed first: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// How long one call to a processor's API may take before its outcome is
/// unknown (and asked about again on the next attempt).
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// A new HTTP client for a processor's API (Stripe, PayPal): rustls on
/// ring with the system's root certificates, one timeout. Each adapter
/// holds its own: a client's pooled connections belong to the runtime that
/// opened them, so one shared by every runtime of a process (the tests')
/// would hand out dead connections.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .user_agent(concat!("affiliate-ledger/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("http client: {e}"))
}
