//! The payment processors a payout item can go through, and the
//! destination an item is bound to when it is drafted.

use serde::{Deserialize, Serialize};

/// The processors a payout item can go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Processor {
    Stripe,
    Paypal,
    Sepa,
    Sandbox,
}

impl Processor {
    pub fn as_str(self) -> &'static str {
        match self {
            Processor::Stripe => "stripe",
            Processor::Paypal => "paypal",
            Processor::Sepa => "sepa",
            Processor::Sandbox => "sandbox",
        }
    }
}

/// Where an item pays, bound when it is drafted: what the approver sees
/// and the only destination dispatch will pay.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Destination {
    /// Safe to show and log (`stripe acct_1Nv0...`, `sepa DE** **** 3000`).
    pub masked: String,
    /// SHA-256 (hex) of the whole payout method as drafted (see
    /// `PayoutMethod::fingerprint`). Dispatch pays only a method with the
    /// same fingerprint; any change after drafting fails the item.
    pub fingerprint: String,
    /// SHA-256 (hex) of the processor and the account alone (connected
    /// account, receiver, IBAN), so a notice naming an account can be
    /// checked against the item without holding the account in clear.
    pub account_fingerprint: String,
}
