//! Processor notifications: verified before anything is parsed, then
//! turned into `ProcessorNotice`s for the ledger. What every processor's
//! notifications share is here; each processor's own scheme and events
//! are in its folder:
//!
//! - Stripe ([`crate::stripe::webhook`]): `Stripe-Signature`, an
//!   HMAC-SHA256 over `<t>.<body>`, within a tolerance
//!   ([`SIGNATURE_TOLERANCE_SECONDS`]), against every configured secret;
//! - Sandbox ([`crate::sandbox::webhook`], the local stack's processor):
//!   the same scheme in `Sandbox-Signature`;
//! - PayPal ([`crate::paypal::webhook`]): the transmission headers checked
//!   through a verifier port, after a time and certificate-host precheck;
//! - SEPA ([`crate::sepa::status`]): pain.002 status reports and camt.054
//!   debit notifications, believed only where they answer a pain.001 this
//!   system issued.
//!
//! Every item keeps its old path here (`processors::webhooks::parse_stripe`
//! and so on).

use ledger_app::payouts::ProcessorNotice;

/// How old (or how far in the future) a signed timestamp may be, in seconds.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;
/// The largest notification body accepted.
pub const WEBHOOK_BODY_BYTES_MAX: usize = 256 * 1024;

/// Why a notification was refused before it was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {header} header is malformed: {reason}")]
    Malformed {
        header: &'static str,
        reason: &'static str,
    },
    #[error("the signature is {age} s old, outside the {SIGNATURE_TOLERANCE_SECONDS} s tolerance")]
    Expired { age: i64 },
    #[error("no signature matches")]
    Mismatch,
    #[error("the certificate URL is not on PayPal's hosts")]
    UntrustedCertificate,
    #[error("no webhook secret is configured")]
    NotConfigured,
}

/// What a verified notification means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Notice(ProcessorNotice),
    /// A verified event of a type that says nothing about payout items.
    Ignored {
        event_type: String,
    },
}

/// Why a verified body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable notification: {0}")]
pub struct ParseError(pub String);

pub use crate::paypal::webhook::{
    PAYPAL_CERT_HOSTS, PaypalEndpointVerifier, PaypalTransmission, PaypalVerifier, parse_paypal,
};
pub use crate::sandbox::webhook::parse_sandbox;
pub use crate::stripe::webhook::{
    StripeSignature, parse_stripe, stripe_signature_header, verify_stripe_signature,
};
