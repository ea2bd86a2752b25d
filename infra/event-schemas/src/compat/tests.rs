//! The compatibility rules, case by case.

use serde_json::json;

use super::compatible;

fn amount_defs(amount_type: &str) -> serde_json::Value {
    json!({
        "Amount": {
            "type": "object",
            "properties": {
                "amount": {"type": amount_type},
                "currency": {"type": "string"}
            },
            "required": ["amount", "currency"]
        }
    })
}

fn object(properties: serde_json::Value, required: &[&str]) -> serde_json::Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn problems(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    compatible(old, new).err().unwrap_or_default()
}

#[test]
fn identical_schemas_pass() {
    let schema = object(
        json!({"id": {"type": "string"}, "note": {"type": ["string", "null"]}}),
        &["id"],
    );
    assert_eq!(compatible(&schema, &schema), Ok(()));
}

#[test]
fn a_new_optional_property_passes() {
    let old = object(json!({"id": {"type": "string"}}), &["id"]);
    let new = object(
        json!({"id": {"type": "string"}, "note": {"type": ["string", "null"]}}),
        &["id"],
    );
    assert_eq!(compatible(&old, &new), Ok(()));
}

#[test]
fn a_new_required_property_fails() {
    let old = object(json!({"id": {"type": "string"}}), &["id"]);
    let new = object(
        json!({"id": {"type": "string"}, "note": {"type": "string"}}),
        &["id", "note"],
    );
    assert_eq!(problems(&old, &new), ["`note` is new and required"]);
}

#[test]
fn a_removed_property_fails() {
    let old = object(
        json!({"id": {"type": "string"}, "note": {"type": ["string", "null"]}}),
        &["id"],
    );
    let new = object(json!({"id": {"type": "string"}}), &["id"]);
    assert_eq!(problems(&old, &new), ["`note` was removed"]);
}

#[test]
fn a_retyped_property_fails() {
    let old = object(json!({"line": {"type": "string"}}), &["line"]);
    let new = object(json!({"line": {"type": "integer"}}), &["line"]);
    assert_eq!(
        problems(&old, &new),
        ["`line` changed type from string to integer"]
    );
    // An option that lost its null is retyped too.
    let old = object(json!({"line": {"type": ["integer", "null"]}}), &[]);
    let new = object(json!({"line": {"type": "integer"}}), &[]);
    assert_eq!(
        problems(&old, &new),
        ["`line` changed type from integer or null to integer"]
    );
}

#[test]
fn a_changed_format_fails() {
    let old = object(
        json!({"n": {"type": "integer", "format": "uint32"}}),
        &["n"],
    );
    let new = object(
        json!({"n": {"type": "integer", "format": "uint64"}}),
        &["n"],
    );
    assert_eq!(
        problems(&old, &new),
        ["`n` changed format from \"uint32\" to \"uint64\""]
    );
}

#[test]
fn a_property_that_became_required_fails() {
    let old = object(
        json!({"id": {"type": "string"}, "note": {"type": "string"}}),
        &["id"],
    );
    let new = object(
        json!({"id": {"type": "string"}, "note": {"type": "string"}}),
        &["id", "note"],
    );
    assert_eq!(problems(&old, &new), ["`note` became required"]);
    // And the other way: receivers relied on it being there.
    assert_eq!(
        problems(&new, &old),
        ["`note` is no longer required (receivers may miss it)"]
    );
}

#[test]
fn a_removed_enum_value_fails_and_an_added_one_passes() {
    let old = object(
        json!({"kind": {"type": "string", "enum": ["a", "b"]}}),
        &["kind"],
    );
    let fewer = object(
        json!({"kind": {"type": "string", "enum": ["a"]}}),
        &["kind"],
    );
    let more = object(
        json!({"kind": {"type": "string", "enum": ["a", "b", "c"]}}),
        &["kind"],
    );
    assert_eq!(
        problems(&old, &fewer),
        ["`kind` no longer allows the value \"b\""]
    );
    assert_eq!(compatible(&old, &more), Ok(()));
}

#[test]
fn a_changed_const_fails() {
    let old = object(
        json!({"type": {"type": "string", "const": "x.a"}}),
        &["type"],
    );
    let new = object(
        json!({"type": {"type": "string", "const": "x.b"}}),
        &["type"],
    );
    assert_eq!(
        problems(&old, &new),
        ["`type` no longer allows the value \"x.a\""]
    );
    let free = object(json!({"type": {"type": "string"}}), &["type"]);
    assert_eq!(
        problems(&free, &old),
        ["`type` is now restricted to fixed values"]
    );
}

