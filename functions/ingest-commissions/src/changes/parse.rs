//! Reading a change request or message: its fields, each broken one named.

use chrono::{DateTime, Utc};
use ledger_app::adjustments::{Change, CommissionChange};
use ledger_domain::money::currency_from_code;
use ledger_domain::{CommissionId, Money, ReversalReason};
use serde_json::Value;

use super::CHANGES_MAX;
use crate::wire::{BodyShape, Item, bulk_shape, done, parse_json};
use lambda_edge::problem::{FieldError, Problem};

/// The fields of a reversal body.
pub(crate) const REVERSAL_FIELDS: [&str; 5] =
    ["amount", "currency", "reason", "reference", "occurred_at"];
/// The fields of an adjustment body.
pub(crate) const ADJUSTMENT_FIELDS: [&str; 4] = ["delta", "currency", "reason", "occurred_at"];
/// What a bulk item or a queue message adds to either.
pub(super) const ITEM_FIELDS: [&str; 2] = ["kind", "commission_id"];
/// The reasons the tracking network reports.
const REASONS: [(&str, ReversalReason); 3] = [
    ("refund", ReversalReason::Refund),
    ("chargeback", ReversalReason::Chargeback),
    ("fraud", ReversalReason::Fraud),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Reversal,
    Adjustment,
}

fn parse_change(
    kind: Kind,
    commission_id: Option<CommissionId>,
    item: &mut Item<'_>,
    now: DateTime<Utc>,
) -> Option<CommissionChange> {
    let currency = item.string("currency", true).and_then(|c| {
        currency_from_code(&c)
            .map_err(|e| item.fail("currency", e.to_string()))
            .ok()
    });
    let occurred_at = item.past_time("occurred_at", now);
    let change = match kind {
        Kind::Reversal => {
            let amount = item.decimal("amount", false);
            let amount = match (amount, currency) {
                (None, _) => Some(None),
                (Some(text), Some(currency)) => match Money::parse(&text, currency) {
                    Ok(m) if m.is_positive() => Some(Some(m)),
                    Ok(_) => {
                        item.fail(
                            "amount",
                            "must be greater than zero; leave it out to reverse everything that remains",
                        );
                        None
                    }
                    Err(e) => {
                        item.fail("amount", e.to_string());
                        None
                    }
                },
                (Some(_), None) => None,
            };
            let reason = item.string("reason", true).and_then(|r| {
                let found = REASONS.iter().find(|(name, _)| *name == r).map(|(_, v)| *v);
                if found.is_none() {
                    item.fail("reason", "must be one of refund, chargeback, fraud");
                }
                found
            });
            let reference = item.text("reference", true);
            Change::Reverse {
                amount: amount?,
                currency: currency?,
                reason: reason?,
                reference: reference?,
            }
        }
        Kind::Adjustment => {
            let delta = item.decimal("delta", true);
            let delta = match (delta, currency) {
                (Some(text), Some(currency)) => match Money::parse(&text, currency) {
                    Ok(m) if m.is_zero() => {
                        item.fail("delta", "must not be zero");
                        None
                    }
                    Ok(m) => Some(m),
                    Err(e) => {
                        item.fail("delta", e.to_string());
                        None
                    }
                },
                _ => None,
            };
            let reason = item.text("reason", true);
            Change::Adjust {
                delta: delta?,
                reason: reason?,
            }
        }
    };
    Some(CommissionChange {
        commission_id: commission_id?,
        change,
        occurred_at: occurred_at?,
    })
}

fn object<'a>(
    value: &'a Value,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a serde_json::Map<String, Value>> {
    match value {
        Value::Object(object) => Some(object),
        _ => {
            errors.push(FieldError {
                field: field.to_owned(),
                rule: "must be a JSON object".into(),
            });
            None
        }
    }
}

