//! Counts DynamoDB write requests and items at the SDK, so benchmarks and
//! metrics report what the store really sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Default)]
struct Counts {
    write_requests: AtomicU64,
    items_written: AtomicU64,
    condition_checks: AtomicU64,
}

/// An SDK interceptor counting write operations and the items they write.
/// Clones share their counts.
#[derive(Debug, Clone, Default)]
pub struct WriteCounter {
    counts: Arc<Counts>,
}

/// A snapshot of the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteCounts {
    /// PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems calls.
    pub write_requests: u64,
    /// Items those calls put, update or delete. A conditional write that is
    /// refused still counts: DynamoDB bills it as a write.
    pub items_written: u64,
    /// Items only checked (ConditionCheck) inside transactions.
    pub condition_checks: u64,
}

impl WriteCounter {
    pub fn snapshot(&self) -> WriteCounts {
        WriteCounts {
            write_requests: self.counts.write_requests.load(Ordering::Relaxed),
            items_written: self.counts.items_written.load(Ordering::Relaxed),
            condition_checks: self.counts.condition_checks.load(Ordering::Relaxed),
        }
    }

    fn add(&self, items: u64, checks: u64) {
        self.counts.write_requests.fetch_add(1, Ordering::Relaxed);
        self.counts
            .items_written
            .fetch_add(items, Ordering::Relaxed);
        self.counts
            .condition_checks
            .fetch_add(checks, Ordering::Relaxed);
    }
}

impl Intercept for WriteCounter {
    fn name(&self) -> &'static str {
        "WriteCounter"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        if input.downcast_ref::<PutItemInput>().is_some()
            || input.downcast_ref::<UpdateItemInput>().is_some()
            || input.downcast_ref::<DeleteItemInput>().is_some()
        {
            self.add(1, 0);
        } else if let Some(tx) = input.downcast_ref::<TransactWriteItemsInput>() {
            let checks = tx
                .transact_items()
                .iter()
                .filter(|i| i.condition_check().is_some())
                .count() as u64;
            self.add(tx.transact_items().len() as u64 - checks, checks);
        } else if let Some(batch) = input.downcast_ref::<BatchWriteItemInput>() {
            let items = batch
                .request_items()
                .map(|m| m.values().map(Vec::len).sum::<usize>())
                .unwrap_or(0);
            self.add(items as u64, 0);
        }
        Ok(())
    }
}
