//! Whether a new JSON Schema still describes what receivers of the old one
//! rely on.
//!
//! The rule (for the schemas schemars emits: objects, arrays, scalars,
//! `$ref`s into `$defs`, `anyOf`/`oneOf` for options and enums):
//!
//! - a property may be added if it is optional;
//! - no property may be removed, become required, or stop being required;
//! - a value's type (including whether it may be `null`) and `format` stay
//!   the same;
//! - an `enum` or `const` may gain values but not lose any, and a value
//!   that was free may not become restricted;
//! - the same holds inside `items`, `additionalProperties`, every
//!   alternative of `anyOf`/`oneOf` and every `$ref`'s target.
//!
//! Titles, descriptions and examples are documentation and never count.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value};

/// `Ok` when `new` keeps every promise `old` made (see the module docs);
/// otherwise one message per broken promise, each naming the property path
/// (`data.items[].amount`).
pub fn compatible(old: &Value, new: &Value) -> Result<(), Vec<String>> {
    let mut walk = Walk {
        old_root: old,
        new_root: new,
        seen: HashSet::new(),
        problems: Vec::new(),
    };
    walk.schema("", old, new);
    if walk.problems.is_empty() {
        Ok(())
    } else {
        Err(walk.problems)
    }
}

struct Walk<'a> {
    old_root: &'a Value,
    new_root: &'a Value,
    /// The (resolved) schema pairs being compared, by address: recursive
    /// types end.
    seen: HashSet<(usize, usize)>,
    problems: Vec<String>,
}

/// A schema with its `$ref`s followed and its `null` alternative split off.
struct Shape<'a> {
    schema: &'a Value,
    nullable: bool,
    /// The non-null alternatives when there are more than one.
    alternatives: Vec<&'a Value>,
}

