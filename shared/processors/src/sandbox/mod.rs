//! The sandbox processor (the local stack's), one file per job:
//!
//! - [`payout`]: pays in memory, as the affiliate's sandbox behaviour says
//!   (the payout adapter, [`Sandbox`]);
//! - [`webhook`]: its notifications, signed with the Stripe scheme;
//! - [`report`]: it has no settlement report; its parser says so.

pub mod payout;
pub mod report;
pub mod webhook;

pub use payout::{Sandbox, SandboxPayment};
pub use report::NoSandboxReports;
pub use webhook::parse_sandbox;
