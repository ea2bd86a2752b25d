//! The public events' contract as files: a JSON Schema (draft 2020-12) of
//! every public event type's whole body, the envelope's schema, one example
//! per type made by the code that sends them, and a README, under
//! `events/schemas/v{PUBLIC_EVENT_VERSION}/`.
//!
//! The committed files of the current version are its baseline: [`check`]
//! fails when they are stale, and says whether the difference is backward
//! compatible ([`compatible`]: regenerate with `write`) or not (raise
//! `PUBLIC_EVENT_VERSION`, which starts a new directory beside the old
//! ones; old directories are kept for their receivers and not checked).

mod compat;
mod examples;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ledger_domain::public::{
    self, CommissionAdjustedData, CommissionMaturedData, CommissionRecordedData,
    CommissionReversedData, PUBLIC_EVENT_TYPES, PUBLIC_EVENT_VERSION, PayoutBatchApprovedData,
    PayoutBatchDraftedData, PayoutBatchRejectedData, PayoutItemOutcomeData,
    PayoutItemSubmittedData, PublicEvent, ReceivableNettedData, ReceivableOpenedData,
    ReconciliationMismatchFoundData, StatementPublishedData,
};
use serde_json::{Map, Value, json};

pub use compat::compatible;

/// Where the schemas live, relative to the repository root.
pub const SCHEMAS_DIR: &str = "events/schemas";

/// The command that regenerates the files.
pub const WRITE_COMMAND: &str = "cargo run -p event-schemas -- write";

/// The directory of the current version, relative to the repository root.
pub fn version_dir() -> String {
    format!("{SCHEMAS_DIR}/v{PUBLIC_EVENT_VERSION}")
}

/// What a type's `data` is and when the type is sent.
struct TypeInfo {
    data: Value,
    sent_when: &'static str,
}

fn schema_value<T: schemars::JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

/// Every public type's data schema and one line on when it is sent. A type
/// listed in `PUBLIC_EVENT_TYPES` that is missing here is an error, so a
/// new type cannot ship without its schema.
fn type_info(event_type: &str) -> Option<TypeInfo> {
    let (data, sent_when) = match event_type {
        "commission.recorded" => (
            schema_value::<CommissionRecordedData>(),
            "a conversion earned an affiliate a commission, on hold until `matures_at`",
        ),
        "commission.matured" => (
            schema_value::<CommissionMaturedData>(),
            "the hold period ended: the amount became available",
        ),
        "commission.reversed" => (
            schema_value::<CommissionReversedData>(),
            "a refund, chargeback, fraud or manual reversal took (part of) a commission back",
        ),
        "commission.adjusted" => (
            schema_value::<CommissionAdjustedData>(),
            "a signed correction of what a commission earned",
        ),
        "payout_batch.drafted" => (
            schema_value::<PayoutBatchDraftedData>(),
            "a batch was drafted and awaits approval",
        ),
        "payout_batch.approved" => (
            schema_value::<PayoutBatchApprovedData>(),
            "a second person approved a batch; dispatch follows",
        ),
        "payout_batch.rejected" => (
            schema_value::<PayoutBatchRejectedData>(),
            "a batch will not be paid; its items' money is available again",
        ),
        "payout_item.submitted" => (
            schema_value::<PayoutItemSubmittedData>(),
            "the processor accepted an item",
        ),
        "payout_item.paid" => (
            schema_value::<PayoutItemOutcomeData>(),
            "the processor reported an item paid",
        ),
        "payout_item.failed" => (
            schema_value::<PayoutItemOutcomeData>(),
            "the processor reported an item failed",
        ),
        "payout_item.returned" => (
            schema_value::<PayoutItemOutcomeData>(),
            "the payment came back (a bank return, a refund)",
        ),
        "payout_item.unclaimed" => (
            schema_value::<PayoutItemOutcomeData>(),
            "the receiver did not claim an item in time",
        ),
        "payout_item.reversed" => (
            schema_value::<PayoutItemOutcomeData>(),
            "the processor reversed (part of) a paid item",
        ),
        "receivable.opened" => (
            schema_value::<ReceivableOpenedData>(),
            "an affiliate owes money back (a clawback after maturity, or clawbacks a rejected batch had netted)",
        ),
        "receivable.netted" => (
            schema_value::<ReceivableNettedData>(),
            "a drafted payout settles part of what an affiliate owes",
        ),
        "reconciliation.mismatch_found" => (
            schema_value::<ReconciliationMismatchFoundData>(),
            "a processor's report and the ledger disagree",
        ),
        "statement.published" => (
            schema_value::<StatementPublishedData>(),
            "a new version of an affiliate's monthly statement was written (the first, or a restatement after late events)",
        ),
        _ => return None,
    };
    Some(TypeInfo { data, sent_when })
}

