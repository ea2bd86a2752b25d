//! The tracking network's wire format, and its validation into commands.
//!
//! One commission:
//! ```json
//! {"commission_id": "c-1001", "affiliate_id": "aff-anna", "amount": "12.50",
//!  "currency": "EUR", "conversion_id": "conv-9f2", "order_reference": "o-77",
//!  "hold_period_days": 30, "occurred_at": "2026-11-20T10:00:00Z"}
//! ```
//! A bulk body is `{"commissions": [ ... ]}` with at most
//! [`crate::BULK_ITEMS_MAX`] items. Amounts are decimal strings, never JSON
//! numbers, so no parser on the way turns them into floats. Every error
//! names its field and rule; nothing is written unless every item is valid.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use ledger_domain::money::currency_from_code;
use ledger_domain::{AffiliateId, CommissionCommand, CommissionId, Money};
use serde_json::{Map, Value};

use crate::BULK_ITEMS_MAX;
use lambda_edge::problem::{FieldError, Problem};

/// The hold period when the tracking network does not say.
pub const HOLD_PERIOD_DAYS_DEFAULT: u32 = 30;
/// How far in the future `occurred_at` may be (clock skew), in seconds.
pub const FUTURE_SKEW_SECONDS_MAX: i64 = 300;

const FIELDS: [&str; 8] = [
    "commission_id",
    "affiliate_id",
    "amount",
    "currency",
    "conversion_id",
    "order_reference",
    "hold_period_days",
    "occurred_at",
];

/// One JSON object being validated: every broken field is collected, with
/// the object's path (`commissions[2].`) in front of its name.
pub(crate) struct Item<'a> {
    pub(crate) prefix: String,
    pub(crate) object: &'a Map<String, Value>,
    pub(crate) errors: &'a mut Vec<FieldError>,
}

