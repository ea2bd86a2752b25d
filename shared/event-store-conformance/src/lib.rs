//! The one conformance suite for event store adapters.
//!
//! Each check takes a fresh store and asserts the port's semantics. An
//! adapter runs all of them, unchanged, with:
//!
//! ```ignore
//! event_store_conformance::conformance_suite!(my_adapter_factory().await);
//! ```

pub mod webhooks;

mod appending;
mod idempotency;
mod reading;
mod requests;
mod support;
mod transactions;

pub use appending::{
    concurrent_appenders_exactly_one_wins_per_version, first_event_of_a_stream_is_guarded,
    new_stream_reads_back_in_order, wrong_expected_version_conflicts_and_writes_nothing,
};
pub use idempotency::{
    concurrent_idempotent_replays_write_once, idempotency_key_with_other_events_is_a_conflict,
    idempotent_replay_returns_the_original_result,
};
pub use reading::{
    bad_reads_are_refused, corrupt_or_unknown_payloads_name_stream_and_version,
    cursor_resumes_and_checkpoints_persist, global_order_is_consistent_with_every_stream,
    several_streams_read_back_in_the_order_named, stream_over_one_megabyte_reads_back_whole,
};
pub use requests::{
    concurrent_identical_requests_get_the_original_answer,
    request_is_all_or_nothing_and_its_record_is_an_item,
    request_key_with_other_facts_is_a_conflict, request_keys_are_scoped_to_tenant_and_operation,
};
pub use transactions::{
    oversized_event_is_refused_before_any_write, transaction_is_all_or_nothing,
    transaction_of_100_items_lands_and_101_is_refused, transaction_reports_replays_as_duplicates,
};

/// Expands to one `#[tokio::test]` per check, each with a fresh store built
/// by the given expression (evaluated inside the test's runtime).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@tests $make;
            new_stream_reads_back_in_order,
            first_event_of_a_stream_is_guarded,
            wrong_expected_version_conflicts_and_writes_nothing,
            concurrent_appenders_exactly_one_wins_per_version,
            idempotent_replay_returns_the_original_result,
            idempotency_key_with_other_events_is_a_conflict,
            concurrent_idempotent_replays_write_once,
            concurrent_identical_requests_get_the_original_answer,
            request_key_with_other_facts_is_a_conflict,
            request_keys_are_scoped_to_tenant_and_operation,
            request_is_all_or_nothing_and_its_record_is_an_item,
            stream_over_one_megabyte_reads_back_whole,
            global_order_is_consistent_with_every_stream,
            cursor_resumes_and_checkpoints_persist,
            oversized_event_is_refused_before_any_write,
            transaction_of_100_items_lands_and_101_is_refused,
            transaction_is_all_or_nothing,
            transaction_reports_replays_as_duplicates,
            corrupt_or_unknown_payloads_name_stream_and_version,
            bad_reads_are_refused,
            several_streams_read_back_in_the_order_named,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make;
                $crate::$name(std::sync::Arc::new(store)).await;
            }
        )+
    };
}
