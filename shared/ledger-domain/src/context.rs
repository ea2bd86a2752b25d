//! Who issues a command, for whom, and when: shared by every aggregate's
//! `handle`, and the only place events are stamped with it.

use chrono::{DateTime, Utc};

use crate::events::{Actor, Event, EventBody};
use crate::ids::TenantId;

/// Who issues a command, for whom, and when.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub tenant_id: TenantId,
    pub actor: Actor,
    /// When this system handles the command (becomes `recorded_at`).
    pub now: DateTime<Utc>,
    /// When the fact happened in the world (becomes `effective_at`).
    pub effective_at: DateTime<Utc>,
}

impl CommandContext {
    pub(crate) fn event_for(&self, body: EventBody) -> Event {
        Event::new(
            self.tenant_id.clone(),
            self.actor.clone(),
            self.now,
            self.effective_at,
            body,
        )
    }
}
