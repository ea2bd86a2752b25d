//! What PayPal's answers mean: its refusals, an item's `transaction_status`
//! and a call that failed, each mapped to an outcome for the ledger.

use ledger_app::payouts::{PaymentStatus, ProcessorError};

use super::wire::{CreatePayoutResponse, ItemError, PaypalError};

impl PaypalError {
    /// Whether PayPal refused a `sender_batch_id` it has already paid out
    /// under (`USER_BUSINESS_ERROR`, detail field `SENDER_BATCH_ID`, "Batch
    /// with given sender_batch_id already exists"). A validation error of
    /// the field (too long, say) is not that.
    pub fn is_used_sender_batch_id(&self) -> bool {
        if matches!(self.name.as_str(), "VALIDATION_ERROR" | "INVALID_REQUEST") {
            return false;
        }
        self.details.iter().any(|d| {
            let field = d.field.as_deref().unwrap_or_default();
            let field = field.rsplit(['/', '.']).next().unwrap_or_default();
            let issue = d.issue.to_ascii_lowercase();
            (field.eq_ignore_ascii_case("sender_batch_id") || issue.contains("sender_batch_id"))
                && (issue.contains("already") || issue.contains("duplicate"))
        })
    }

    /// The original payout's `payout_batch_id`, from the links of the error
    /// or of its details. Only the id is taken: the adapter reads it from its
    /// own API base, never from a host named in an answer.
    pub fn original_batch_id(&self) -> Option<String> {
        self.details
            .iter()
            .flat_map(|d| d.link.iter())
            .chain(self.links.iter())
            .find_map(|link| batch_id_from_href(&link.href))
    }
}

/// The longest `payout_batch_id` accepted (PayPal's are 30 at most).
const BATCH_ID_LEN_MAX: usize = 64;

/// `…/v1/payments/payouts/{payout_batch_id}` -> the id, when it is made of
/// letters, digits, `-` and `_` only (it goes into a path).
fn batch_id_from_href(href: &str) -> Option<String> {
    let url = reqwest::Url::parse(href).ok()?;
    let id = url.path().strip_prefix("/v1/payments/payouts/")?;
    let valid = !id.is_empty()
        && id.len() <= BATCH_ID_LEN_MAX
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| id.to_owned())
}

/// What an item's `transaction_status` means for the ledger.
/// - `SUCCESS`: paid;
/// - `FAILED`, `RETURNED`, `REFUNDED`, `REVERSED`, `BLOCKED`: failed, the
///   money comes back (`reason` says why);
/// - `UNCLAIMED`: still pending: PayPal returns unclaimed money after 30
///   days, and the item then reads `RETURNED`;
/// - `PENDING`, `ONHOLD`, `UNPROCESSED`, and any status PayPal may add:
///   still pending (nothing moves).
pub fn item_status(
    transaction_status: &str,
    reference: &str,
    errors: Option<&ItemError>,
) -> PaymentStatus {
    let reference = reference.to_owned();
    match transaction_status {
        "SUCCESS" => PaymentStatus::Paid { reference },
        "FAILED" | "RETURNED" | "REFUNDED" | "REVERSED" | "BLOCKED" => {
            let detail = errors
                .map(|e| {
                    format!(
                        ": {}: {}",
                        e.name.as_deref().unwrap_or_default(),
                        e.message.as_deref().unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            PaymentStatus::Failed {
                reference: Some(reference),
                reason: format!("paypal item {transaction_status}{detail}"),
            }
        }
        "UNCLAIMED" | "PENDING" | "ONHOLD" | "UNPROCESSED" => PaymentStatus::Accepted { reference },
        other => {
            tracing::warn!(
                status = other,
                "unknown paypal transaction_status, read as pending"
            );
            PaymentStatus::Accepted { reference }
        }
    }
}

/// What a create request was answered.
pub(super) enum CreateAnswer {
    Created(CreatePayoutResponse),
    /// The `sender_batch_id` was used: the original payout's id.
    Used(String),
    Refused(reqwest::StatusCode, PaypalError),
}

pub(super) fn unknown(e: reqwest::Error) -> ProcessorError {
    ProcessorError::Unknown(format!("paypal: {e}"))
}

/// A lookup that could not be made proves nothing about the payment.
pub(super) fn as_unknown(e: ProcessorError) -> ProcessorError {
    match e {
        ProcessorError::Invalid(m) => ProcessorError::Unknown(m),
        unknown => unknown,
    }
}
