//! An in-memory dispatch queue, for tests and tools.

use async_trait::async_trait;
use event_store::StoreError;

use super::ports::{DispatchMessage, DispatchQueue};

/// A dispatch queue in memory: what was enqueued, in order. For tests and
/// tools; nothing consumes it.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    messages: std::sync::Mutex<Vec<DispatchMessage>>,
}

impl MemoryQueue {
    pub fn messages(&self) -> Vec<DispatchMessage> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl DispatchQueue for MemoryQueue {
    async fn enqueue(&self, messages: &[DispatchMessage]) -> Result<(), StoreError> {
        self.messages
            .lock()
            .map_err(|_| StoreError::Unavailable("memory queue poisoned".into()))?
            .extend_from_slice(messages);
        Ok(())
    }
}
