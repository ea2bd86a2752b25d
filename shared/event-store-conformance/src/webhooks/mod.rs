//! The conformance section for [`WebhookStore`] adapters: endpoints,
//! deliveries, the due queue and their version checks.
//!
//! An adapter runs every check, unchanged, with:
//!
//! ```ignore
//! event_store_conformance::webhook_conformance_suite!(my_webhook_store().await);
//! ```

mod due;
mod endpoints;
mod fixtures;
mod listing;
mod payloads;
mod queueing;

pub use due::{
    due_lists_pending_deliveries_earliest_first, saved_delivery_leaves_the_due_queue,
    stale_delivery_save_is_a_conflict,
};
pub use endpoints::{
    endpoint_created_twice_is_a_conflict, endpoint_reads_back_equal,
    endpoint_update_checks_the_version, endpoints_lists_one_tenants_by_id,
};
pub use listing::{deliveries_list_newest_first_by_status, deliveries_pages_cover_everything_once};
pub use payloads::delivery_payload_reads_back_exactly;
pub use queueing::{enqueue_is_idempotent_per_endpoint_and_event, webhook_tenants_are_isolated};

/// Expands to one `#[tokio::test]` per webhook check, each with a fresh
/// store built by the given expression (evaluated inside the test's
/// runtime).
#[macro_export]
macro_rules! webhook_conformance_suite {
    ($make:expr) => {
        $crate::webhook_conformance_suite!(@tests $make;
            endpoint_reads_back_equal,
            endpoint_created_twice_is_a_conflict,
            endpoint_update_checks_the_version,
            endpoints_lists_one_tenants_by_id,
            webhook_tenants_are_isolated,
            enqueue_is_idempotent_per_endpoint_and_event,
            due_lists_pending_deliveries_earliest_first,
            saved_delivery_leaves_the_due_queue,
            stale_delivery_save_is_a_conflict,
            deliveries_list_newest_first_by_status,
            deliveries_pages_cover_everything_once,
            delivery_payload_reads_back_exactly,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make;
                $crate::webhooks::$name(std::sync::Arc::new(store)).await;
            }
        )+
    };
}