impl Item<'_> {
    pub(crate) fn fail(&mut self, field: &str, rule: impl Into<String>) {
        self.errors.push(FieldError {
            field: format!("{}{field}", self.prefix),
            rule: rule.into(),
        });
    }

    pub(crate) fn string(&mut self, field: &str, required: bool) -> Option<String> {
        match self.object.get(field) {
            None | Some(Value::Null) => {
                if required {
                    self.fail(field, "is required");
                }
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    /// Refuses a field the object must not have.
    pub(crate) fn known_fields(&mut self, known: &[&str]) {
        let object = self.object;
        for key in object.keys() {
            if !known.contains(&key.as_str()) {
                self.fail(
                    key,
                    format!("is not a known field (known: {})", known.join(", ")),
                );
            }
        }
    }

    /// A decimal string such as `"12.50"`, never a JSON number.
    pub(crate) fn decimal(&mut self, field: &str, required: bool) -> Option<String> {
        if let Some(Value::Number(_)) = self.object.get(field) {
            self.fail(
                field,
                "must be a decimal string such as \"12.50\", not a JSON number",
            );
            return None;
        }
        self.string(field, required)
    }

    /// An RFC 3339 time no later than `now` (and the allowed clock skew):
    /// `Some(None)` when absent, `None` when broken.
    pub(crate) fn past_time(
        &mut self,
        field: &str,
        now: DateTime<Utc>,
    ) -> Option<Option<DateTime<Utc>>> {
        let text = match self.object.get(field) {
            None | Some(Value::Null) => return Some(None),
            _ => self.string(field, true)?,
        };
        match DateTime::parse_from_rfc3339(&text) {
            Ok(t) if t.with_timezone(&Utc) <= now + Duration::seconds(FUTURE_SKEW_SECONDS_MAX) => {
                Some(Some(t.with_timezone(&Utc)))
            }
            Ok(_) => {
                self.fail(field, "must not be in the future");
                None
            }
            Err(_) => {
                self.fail(
                    field,
                    "must be an RFC 3339 time such as 2026-11-20T10:00:00Z",
                );
                None
            }
        }
    }

    /// Free text of 1 to `TEXT_LEN_MAX` bytes.
    pub(crate) fn text(&mut self, field: &str, required: bool) -> Option<String> {
        let value = self.string(field, required)?;
        match ledger_domain::events::check_text("x", &value, 1) {
            Ok(()) => Some(value),
            Err(e) => {
                self.fail(
                    field,
                    format!("must be {} to {} bytes long, got {}", e.min, e.max, e.len),
                );
                None
            }
        }
    }
}

fn parse_item(
    prefix: String,
    value: &Value,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<(CommissionCommand, Option<DateTime<Utc>>)> {
    let Value::Object(object) = value else {
        errors.push(FieldError {
            field: if prefix.is_empty() {
                "body".into()
            } else {
                prefix.trim_end_matches('.').to_owned()
            },
            rule: "must be a JSON object".into(),
        });
        return None;
    };
    let mut item = Item {
        prefix,
        object,
        errors,
    };
    item.known_fields(&FIELDS);
    let commission_id = item.string("commission_id", true).and_then(|s| {
        CommissionId::new(s)
            .map_err(|e| item.fail("commission_id", e.to_string()))
            .ok()
    });
    let affiliate_id = item.string("affiliate_id", true).and_then(|s| {
        AffiliateId::new(s)
            .map_err(|e| item.fail("affiliate_id", e.to_string()))
            .ok()
    });
    let currency = item.string("currency", true).and_then(|c| {
        currency_from_code(&c)
            .map_err(|e| item.fail("currency", e.to_string()))
            .ok()
    });
    let amount = item.decimal("amount", true);
    let money = match (amount, currency) {
        (Some(amount), Some(currency)) => match Money::parse(&amount, currency) {
            Ok(m) if m.is_positive() => Some(m),
            Ok(_) => {
                item.fail(
                    "amount",
                    "must be greater than zero (refunds and chargebacks are reversals)",
                );
                None
            }
            Err(e) => {
                item.fail("amount", e.to_string());
                None
            }
        },
        _ => None,
    };
    let conversion_id = item.string("conversion_id", true);
    let order_reference = item.string("order_reference", false);
    let hold_period_days = match item.object.get("hold_period_days") {
        None | Some(Value::Null) => Some(HOLD_PERIOD_DAYS_DEFAULT),
        Some(Value::Number(n)) => match n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n <= ledger_domain::commission::HOLD_PERIOD_DAYS_MAX)
        {
            Some(days) => Some(days),
            None => {
                item.fail(
                    "hold_period_days",
                    format!(
                        "must be a whole number from 0 to {}",
                        ledger_domain::commission::HOLD_PERIOD_DAYS_MAX
                    ),
                );
                None
            }
        },
        Some(_) => {
            item.fail("hold_period_days", "must be a number");
            None
        }
    };
    // Left out stays left out (`None`, the time of the request): the clock
    // is not a fact of the request, so a retry has the same facts.
    let occurred_at = item.past_time("occurred_at", now);
    for (field, value) in [
        ("conversion_id", &conversion_id),
        ("order_reference", &order_reference),
    ] {
        if let Some(v) = value {
            if let Err(e) = ledger_domain::events::check_text("x", v, 1) {
                item.fail(
                    field,
                    format!("must be {} to {} bytes long, got {}", e.min, e.max, e.len),
                );
            }
        }
    }
    Some((
        CommissionCommand::Record {
            commission_id: commission_id?,
            affiliate_id: affiliate_id?,
            amount: money?,
            hold_period_days: hold_period_days?,
            source_conversion_id: conversion_id?,
            order_reference,
        },
        occurred_at?,
    ))
}

/// A request body as JSON.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, Problem> {
    serde_json::from_slice(body)
        .map_err(|e| Problem::malformed_json(format!("the body is not valid JSON: {e}")))
}

/// What was parsed, or a 422 naming every broken field.
pub(crate) fn done<T>(errors: Vec<FieldError>, parsed: Vec<T>) -> Result<Vec<T>, Problem> {
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(Problem::unprocessable(errors))
    }
}

/// How a body is shaped: one item, or a bulk body `{"<field>": [...]}`.
pub(crate) enum BodyShape<'a> {
    One,
    Bulk(&'a [Value]),
    /// The bulk field is not an array (noted in the errors).
    Broken,
}

