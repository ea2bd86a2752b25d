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

mod compare;
mod keywords;
mod resolve;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use serde_json::Value;

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

impl<'a> Walk<'a> {
    fn problem(&mut self, path: &str, message: impl AsRef<str>) {
        self.problems
            .push(format!("`{}` {}", display(path), message.as_ref()));
    }
}
