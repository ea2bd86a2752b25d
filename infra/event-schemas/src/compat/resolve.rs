//! Following `$ref`s and splitting off an `anyOf`/`oneOf`'s `null`: a
//! schema read as the [`Shape`] that is compared.

use serde_json::Value;

use super::keywords::{is_null_only, types};
use super::{Shape, Walk};

impl<'a> Walk<'a> {
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
    pub(super) fn shape(
        &mut self,
        root: &'a Value,
        schema: &'a Value,
        path: &str,
    ) -> Option<Shape<'a>> {
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
}