/// The envelope's schema: every public event's fields around `data`.
pub fn envelope_schema() -> Value {
    let mut envelope = schema_value::<PublicEvent>();
    envelope["title"] = json!("PublicEvent");
    if let Some(version) = envelope.pointer_mut("/properties/version") {
        version["const"] = json!(PUBLIC_EVENT_VERSION);
    }
    canonical(envelope)
}

/// The schema of the whole body of a `event_type` event: the envelope with
/// `type` fixed to it and `data` its data schema (its `$defs` moved up).
pub fn body_schema(event_type: &str) -> Result<Value, String> {
    let info = type_info(event_type).ok_or_else(|| {
        format!(
            "public event type `{event_type}` has no data schema in event-schemas: \
             add it to `type_info` in infra/event-schemas/src/lib.rs"
        )
    })?;
    let mut body = envelope_schema();
    body["title"] = json!(event_type);
    body["description"] = json!(format!(
        "A `{event_type}` public event (version {PUBLIC_EVENT_VERSION}): {}.",
        info.sent_when
    ));
    let description = body
        .pointer("/properties/type/description")
        .cloned()
        .unwrap_or(Value::Null);
    body["properties"]["type"] = json!({
        "description": description,
        "type": "string",
        "const": event_type,
    });
    let mut data = info.data;
    if let Some(object) = data.as_object_mut() {
        object.remove("$schema");
        if let Some(Value::Object(defs)) = object.remove("$defs") {
            let body_defs = body
                .as_object_mut()
                .map(|b| b.entry("$defs").or_insert_with(|| json!({})));
            let Some(Value::Object(body_defs)) = body_defs else {
                return Err("the envelope's schema is not an object".into());
            };
            for (name, def) in defs {
                match body_defs.get(&name) {
                    Some(existing) if *existing != def => {
                        return Err(format!(
                            "`{event_type}`: two different definitions named `{name}`"
                        ));
                    }
                    _ => {
                        body_defs.insert(name, def);
                    }
                }
            }
        }
    }
    body["properties"]["data"] = data;
    Ok(canonical(body))
}

/// Objects with their keys sorted, at every depth: the files are the same
/// whatever order serde_json keeps maps in (its `preserve_order` feature
/// may be on in a workspace build).
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().collect::<Map<_, _>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn pretty(value: &Value) -> String {
    // A `Value` always serialises.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// One example body per public type: the first public event of that type
/// that `public::public_events` derives from a small, realistic history.
pub fn examples() -> Result<BTreeMap<String, PublicEvent>, String> {
    let mut out = BTreeMap::new();
    for (stream, version, event) in examples::history()? {
        for public_event in public::public_events(&stream, version, &event) {
            out.entry(public_event.event_type.clone())
                .or_insert(public_event);
        }
    }
    for event_type in PUBLIC_EVENT_TYPES {
        if !out.contains_key(*event_type) {
            return Err(format!(
                "no example of `{event_type}`: add an internal event that gives one \
                 in infra/event-schemas/src/examples.rs"
            ));
        }
    }
    Ok(out)
}

/// What a generated file is, for the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A schema (the envelope or a type's body): compared for compatibility.
    Schema,
    /// An example or the README: only ever stale.
    Other,
}

/// A generated file: its path relative to the repository root (with `/`)
/// and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub kind: FileKind,
    pub content: String,
}