fn display(path: &str) -> &str {
    if path.is_empty() { "(root)" } else { path }
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// The schema's non-null types, and whether it allows `null`. `None`: no
/// `type` keyword (any type).
fn types(schema: &Value) -> (Option<BTreeSet<String>>, bool) {
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

fn is_null_only(schema: &Value) -> bool {
    matches!(types(schema), (Some(set), true) if set.is_empty())
}

fn describe(types: &Option<BTreeSet<String>>, nullable: bool) -> String {
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
fn values(schema: &Value) -> Option<Vec<&Value>> {
    if let Some(c) = schema.get("const") {
        return Some(vec![c]);
    }
    schema
        .get("enum")
        .and_then(Value::as_array)
        .map(|vs| vs.iter().collect())
}

fn required(schema: &Value) -> BTreeSet<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

impl<'a> Walk<'a> {
    fn problem(&mut self, path: &str, message: impl AsRef<str>) {
        self.problems
            .push(format!("`{}` {}", display(path), message.as_ref()));
    }

    /// Follows `$ref`s (JSON pointers within `root`, `#/$defs/Name`).
    fn resolve(
        &mut self,
        root: &'a Value,
        mut schema: &'a Value,
        path: &str,
    ) -> Option<(&'a Value, Option<&'a str>)> {
        let mut first_ref = None;
        for _ in 0..64 {
            let Some(reference) = schema.get("$ref") else {
                return Some((schema, first_ref));
            };
            let target = reference
                .as_str()
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|pointer| root.pointer(pointer));
            match target {
                Some(target) => {
                    first_ref = first_ref.or(reference.as_str());
                    schema = target;
                }
                None => {
                    self.problem(
                        path,
                        format!("has a $ref that does not resolve: {reference}"),
                    );
                    return None;
                }
            }
        }
        self.problem(path, "has a $ref loop");
        None
    }

    /// Follows refs and splits an `anyOf`/`oneOf` into its `null` part and
    /// the rest.
    fn shape(&mut self, root: &'a Value, schema: &'a Value, path: &str) -> Option<Shape<'a>> {
        let (schema, _) = self.resolve(root, schema, path)?;
        let branches = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array);
        let Some(branches) = branches else {
            return Some(Shape {
                schema,
                nullable: types(schema).1,
                alternatives: Vec::new(),
            });
        };
        let mut nullable = false;
        let mut rest = Vec::new();
        for branch in branches {
            let (branch, _) = self.resolve(root, branch, path)?;
            if is_null_only(branch) {
                nullable = true;
            } else {
                rest.push(branch);
            }
        }
        if rest.len() == 1 {
            let inner = self.shape(root, rest[0], path)?;
            return Some(Shape {
                nullable: nullable || inner.nullable,
                ..inner
            });
        }
        Some(Shape {
            schema,
            nullable,
            alternatives: rest,
        })
    }

    fn schema(&mut self, path: &str, old: &'a Value, new: &'a Value) {
        let (old_root, new_root) = (self.old_root, self.new_root);
        let (Some(old), Some(new)) = (
            self.shape(old_root, old, path),
            self.shape(new_root, new, path),
        ) else {
            return;
        };
        // The same pair of (resolved) schemas already under comparison
        // further up: a recursive type, compared once.
        let key = (
            std::ptr::from_ref(old.schema) as usize,
            std::ptr::from_ref(new.schema) as usize,
        );
        if !self.seen.insert(key) {
            return;
        }
        self.shapes(path, &old, &new);
        self.seen.remove(&key);
    }

    fn shapes(&mut self, path: &str, old: &Shape<'a>, new: &Shape<'a>) {
        if !old.alternatives.is_empty() || !new.alternatives.is_empty() {
            if old.alternatives.len() != new.alternatives.len() {
                self.problem(
                    path,
                    format!(
                        "had {} alternatives (anyOf/oneOf), now {}",
                        old.alternatives.len(),
                        new.alternatives.len()
                    ),
                );
                return;
            }
            if old.nullable != new.nullable {
                self.nullability(path, old.nullable, new.nullable);
            }
            for (i, (o, n)) in old.alternatives.iter().zip(&new.alternatives).enumerate() {
                self.schema(&format!("{path}(alternative {})", i + 1), o, n);
            }
            return;
        }

        let (old_types, _) = types(old.schema);
        let (new_types, _) = types(new.schema);
        if old_types != new_types || old.nullable != new.nullable {
            self.problem(
                path,
                format!(
                    "changed type from {} to {}",
                    describe(&old_types, old.nullable),
                    describe(&new_types, new.nullable)
                ),
            );
        }

        let old_format = old.schema.get("format");
        let new_format = new.schema.get("format");
        if old_format != new_format {
            let show = |f: Option<&Value>| f.map_or_else(|| "none".to_owned(), Value::to_string);
            self.problem(
                path,
                format!(
                    "changed format from {} to {}",
                    show(old_format),
                    show(new_format)
                ),
            );
        }

        match (values(old.schema), values(new.schema)) {
            (_, None) => {}
            (None, Some(_)) => self.problem(path, "is now restricted to fixed values"),
            (Some(old_values), Some(new_values)) => {
                for value in old_values {
                    if !new_values.contains(&value) {
                        self.problem(path, format!("no longer allows the value {value}"));
                    }
                }
            }
        }

        self.properties(path, old.schema, new.schema);

        match (old.schema.get("items"), new.schema.get("items")) {
            (Some(o), Some(n)) => self.schema(&format!("{path}[]"), o, n),
            (None, None) => {}
            (Some(_), None) => self.problem(path, "no longer describes its items"),
            (None, Some(_)) => self.problem(path, "now restricts its items"),
        }

        if let (Some(o @ Value::Object(_)), Some(n @ Value::Object(_))) = (
            old.schema.get("additionalProperties"),
            new.schema.get("additionalProperties"),
        ) {
            self.schema(&format!("{path}{{*}}"), o, n);
        }
    }

    fn nullability(&mut self, path: &str, old: bool, new: bool) {
        if new && !old {
            self.problem(path, "may now be null");
        } else if old && !new {
            self.problem(path, "may no longer be null");
        }
    }

    fn properties(&mut self, path: &str, old: &'a Value, new: &'a Value) {
        let empty = Map::new();
        let (old_props, new_props) = match (properties(old), properties(new)) {
            (None, None) => return,
            (o, n) => (o.unwrap_or(&empty), n.unwrap_or(&empty)),
        };
        // `properties()` borrows from `old`/`new` ('a) or from `empty`
        // (local); collect what the recursion needs with 'a first.
        let old_required = required(old);
        let new_required = required(new);
        let names: BTreeSet<&str> = old_props
            .keys()
            .chain(new_props.keys())
            .map(String::as_str)
            .chain(old_required.iter().copied())
            .chain(new_required.iter().copied())
            .collect();
        for name in names {
            let at = child(path, name);
            let was = old_props.contains_key(name) || old_required.contains(name);
            let is = new_props.contains_key(name) || new_required.contains(name);
            let was_required = old_required.contains(name);
            let is_required = new_required.contains(name);
            match (was, is) {
                (true, false) => self.problem(&at, "was removed"),
                (false, true) if is_required => self.problem(&at, "is new and required"),
                (false, _) => {}
                (true, true) => {
                    if is_required && !was_required {
                        self.problem(&at, "became required");
                    } else if was_required && !is_required {
                        self.problem(&at, "is no longer required (receivers may miss it)");
                    }
                }
            }
        }
        let (Some(old_props), Some(new_props)) = (properties(old), properties(new)) else {
            return;
        };
        for (name, old_schema) in old_props {
            if let Some(new_schema) = new_props.get(name) {
                self.schema(&child(path, name), old_schema, new_schema);
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
}
