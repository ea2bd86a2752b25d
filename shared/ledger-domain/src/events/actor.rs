//! Who caused an event: the actor every event is stamped with.

use serde::{Deserialize, Serialize};

use crate::text::{TextError, check_text};

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person (finance staff, admin, affiliate) acting through the API.
    User,
    /// A machine caller such as the tracking network.
    Service,
    /// A payment processor (webhook or status poll).
    Processor,
    /// A scheduled job of this system.
    Scheduler,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// The verified subject (user id, client id, processor name, job name).
    pub id: String,
    /// The role the request was allowed under, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The request that caused the event (API Gateway's request id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Actor {
    pub fn new(kind: ActorKind, id: impl Into<String>) -> Result<Self, TextError> {
        let id = id.into();
        check_text("actor.id", &id, 1)?;
        Ok(Actor {
            kind,
            id,
            role: None,
            request_id: None,
        })
    }

    /// The same actor, as allowed under `role` in request `request_id`.
    pub fn acting(
        mut self,
        role: Option<&str>,
        request_id: Option<&str>,
    ) -> Result<Self, TextError> {
        if let Some(role) = role {
            check_text("actor.role", role, 1)?;
        }
        if let Some(request_id) = request_id {
            check_text("actor.request_id", request_id, 1)?;
        }
        self.role = role.map(str::to_owned);
        self.request_id = request_id.map(str::to_owned);
        Ok(self)
    }
}
