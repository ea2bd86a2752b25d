//! The committed `events/schemas/` against the code: up to date (what
//! `event-schemas check` runs in CI), examples valid against their own
//! schemas, and the check itself seeing stale and incompatible files.

use std::fs;
use std::path::{Path, PathBuf};

use event_schemas::{File, FileKind, check, generate, version_dir};
use ledger_domain::public::PUBLIC_EVENT_TYPES;
use serde_json::{Value, json};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_committed_schemas_are_up_to_date() {
    if let Err(messages) = check(&repository_root()) {
        panic!(
            "events/schemas/ does not match the code:\n{}",
            messages.join("\n")
        );
    }
}

fn file<'a>(files: &'a [File], path: &str) -> &'a File {
    files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} is not generated"))
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON: {e}"))
}

#[test]
fn every_type_has_a_schema_and_an_example() {
    let files = generate().unwrap_or_else(|e| panic!("{e}"));
    let dir = version_dir();
    for event_type in PUBLIC_EVENT_TYPES {
        let schema = parse(&file(&files, &format!("{dir}/{event_type}.json")).content);
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["properties"]["type"]["const"], *event_type);
        let example = parse(&file(&files, &format!("{dir}/examples/{event_type}.json")).content);
        assert_eq!(example["type"], *event_type);
    }
    let readme = &file(&files, "events/schemas/README.md").content;
    for event_type in PUBLIC_EVENT_TYPES {
        assert!(
            readme.contains(&format!("| `{event_type}` |")),
            "{event_type}"
        );
    }
}

/// Enough of JSON Schema for what schemars emits: `$ref`, `anyOf`/`oneOf`,
/// `type`, `const`/`enum`, `properties`, `required`, `items`, `format:
/// date-time`, `minimum`.
fn validate(root: &Value, schema: &Value, instance: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .unwrap_or_else(|| panic!("{path}: unresolved {reference}"));
        validate(root, target, instance, path, errors);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let matching = branches
                .iter()
                .filter(|b| {
                    let mut e = Vec::new();
                    validate(root, b, instance, path, &mut e);
                    e.is_empty()
                })
                .count();
            if matching == 0 || (key == "oneOf" && matching > 1) {
                errors.push(format!(
                    "{path}: {matching} of the {key} alternatives match"
                ));
            }
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let is = |t: &str| match t {
            "null" => instance.is_null(),
            "boolean" => instance.is_boolean(),
            "string" => instance.is_string(),
            "integer" => instance.is_i64() || instance.is_u64(),
            "number" => instance.is_number(),
            "object" => instance.is_object(),
            "array" => instance.is_array(),
            _ => false,
        };
        if !types.iter().any(|t| is(t)) {
            errors.push(format!("{path}: {instance} is not {types:?}"));
        }
    }
    if let Some(c) = schema.get("const")
        && c != instance
    {
        errors.push(format!("{path}: {instance} is not {c}"));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(instance)
    {
        errors.push(format!("{path}: {instance} is not one of {values:?}"));
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && let Some(text) = instance.as_str()
        && chrono::DateTime::parse_from_rfc3339(text).is_err()
    {
        errors.push(format!("{path}: {text} is not an RFC 3339 date-time"));
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        instance.as_f64(),
    ) && n < min
    {
        errors.push(format!("{path}: {n} is below {min}"));
    }
    if let Some(object) = instance.as_object() {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                errors.push(format!("{path}.{name}: required but missing"));
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, value) in object {
                match properties.get(name) {
                    Some(s) => validate(root, s, value, &format!("{path}.{name}"), errors),
                    // Receivers must ignore unknown fields, but the code
                    // should send none its schema does not describe.
                    None => errors.push(format!("{path}.{name}: not in the schema")),
                }
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), instance.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(root, items, item, &format!("{path}[{i}]"), errors);
        }
    }
}

#[test]
fn every_example_is_valid_against_its_schema_and_the_envelope() {
    let files = generate().unwrap_or_else(|e| panic!("{e}"));
    let dir = version_dir();
    let envelope = parse(&file(&files, &format!("{dir}/envelope.json")).content);
    for event_type in PUBLIC_EVENT_TYPES {
        let schema = parse(&file(&files, &format!("{dir}/{event_type}.json")).content);
        let example = parse(&file(&files, &format!("{dir}/examples/{event_type}.json")).content);
        let mut errors = Vec::new();
        validate(&schema, &schema, &example, event_type, &mut errors);
        validate(&envelope, &envelope, &example, event_type, &mut errors);
        assert!(errors.is_empty(), "{errors:#?}");
        // A schema accepts another type's body only if it is that type.
        let mut other = example.clone();
        other["type"] = json!("commission.unknown");
        let mut errors = Vec::new();
        validate(&schema, &schema, &other, event_type, &mut errors);
        assert!(!errors.is_empty(), "{event_type} accepts any type");
    }
}