/// Every file `write` writes, in memory.
pub fn generate() -> Result<Vec<File>, String> {
    let dir = version_dir();
    let mut files = vec![File {
        path: format!("{dir}/envelope.json"),
        kind: FileKind::Schema,
        content: pretty(&envelope_schema()),
    }];
    for event_type in PUBLIC_EVENT_TYPES {
        files.push(File {
            path: format!("{dir}/{event_type}.json"),
            kind: FileKind::Schema,
            content: pretty(&body_schema(event_type)?),
        });
    }
    for (event_type, example) in examples()? {
        let value = serde_json::to_value(&example).map_err(|e| e.to_string())?;
        files.push(File {
            path: format!("{dir}/examples/{event_type}.json"),
            kind: FileKind::Other,
            content: pretty(&canonical(value)),
        });
    }
    files.push(File {
        path: format!("{SCHEMAS_DIR}/README.md"),
        kind: FileKind::Other,
        content: readme(),
    });
    Ok(files)
}

fn readme() -> String {
    let v = PUBLIC_EVENT_VERSION;
    let mut out = format!(
        "# Public event schemas\n\
         \n\
         Generated from `shared/ledger-domain/src/public.rs` by `{WRITE_COMMAND}`;\n\
         do not edit by hand. `cargo run -p event-schemas -- check` (run by CI and\n\
         by `cargo test -p event-schemas`) fails when these files are stale, and\n\
         when a change is not backward compatible.\n\
         \n\
         Version {v}: `v{v}/envelope.json` is the envelope every event shares;\n\
         `v{v}/{{type}}.json` is the JSON Schema (draft 2020-12) of a whole event\n\
         body of that type, and `v{v}/examples/{{type}}.json` an example made by the\n\
         code that sends it. Older `v*/` directories stay for receivers of those\n\
         versions and are not checked against the code.\n\
         \n\
         | type | sent when | schema | example |\n\
         |---|---|---|---|\n"
    );
    for event_type in PUBLIC_EVENT_TYPES {
        let sent_when = type_info(event_type).map_or("", |i| i.sent_when);
        out.push_str(&format!(
            "| `{event_type}` | {sent_when} | [v{v}/{event_type}.json](v{v}/{event_type}.json) \
             | [example](v{v}/examples/{event_type}.json) |\n"
        ));
    }
    out
}

/// How a committed file differs from the generated one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Not committed at all.
    Missing { path: String },
    /// Different, but receivers of the committed schema are not affected
    /// (`schema`), or not a schema: regenerate it.
    Stale { path: String, schema: bool },
    /// A committed schema the code no longer keeps: each message says what
    /// receivers would miss.
    Incompatible { path: String, problems: Vec<String> },
    /// A committed file in the current version that `write` does not make.
    Extra { path: String, incompatible: bool },
}

impl Finding {
    pub fn is_incompatible(&self) -> bool {
        matches!(
            self,
            Finding::Incompatible { .. }
                | Finding::Extra {
                    incompatible: true,
                    ..
                }
        )
    }

    /// What to tell the user.
    pub fn message(&self) -> String {
        let raise = format!(
            "is not backward compatible: raise PUBLIC_EVENT_VERSION \
             (now {PUBLIC_EVENT_VERSION}, in shared/ledger-domain/src/public.rs) and run `{WRITE_COMMAND}`"
        );
        match self {
            Finding::Missing { path } => format!("{path} is missing: run `{WRITE_COMMAND}`"),
            Finding::Stale { path, schema: true } => format!(
                "{path} is out of date (the change is backward compatible): run `{WRITE_COMMAND}`"
            ),
            Finding::Stale {
                path,
                schema: false,
            } => format!("{path} is out of date: run `{WRITE_COMMAND}`"),
            Finding::Incompatible { path, problems } => {
                let mut out = format!("{path}: the change {raise}:");
                for p in problems {
                    out.push_str("\n  - ");
                    out.push_str(p);
                }
                out
            }
            Finding::Extra {
                path,
                incompatible: true,
            } => format!("{path}: a public event type was removed; this {raise}"),
            Finding::Extra {
                path,
                incompatible: false,
            } => format!("{path} is not generated any more: run `{WRITE_COMMAND}`"),
        }
    }
}

fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The `.json` files directly in `dir` (relative to `root`), with `/`.
fn committed_json(root: &Path, dir: &str) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(root.join(dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && name.ends_with(".json") {
            out.push(format!("{dir}/{name}"));
        }
    }
    out.sort();
    Ok(out)
}

/// Compares the committed files under `root` with `files`.
pub fn compare(root: &Path, files: &[File]) -> Result<Vec<Finding>, String> {
    let io_error = |path: &str, e: io::Error| format!("{path}: {e}");
    let mut findings = Vec::new();
    for file in files {
        let committed =
            read_optional(&root.join(&file.path)).map_err(|e| io_error(&file.path, e))?;
        let Some(committed) = committed else {
            findings.push(Finding::Missing {
                path: file.path.clone(),
            });
            continue;
        };
        if committed == file.content {
            continue;
        }
        let parsed = serde_json::from_str::<Value>(&committed);
        let generated = serde_json::from_str::<Value>(&file.content);
        let finding = match (file.kind, parsed, generated) {
            (FileKind::Schema, Ok(old), Ok(new)) => match compatible(&old, &new) {
                Ok(()) => Finding::Stale {
                    path: file.path.clone(),
                    schema: true,
                },
                Err(problems) => Finding::Incompatible {
                    path: file.path.clone(),
                    problems,
                },
            },
            _ => Finding::Stale {
                path: file.path.clone(),
                schema: false,
            },
        };
        findings.push(finding);
    }
    let dir = version_dir();
    for (sub, schemas) in [(dir.clone(), true), (format!("{dir}/examples"), false)] {
        for path in committed_json(root, &sub).map_err(|e| io_error(&sub, e))? {
            if !files.iter().any(|f| f.path == path) {
                let incompatible = schemas && !path.ends_with("/envelope.json");
                findings.push(Finding::Extra { path, incompatible });
            }
        }
    }
    Ok(findings)
}

/// `check`: every committed file of the current version up to date. The
/// error holds one message per file.
pub fn check(root: &Path) -> Result<(), Vec<String>> {
    let files = generate().map_err(|e| vec![e])?;
    let findings = compare(root, &files).map_err(|e| vec![e])?;
    if findings.is_empty() {
        Ok(())
    } else {
        Err(findings.iter().map(Finding::message).collect())
    }
}

/// `write`: writes every file that differs and removes the current
/// version's files that are not generated any more. Refuses (and writes
/// nothing) when that would overwrite the baseline with an incompatible
/// change, unless `force`. Returns the paths written or removed.
pub fn write(root: &Path, force: bool) -> Result<Vec<String>, Vec<String>> {
    let files = generate().map_err(|e| vec![e])?;
    let findings = compare(root, &files).map_err(|e| vec![e])?;
    let incompatible: Vec<String> = findings
        .iter()
        .filter(|f| f.is_incompatible())
        .map(Finding::message)
        .collect();
    if !incompatible.is_empty() && !force {
        return Err(incompatible);
    }
    let mut changed = Vec::new();
    for finding in &findings {
        let result = match finding {
            Finding::Missing { path }
            | Finding::Stale { path, .. }
            | Finding::Incompatible { path, .. } => files
                .iter()
                .find(|f| &f.path == path)
                .map_or(Ok(()), |f| write_file(&root.join(path), &f.content)),
            Finding::Extra { path, .. } => fs::remove_file(root.join(path)),
        };
        let path = match finding {
            Finding::Missing { path }
            | Finding::Stale { path, .. }
            | Finding::Incompatible { path, .. }
            | Finding::Extra { path, .. } => path,
        };
        result.map_err(|e| vec![format!("{path}: {e}")])?;
        changed.push(path.clone());
    }
    Ok(changed)
}

fn write_file(path: &Path, content: &str) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, content)
}

/// The repository root: the nearest directory at or above `start` whose
/// `Cargo.toml` declares the workspace.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        manifest
            .lines()
            .any(|l| l.trim() == "[workspace]")
            .then(|| dir.to_path_buf())
    })
}
