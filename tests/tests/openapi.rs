//! The OpenAPI document is complete: every route the code registers
//! (`.route("…", method(…))` in the functions and the local stack), and
//! every route `template.yaml` deploys, is described with its method; every
//! described operation answers on the local stack (not 404 or 405); and the
//! stack serves the same document at `/openapi.json`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// `(method, path)` of every `.route("path", method(handler))` in a file.
fn routes_in(source: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let trimmed = rest.trim_start();
        let Some(literal) = trimmed.strip_prefix('"') else {
            continue;
        };
        let Some(end) = literal.find('"') else {
            continue;
        };
        let path = literal[..end].replace("{*", "{");
        let after = literal[end + 1..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
        let call: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let method = call.rsplit("::").next().unwrap_or_default().to_owned();
        out.push((method, path));
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn described(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.clone(), path.clone()));
        }
    }
    out
}

#[test]
fn every_route_in_the_code_and_the_template_is_described() {
    let doc = serde_json::to_value(local_stack::openapi_document()).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let described = described(&doc);

    let mut files = Vec::new();
    for dir in ["functions", "infra/local-stack/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut in_code = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(root()).unwrap();
        if relative.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        for route in routes_in(&std::fs::read_to_string(file).unwrap()) {
            assert!(
                ["get", "post", "put", "delete", "patch"].contains(&route.0.as_str()),
                "{}: could not read the method of {route:?}",
                file.display()
            );
            in_code.insert(route);
        }
    }
    assert!(
        in_code.len() >= 25,
        "the scan found the routes: {in_code:?}"
    );
    let missing: Vec<_> = in_code.difference(&described).collect();
    assert!(
        missing.is_empty(),
        "routes in the code the document does not describe: {missing:?}"
    );

    // What the template deploys: `Path: …` then `Method: …` of HttpApi events.
    let template = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let mut deployed = BTreeSet::new();
    let mut path: Option<String> = None;
    for line in template.lines().map(str::trim) {
        if let Some(p) = line.strip_prefix("Path: ") {
            path = Some(p.to_owned());
        } else if let (Some(m), Some(p)) = (line.strip_prefix("Method: "), path.take()) {
            deployed.insert((m.to_ascii_lowercase(), p));
        }
    }
    assert!(deployed.len() >= 20, "{deployed:?}");
    let missing: Vec<_> = deployed.difference(&described).collect();
    assert!(
        missing.is_empty(),
        "deployed routes the document does not describe: {missing:?}"
    );

    // Every operation says what its errors look like.
    for (method, path) in &described {
        let op = &doc["paths"][path][method];
        let responses = op["responses"].as_object().unwrap();
        assert!(!responses.is_empty(), "{method} {path}: no responses");
        if path.starts_with("/v1/") {
            let problem = responses
                .values()
                .any(|r| r["content"]["application/problem+json"].is_object());
            assert!(problem, "{method} {path}: no problem+json response");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_described_operation_answers_and_the_stack_serves_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        event_store_sqlite::SqliteEventStore::open(local_stack::database_path(dir.path())).unwrap();
    let key = local_stack::signing_key(dir.path()).unwrap();
    let processors = std::sync::Arc::new(
        local_stack::local_processors(Some(&dir.path().join("files"))).unwrap(),
    );
    let running = local_stack::start_full(
        local_stack::Backend::Embedded(store),
        key,
        0,
        processors,
        Some(dir.path().join("files")),
    )
    .await
    .unwrap();
    let base = format!("http://{}", running.address);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<axum::body::Body>();
    let served = client
        .get(format!("{base}/openapi.json").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    use http_body_util::BodyExt;
    let served: Value =
        serde_json::from_slice(&served.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        served,
        serde_json::to_value(local_stack::openapi_document()).unwrap()
    );

    for (method, path) in described(&served) {
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let request = axum::http::Request::builder()
            .method(method.to_ascii_uppercase().as_str())
            .uri(format!("{base}{concrete}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from("{}"))
            .unwrap();
        let status = client.request(request).await.unwrap().status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{method} {path} ({concrete}) answered {status}: not served"
        );
    }
    running.shutdown().await.unwrap();
}

#[test]
fn every_reference_resolves_and_every_response_is_described() {
    let doc = serde_json::to_value(local_stack::openapi_document()).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(
            schemas.contains_key(name),
            "dangling schema reference {name}"
        );
    }
    // Components are named after the Rust type: two bodies of one name
    // would share a schema. The two run bodies must stay apart.
    let body = |path: &str| {
        doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .clone()
    };
    assert_ne!(body("/v1/payout-runs"), body("/v1/statement-runs"));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('2') {
                    continue; // the body's schema says it
                }
                assert!(
                    !response["description"]
                        .as_str()
                        .unwrap_or_default()
                        .is_empty(),
                    "{method} {path} {status}: an error response without a description"
                );
            }
        }
    }
}
