//! Stripe, one file per job:
//!
//! - [`payout`]: Connect transfers through `async-stripe` (the payout
//!   adapter, [`StripeTransfers`]), sent by [`client`];
//! - [`webhook`]: the `Stripe-Signature` scheme and `transfer.*` events;
//! - [`report`]: the itemized balance change from activity report (CSV),
//!   the settlement report reconciled.

pub mod client;
pub mod payout;
pub mod report;
pub mod webhook;

pub use payout::StripeTransfers;
pub use report::{StripeBalanceReport, parse_stripe_csv};
pub use webhook::{parse_stripe, stripe_signature_header, verify_stripe_signature};