/// The shape of a body whose bulk form keeps its items in `field`: a bulk
/// body must hold 1 to `max` items (a 422 of its own otherwise) and no
/// other field (noted in `errors`, as is a `field` that is not an array).
pub(crate) fn bulk_shape<'a>(
    value: &'a Value,
    field: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Result<BodyShape<'a>, Problem> {
    match value.get(field) {
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > max {
                return Err(Problem::unprocessable(vec![FieldError {
                    field: field.into(),
                    rule: format!("must hold 1 to {max} items, got {}", items.len()),
                }]));
            }
            if let Some(other) = value
                .as_object()
                .and_then(|o| o.keys().find(|k| *k != field))
            {
                errors.push(FieldError {
                    field: other.clone(),
                    rule: "is not a known field of a bulk body".into(),
                });
            }
            Ok(BodyShape::Bulk(items))
        }
        Some(_) => {
            errors.push(FieldError {
                field: field.into(),
                rule: "must be an array".into(),
            });
            Ok(BodyShape::Broken)
        }
        None => Ok(BodyShape::One),
    }
}

/// A parsed commission and its `occurred_at` as given (`None` when left out).
pub type ParsedCommission = (CommissionCommand, Option<DateTime<Utc>>);

/// Parses a single or bulk body into commands, each with its `occurred_at`
/// as given (`None` when left out). All or nothing: any invalid item makes
/// the whole body a 422 naming every broken field.
pub fn parse_commissions(
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<ParsedCommission>, Problem> {
    let value = parse_json(body)?;
    let mut errors = Vec::new();
    let mut commands = Vec::new();
    match bulk_shape(&value, "commissions", BULK_ITEMS_MAX, &mut errors)? {
        BodyShape::Bulk(items) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(command) =
                    parse_item(format!("commissions[{i}]."), item, now, &mut errors)
                {
                    commands.push(command);
                }
            }
        }
        BodyShape::Broken => {}
        BodyShape::One => {
            if let Some(command) = parse_item(String::new(), &value, now, &mut errors) {
                commands.push(command);
            }
        }
    }
    // Indexes line up with the body's only when every item parsed.
    let mut seen = HashSet::new();
    let all_parsed = errors.is_empty();
    for (i, (command, _)) in commands.iter().enumerate().filter(|_| all_parsed) {
        if let CommissionCommand::Record { commission_id, .. } = command {
            if !seen.insert(commission_id.clone()) {
                errors.push(FieldError {
                    field: format!("commissions[{i}].commission_id"),
                    rule: format!("{commission_id} appears twice in this body"),
                });
            }
        }
    }
    done(errors, commands)
}

/// The schema of one commission on the wire, for the OpenAPI document. The
/// parser above reads the JSON itself (to name every broken field); a test
/// keeps this schema's fields equal to the ones it accepts.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct CommissionWire {
    /// Unique per tenant: the commission's stream.
    commission_id: String,
    affiliate_id: String,
    /// A decimal string at the currency's minor unit ("12.50" EUR, "1200" JPY).
    #[schema(pattern = r"^-?[0-9]+(\.[0-9]+)?$")]
    amount: String,
    /// ISO 4217.
    currency: String,
    /// The tracking network's conversion id.
    conversion_id: String,
    order_reference: Option<String>,
    /// Default 30.
    hold_period_days: Option<u32>,
    /// RFC 3339; default now; at most 5 minutes in the future.
    occurred_at: Option<String>,
}

/// A bulk body: at most 99 commissions, all or nothing.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct BulkWire {
    commissions: Vec<CommissionWire>,
}

#[cfg(test)]
mod schema_tests {
    use utoipa::PartialSchema;

    #[test]
    fn the_documented_fields_are_the_parsed_ones() {
        let schema = serde_json::to_value(super::CommissionWire::schema()).unwrap();
        let mut documented: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        documented.sort();
        let mut parsed: Vec<String> = super::FIELDS.iter().map(|f| (*f).to_owned()).collect();
        parsed.sort();
        assert_eq!(documented, parsed);
    }
}
