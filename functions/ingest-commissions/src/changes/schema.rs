//! The changes' wire shapes, for the OpenAPI document.

/// A reversal on the wire, for the OpenAPI document (the parser above reads
/// the JSON itself; a test keeps these fields equal to the parsed ones).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct ReversalWire {
    /// A positive decimal string at the currency's minor unit; left out:
    /// everything that remains.
    #[schema(pattern = r"^[0-9]+(\.[0-9]+)?$")]
    amount: Option<String>,
    /// ISO 4217; must be the commission's.
    currency: String,
    /// `refund`, `chargeback` or `fraud`.
    reason: String,
    /// The processor's or shop's reference (refund id, dispute id, case id).
    reference: String,
    /// RFC 3339; default now; at most 5 minutes in the future.
    occurred_at: Option<String>,
}

/// An adjustment on the wire.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct AdjustmentWire {
    /// A signed, non-zero decimal string at the currency's minor unit.
    #[schema(pattern = r"^-?[0-9]+(\.[0-9]+)?$")]
    delta: String,
    /// ISO 4217; must be the commission's.
    currency: String,
    /// Why (1 to 500 bytes).
    reason: String,
    /// RFC 3339; default now; at most 5 minutes in the future.
    occurred_at: Option<String>,
}

/// One item of a bulk body, or one queue message: `kind` and
/// `commission_id`, then the fields of a reversal or of an adjustment.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct ChangeWire {
    /// `reversal` or `adjustment` (on the queue, `commission` or none: a commission).
    kind: String,
    commission_id: String,
    /// Reversals only; left out: everything that remains.
    amount: Option<String>,
    /// Adjustments only (required there).
    delta: Option<String>,
    currency: String,
    /// Reversals: `refund`, `chargeback`, `fraud`; adjustments: free text.
    reason: String,
    /// Reversals only (required there).
    reference: Option<String>,
    occurred_at: Option<String>,
}

/// A bulk body: at most 49 changes, one per commission, all or nothing.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct ChangesWire {
    changes: Vec<ChangeWire>,
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;
    use crate::changes::CHANGES_MAX;
    use crate::changes::parse::{ADJUSTMENT_FIELDS, ITEM_FIELDS, REVERSAL_FIELDS};

    fn fields(schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) -> Vec<String> {
        let schema = serde_json::to_value(schema).unwrap();
        let mut out: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        out.sort();
        out
    }

    fn sorted(fields: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn the_documented_fields_are_the_parsed_ones() {
        assert_eq!(fields(ReversalWire::schema()), sorted(&REVERSAL_FIELDS));
        assert_eq!(fields(AdjustmentWire::schema()), sorted(&ADJUSTMENT_FIELDS));
        let all: Vec<&str> = ITEM_FIELDS
            .iter()
            .chain(&REVERSAL_FIELDS)
            .chain(&ADJUSTMENT_FIELDS)
            .copied()
            .collect();
        assert_eq!(fields(ChangeWire::schema()), sorted(&all));
        assert_eq!(CHANGES_MAX, 49, "the documented limit");
    }
}
