//! The sandbox's notifications: signed with the Stripe scheme in
//! `Sandbox-Signature` (see [`crate::stripe::webhook`]), so they take the
//! same path as Stripe's.

use ledger_app::payouts::ProcessorNotice;
use ledger_domain::{ItemOutcome, Processor};
use serde::Deserialize;

use crate::webhooks::{ParseError, Parsed};

#[derive(Deserialize)]
struct SandboxEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    tenant_id: String,
    batch_id: String,
    item_id: String,
    reference: Option<String>,
    reason: Option<String>,
}

/// Reads a verified sandbox notification.
pub fn parse_sandbox(body: &[u8]) -> Result<Parsed, ParseError> {
    let event: SandboxEvent =
        serde_json::from_slice(body).map_err(|e| ParseError(format!("sandbox event: {e}")))?;
    let outcome = match event.event_type.as_str() {
        "item.paid" => ItemOutcome::Paid,
        "item.failed" => ItemOutcome::Failed,
        "item.returned" => ItemOutcome::Returned,
        "item.unclaimed" => ItemOutcome::Unclaimed,
        _ => {
            return Ok(Parsed::Ignored {
                event_type: event.event_type,
            });
        }
    };
    Ok(Parsed::Notice(ProcessorNotice {
        processor: Processor::Sandbox,
        event_id: event.id,
        outcome,
        tenant_id: Some(event.tenant_id),
        batch_id: Some(event.batch_id),
        item_id: Some(event.item_id),
        reference: event.reference,
        account: None,
        amount: None,
        reason: event.reason,
    }))
}