#[test]
fn changes_inside_items_are_seen() {
    let item = |extra: serde_json::Value| {
        let mut props = json!({"item_id": {"type": "string"}});
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        json!({"type": "array", "items": object(props, &["item_id"])})
    };
    let old = object(
        json!({"items": item(json!({"processor": {"type": "string"}}))}),
        &["items"],
    );
    let new = object(json!({"items": item(json!({}))}), &["items"]);
    assert_eq!(problems(&old, &new), ["`items[].processor` was removed"]);
    let added = object(
        json!({"items": item(json!({
            "processor": {"type": "string"},
            "destination": {"type": ["string", "null"]}
        }))}),
        &["items"],
    );
    assert_eq!(compatible(&old, &added), Ok(()));
}

#[test]
fn changes_behind_refs_into_defs_are_seen() {
    let doc = |amount_type: &str| {
        json!({
            "type": "object",
            "properties": {
                "amount": {"$ref": "#/$defs/Amount", "description": "What is paid."},
                "items": {"type": "array", "items": {"$ref": "#/$defs/Amount"}}
            },
            "required": ["amount", "items"],
            "$defs": amount_defs(amount_type)
        })
    };
    assert_eq!(compatible(&doc("string"), &doc("string")), Ok(()));
    assert_eq!(
        problems(&doc("string"), &doc("number")),
        [
            "`amount.amount` changed type from string to number",
            "`items[].amount` changed type from string to number"
        ]
    );
}

#[test]
fn refs_resolve_within_each_document() {
    // The same shape, inline in one document and behind a ref in the
    // other: nothing changed for a receiver.
    let inline = object(
        json!({"amount": amount_defs("string")["Amount"].clone()}),
        &["amount"],
    );
    let mut by_ref = object(json!({"amount": {"$ref": "#/$defs/Amount"}}), &["amount"]);
    by_ref["$defs"] = amount_defs("string");
    assert_eq!(compatible(&inline, &by_ref), Ok(()));
    let mut broken = by_ref.clone();
    broken["properties"]["amount"]["$ref"] = json!("#/$defs/Missing");
    assert_eq!(
        problems(&inline, &broken),
        ["`amount` has a $ref that does not resolve: \"#/$defs/Missing\""]
    );
}

#[test]
fn options_as_schemars_emits_them() {
    // `Option<Amount>`: anyOf a ref and null.
    let optional_amount = |defs: serde_json::Value| {
        json!({
            "type": "object",
            "properties": {
                "total": {"anyOf": [{"$ref": "#/$defs/Amount"}, {"type": "null"}]}
            },
            "$defs": defs
        })
    };
    let old = optional_amount(amount_defs("string"));
    assert_eq!(compatible(&old, &old), Ok(()));
    assert_eq!(
        problems(&old, &optional_amount(amount_defs("integer"))),
        ["`total.amount` changed type from string to integer"]
    );
    // The option became a plain value: it may no longer be null.
    let mut plain = old.clone();
    plain["properties"]["total"] = json!({"$ref": "#/$defs/Amount"});
    assert_eq!(
        problems(&old, &plain),
        ["`total` changed type from object or null to object"]
    );
    // `["string", "null"]` and anyOf string/null are the same option.
    let a = object(json!({"s": {"type": ["string", "null"]}}), &[]);
    let b = object(
        json!({"s": {"oneOf": [{"type": "string"}, {"type": "null"}]}}),
        &[],
    );
    assert_eq!(compatible(&a, &b), Ok(()));
}

#[test]
fn alternatives_are_compared_one_by_one() {
    let doc = |second: &str| {
        json!({"anyOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}},
            {"type": "object", "properties": {"b": {"type": second}}}
        ]})
    };
    assert_eq!(compatible(&doc("string"), &doc("string")), Ok(()));
    assert_eq!(
        problems(&doc("string"), &doc("boolean")),
        ["`(alternative 2).b` changed type from string to boolean"]
    );
}

#[test]
fn recursive_refs_end() {
    let tree = json!({
        "$ref": "#/$defs/Node",
        "$defs": {"Node": {
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}
        }}
    });
    assert_eq!(compatible(&tree, &tree), Ok(()));
}
