//! Reading one schema's keywords: its types, allowed values, required
//! names and properties.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// The schema's non-null types, and whether it allows `null`. `None`: no
/// `type` keyword (any type).
pub(super) fn types(schema: &Value) -> (Option<BTreeSet<String>>, bool) {
    let names: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return (None, false),
    };
    let nullable = names.contains(&"null");
    let set = names
        .into_iter()
        .filter(|t| *t != "null")
        .map(str::to_owned)
        .collect();
    (Some(set), nullable)
}

pub(super) fn is_null_only(schema: &Value) -> bool {
    matches!(types(schema), (Some(set), true) if set.is_empty())
}

pub(super) fn describe(types: &Option<BTreeSet<String>>, nullable: bool) -> String {
    let mut out = match types {
        None => "any".to_owned(),
        Some(set) if set.is_empty() => String::new(),
        Some(set) => set.iter().cloned().collect::<Vec<_>>().join(" or "),
    };
    if nullable {
        out = if out.is_empty() {
            "null".to_owned()
        } else {
            format!("{out} or null")
        };
    }
    out
}

/// The allowed values (`enum`, or `const` as one value); `None`: any.
pub(super) fn values(schema: &Value) -> Option<Vec<&Value>> {
    if let Some(c) = schema.get("const") {
        return Some(vec![c]);
    }
    schema
        .get("enum")
        .and_then(Value::as_array)
        .map(|vs| vs.iter().collect())
}

pub(super) fn required(schema: &Value) -> BTreeSet<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

pub(super) fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}
