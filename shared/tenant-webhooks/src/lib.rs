//! Public events out to tenants' systems.
//!
//! - [`endpoints`]: registering, changing and rotating endpoints; replay.
//! - [`fan_out`]: committed events to queued deliveries (the log is the outbox).
//! - [`deliver`]: signed deliveries with timeouts, backoff, parking.
//! - [`signing`]: the signature scheme receivers verify.
//! - [`address`]: where a delivery may go (no private networks).
//! - [`retry`]: when a failed delivery is tried again.

pub mod address;
pub mod deliver;
pub mod endpoints;
pub mod fan_out;
pub mod retry;
pub mod signing;

pub use address::UrlPolicy;
pub use deliver::{Deliverer, DeliveryReport};
pub use endpoints::WebhookError;
pub use fan_out::{FanOut, fan_out, has_subscribers, public_of};
