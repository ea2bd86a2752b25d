//! Comparing an old schema with a new one, shape by shape: types, formats,
//! allowed values, properties and what is nested inside.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::keywords::{describe, properties, required, types, values};
use super::{Shape, Walk, child};

impl<'a> Walk<'a> {
    pub(super) fn schema(&mut self, path: &str, old: &'a Value, new: &'a Value) {
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