/// Parses the body of a change of the commission named in the path.
pub(super) fn parse_one(
    kind: Kind,
    commission_id: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<CommissionChange>, Problem> {
    let value = parse_json(body)?;
    let mut errors = Vec::new();
    let id = CommissionId::new(commission_id)
        .map_err(|e| {
            errors.push(FieldError {
                field: "commission_id".into(),
                rule: e.to_string(),
            })
        })
        .ok();
    let mut changes = Vec::new();
    if let Some(object) = object(&value, "body", &mut errors) {
        let mut item = Item {
            prefix: String::new(),
            object,
            errors: &mut errors,
        };
        item.known_fields(match kind {
            Kind::Reversal => &REVERSAL_FIELDS,
            Kind::Adjustment => &ADJUSTMENT_FIELDS,
        });
        changes.extend(parse_change(kind, id, &mut item, now));
    }
    done(errors, changes)
}

/// One item with its `kind` and `commission_id`.
fn parse_item(
    prefix: String,
    value: &Value,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<CommissionChange> {
    let name = if prefix.is_empty() {
        "body".to_owned()
    } else {
        prefix.trim_end_matches('.').to_owned()
    };
    let object = object(value, &name, errors)?;
    let mut item = Item {
        prefix,
        object,
        errors,
    };
    let kind = match item.string("kind", true).as_deref() {
        Some("reversal") => Some(Kind::Reversal),
        Some("adjustment") => Some(Kind::Adjustment),
        Some(_) => {
            item.fail("kind", "must be reversal or adjustment");
            None
        }
        None => None,
    };
    let known: Vec<&str> = match kind {
        Some(Kind::Reversal) => ITEM_FIELDS
            .iter()
            .chain(&REVERSAL_FIELDS)
            .copied()
            .collect(),
        Some(Kind::Adjustment) => ITEM_FIELDS
            .iter()
            .chain(&ADJUSTMENT_FIELDS)
            .copied()
            .collect(),
        None => return None,
    };
    item.known_fields(&known);
    let commission_id = item.string("commission_id", true).and_then(|s| {
        CommissionId::new(s)
            .map_err(|e| item.fail("commission_id", e.to_string()))
            .ok()
    });
    parse_change(kind?, commission_id, &mut item, now)
}

/// Parses a bulk body `{"changes": [...]}`, or one change with its `kind`
/// and `commission_id` (a queue message). All or nothing.
pub fn parse_changes(body: &[u8], now: DateTime<Utc>) -> Result<Vec<CommissionChange>, Problem> {
    let value = parse_json(body)?;
    let mut errors = Vec::new();
    let mut changes = Vec::new();
    match bulk_shape(&value, "changes", CHANGES_MAX, &mut errors)? {
        BodyShape::Bulk(items) => {
            for (i, item) in items.iter().enumerate() {
                changes.extend(parse_item(format!("changes[{i}]."), item, now, &mut errors));
            }
            // Indexes line up with the body's only when every item parsed.
            if errors.is_empty() {
                for (i, change) in changes.iter().enumerate() {
                    if changes[..i]
                        .iter()
                        .any(|c| c.commission_id == change.commission_id)
                    {
                        errors.push(FieldError {
                            field: format!("changes[{i}].commission_id"),
                            rule: format!(
                                "{} appears twice in this body: one change per commission per request",
                                change.commission_id
                            ),
                        });
                    }
                }
            }
        }
        BodyShape::Broken => {}
        BodyShape::One => changes.extend(parse_item(String::new(), &value, now, &mut errors)),
    }
    done(errors, changes)
}

pub(super) fn body_is_bulk(body: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|v| v.get("changes").is_some())
}

/// Whether a queue message is a change (it names a `kind` other than
/// `commission`, or is a `{"changes": [...]}` body) rather than commissions.
pub(crate) fn is_change_message(value: &Value) -> bool {
    value.get("changes").is_some()
        || value
            .get("kind")
            .is_some_and(|k| k.as_str() != Some("commission"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_messages_without_a_kind_stay_commissions() {
        let message = |body: &str| is_change_message(&serde_json::from_str(body).unwrap());
        assert!(!message(r#"{"commission_id": "c-1", "amount": "1.00"}"#));
        assert!(!message(r#"{"commissions": []}"#));
        assert!(!message(
            r#"{"kind": "commission", "commission_id": "c-1"}"#
        ));
        assert!(message(r#"{"kind": "reversal", "commission_id": "c-1"}"#));
        assert!(message(r#"{"kind": "adjustment"}"#));
        assert!(message(r#"{"kind": 7}"#));
        assert!(message(r#"{"changes": []}"#));
    }

    #[test]
    fn a_whole_reversal_has_no_amount_and_each_broken_field_is_named() {
        let now = Utc::now();
        let parsed = parse_changes(
            br#"{"kind": "reversal", "commission_id": "c-1", "currency": "EUR", "reason": "chargeback", "reference": "dp_1"}"#,
            now,
        )
        .unwrap();
        assert_eq!(parsed.len(), 1);
        assert!(matches!(
            parsed[0].change,
            Change::Reverse {
                amount: None,
                reason: ReversalReason::Chargeback,
                ..
            }
        ));
        assert_eq!(parsed[0].occurred_at, None);
        let problem = parse_changes(
            br#"{"changes": [{"kind": "adjustment", "commission_id": "c-1", "delta": 2.5, "currency": "EUR", "reason": "x"},
                             {"kind": "reversal", "commission_id": "c 2", "amount": "-1.00", "currency": "EUR", "reason": "manual", "reference": ""}]}"#,
            now,
        )
        .unwrap_err();
        let mut named: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        named.sort();
        assert_eq!(
            named,
            vec![
                "changes[0].delta",
                "changes[1].amount",
                "changes[1].commission_id",
                "changes[1].reason",
                "changes[1].reference"
            ],
            "{problem:?}"
        );
    }
}