#[test]
fn the_validator_catches_a_number_for_money() {
    // The validator above is what the examples test relies on: it must
    // refuse a body that breaks the schema.
    let files = generate().unwrap_or_else(|e| panic!("{e}"));
    let dir = version_dir();
    let schema = parse(&file(&files, &format!("{dir}/commission.recorded.json")).content);
    let mut example =
        parse(&file(&files, &format!("{dir}/examples/commission.recorded.json")).content);
    example["data"]["amount"]["amount"] = json!(80.0);
    let mut errors = Vec::new();
    validate(&schema, &schema, &example, "", &mut errors);
    assert_eq!(errors, [r#".data.amount.amount: 80.0 is not ["string"]"#]);
}

/// A scratch repository holding the generated files, for the check to
/// compare against after a test changes them.
fn scratch() -> (tempfile::TempDir, Vec<File>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let files = generate().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        event_schemas::write(dir.path(), false).map(|w| w.len()),
        Ok(files.len())
    );
    assert_eq!(check(dir.path()), Ok(()));
    (dir, files)
}

fn edit(root: &Path, path: &str, change: impl FnOnce(&mut Value)) {
    let full = root.join(path);
    let mut value = parse(&fs::read_to_string(&full).unwrap_or_default());
    change(&mut value);
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    fs::write(full, text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_check_names_a_stale_example() {
    let (dir, _) = scratch();
    let path = format!("{}/examples/commission.matured.json", version_dir());
    edit(dir.path(), &path, |v| {
        v["data"]["amount"]["amount"] = json!("1.00")
    });
    let messages = check(dir.path()).err().unwrap_or_default();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].starts_with(&path), "{messages:?}");
    assert!(
        messages[0].contains("cargo run -p event-schemas -- write"),
        "{messages:?}"
    );
    // `write` repairs it.
    assert_eq!(event_schemas::write(dir.path(), false), Ok(vec![path]));
    assert_eq!(check(dir.path()), Ok(()));
}

#[test]
fn a_new_optional_property_in_the_code_asks_for_write() {
    // The committed baseline lacks an optional property the code has: as
    // if the code had just added it.
    let (dir, _) = scratch();
    let path = format!("{}/commission.recorded.json", version_dir());
    edit(dir.path(), &path, |v| {
        if let Some(p) = v["properties"]["data"]["properties"].as_object_mut() {
            p.remove("order_reference");
        }
    });
    let messages = check(dir.path()).err().unwrap_or_default();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].starts_with(&path), "{messages:?}");
    assert!(
        messages[0].contains("backward compatible): run `cargo run -p event-schemas -- write`"),
        "{messages:?}"
    );
    assert!(
        !messages[0].contains("raise PUBLIC_EVENT_VERSION"),
        "{messages:?}"
    );
}

#[test]
fn a_property_the_code_dropped_is_not_backward_compatible() {
    // The committed baseline has a property the code no longer sends.
    let (dir, _) = scratch();
    let path = format!("{}/payout_batch.drafted.json", version_dir());
    edit(dir.path(), &path, |v| {
        v["$defs"]["PayoutItemData"]["properties"]["fee"] = json!({"$ref": "#/$defs/Amount"});
    });
    let messages = check(dir.path()).err().unwrap_or_default();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].starts_with(&path), "{messages:?}");
    assert!(
        messages[0].contains("is not backward compatible: raise PUBLIC_EVENT_VERSION"),
        "{messages:?}"
    );
    assert!(
        messages[0].contains("`data.items[].fee` was removed"),
        "{messages:?}"
    );
    // `write` refuses to overwrite the baseline with it, unless forced.
    let before = fs::read_to_string(dir.path().join(&path)).unwrap_or_default();
    assert!(event_schemas::write(dir.path(), false).is_err());
    assert_eq!(
        fs::read_to_string(dir.path().join(&path)).unwrap_or_default(),
        before
    );
    assert_eq!(event_schemas::write(dir.path(), true), Ok(vec![path]));
    assert_eq!(check(dir.path()), Ok(()));
}

#[test]
fn a_removed_type_and_a_missing_file_are_reported() {
    let (dir, files) = scratch();
    let dir_v = version_dir();
    let schema = file(&files, &format!("{dir_v}/commission.matured.json"));
    assert_eq!(schema.kind, FileKind::Schema);
    // A committed type the code no longer sends, and a generated file
    // that was never committed.
    fs::write(
        dir.path().join(format!("{dir_v}/commission.voided.json")),
        "{}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    fs::remove_file(dir.path().join(&schema.path)).unwrap_or_else(|e| panic!("{e}"));
    let messages = check(dir.path()).err().unwrap_or_default();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with(&schema.path) && m.contains("is missing")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("commission.voided.json")
            && m.contains("is not backward compatible: raise PUBLIC_EVENT_VERSION")),
        "{messages:?}"
    );
}

#[test]
fn old_versions_are_left_alone() {
    let (dir, _) = scratch();
    let old = dir.path().join("events/schemas/v0");
    fs::create_dir_all(&old).unwrap_or_else(|e| panic!("{e}"));
    fs::write(old.join("commission.recorded.json"), "{\"stale\": true}")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(check(dir.path()), Ok(()));
    assert_eq!(event_schemas::write(dir.path(), false), Ok(vec![]));
    assert!(old.join("commission.recorded.json").exists());
}

#[test]
fn every_generated_schema_is_compatible_with_itself() {
    for f in generate().unwrap_or_else(|e| panic!("{e}")) {
        if f.kind == FileKind::Schema {
            let v = parse(&f.content);
            assert_eq!(event_schemas::compatible(&v, &v), Ok(()), "{}", f.path);
        }
    }
}
