//! The request extractors of this API, whose refusals are problems naming
//! the field and the rule:
//!
//! - [`ApiQuery`]: the query string, percent-decoded into a typed struct;
//! - [`ApiJson`]: a JSON body, `application/json`, at most
//!   [`BODY_BYTES_MAX`] bytes.
//!
//! Both deserialize once, through `serde_path_to_error` (the same
//! deserializers axum's `Query` and `Json` use), so the field is the path
//! the deserializer was at when it refused, and the rule is serde's words.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use lambda_edge::problem::{FieldError, Problem, json_request_bytes};
use serde::de::DeserializeOwned;
use serde_path_to_error::Path;

/// The largest request body these routes accept.
pub const BODY_BYTES_MAX: usize = 64 * 1024;

/// How a field was refused, as far as the problem's rule cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// A field given twice.
    Duplicate,
    /// Anything else, in serde's words.
    Other,
}

/// The field a refusal names, if any, and how it was refused. The path is
/// where the deserializer stood; a field that is missing or given twice is
/// refused at its parent, after the whole object was read, so its own name
/// comes from serde's message (`missing field `x``), the one place serde
/// states it.
fn refused_field(path: &Path, rule: &str) -> (Option<String>, Refusal) {
    let parent = path.iter().next().is_some().then(|| path.to_string());
    let named = |prefix: &str| {
        rule.strip_prefix(prefix)
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field)
    };
    let (named, refusal) = match (named("missing field `"), named("duplicate field `")) {
        (Some(field), _) => (Some(field), Refusal::Other),
        (None, Some(field)) => (Some(field), Refusal::Duplicate),
        (None, None) => (None, Refusal::Other),
    };
    let field = match (parent, named) {
        (Some(parent), Some(named)) => Some(format!("{parent}.{named}")),
        (parent, named) => parent.or_else(|| named.map(str::to_owned)),
    };
    (field, refusal)
}

/// The query string as a typed struct (its fields `Option<String>`, checked
/// by the handler with the rules each route states). Percent-decoded as a
/// URL query, where a `+` stays a plus (RFC 3986), not the space of HTML
/// forms, so an offset such as `+01:00` may arrive unencoded. Parameters a
/// route does not know are ignored; one given twice is a `400` naming it.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default().replace('+', "%2B");
        let pairs = form_urlencoded::parse(query.as_bytes());
        serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs))
            .map(ApiQuery)
            .map_err(|error| {
                let rule = error.inner().to_string();
                match refused_field(error.path(), &rule) {
                    (Some(field), Refusal::Duplicate) => {
                        Problem::bad_request(&field, "must be given at most once")
                    }
                    (field, _) => Problem::bad_request(field.as_deref().unwrap_or("query"), &rule),
                }
            })
    }
}

/// A JSON body: `Content-Type: application/json` (else a `415` problem),
/// at most [`BODY_BYTES_MAX`] bytes (else a `413`), then parsed into `T`:
/// JSON that does not parse is a `400` malformed-JSON problem, JSON of the
/// wrong shape a `422` validation problem; both name the field (a JSON path
/// such as `method.iban`, or `body` for the whole) and carry serde's words.
///
/// Handlers take it as `Result<ApiJson<T>, Problem>` and apply `?` once
/// they have authorized the caller, so a caller who may not act is refused
/// (`403`) whatever it sent.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Problem> {
        let (parts, body) = request.into_parts();
        let bytes = json_request_bytes(&parts.headers, body, BODY_BYTES_MAX).await?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let error = match serde_path_to_error::deserialize(&mut deserializer) {
            // Only whitespace may follow the value.
            Ok(value) => match deserializer.end() {
                Ok(()) => return Ok(ApiJson(value)),
                Err(trailing) => return Err(Problem::malformed_json(trailing.to_string())),
            },
            Err(error) => error,
        };
        let rule = error.inner().to_string();
        let (field, _) = refused_field(error.path(), &rule);
        let inner = error.into_inner();
        Err(match field {
            _ if !(inner.is_syntax() || inner.is_eof()) => {
                Problem::unprocessable(vec![FieldError {
                    field: field.unwrap_or_else(|| "body".to_owned()),
                    rule,
                }])
            }
            Some(field) => Problem::malformed_json_at(&field, rule),
            None => Problem::malformed_json(rule),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Q {
        as_of: Option<String>,
        after: Option<String>,
    }

    async fn query(uri: &str) -> Result<Q, Problem> {
        let (mut parts, _) = axum::http::Request::builder()
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts();
        ApiQuery::<Q>::from_request_parts(&mut parts, &())
            .await
            .map(|ApiQuery(q)| q)
    }

    #[tokio::test]
    async fn queries_are_percent_decoded_and_a_plus_stays_a_plus() {
        let q = query("/x?as_of=2026-11-02T21%3A00%3A00%2B01%3A00&after=%36%31&other=1")
            .await
            .unwrap();
        assert_eq!(q.as_of.as_deref(), Some("2026-11-02T21:00:00+01:00"));
        assert_eq!(q.after.as_deref(), Some("61"));
        let q = query("/x?as_of=2026-11-02T21:00:00+01:00").await.unwrap();
        assert_eq!(q.as_of.as_deref(), Some("2026-11-02T21:00:00+01:00"));
        assert!(query("/x").await.unwrap().as_of.is_none());
    }

    #[tokio::test]
    async fn a_parameter_given_twice_is_refused_naming_it() {
        let problem = query("/x?after=a&after=b").await.unwrap_err();
        assert_eq!(problem.status, 400);
        assert_eq!(
            problem.errors,
            vec![FieldError {
                field: "after".into(),
                rule: "must be given at most once".into(),
            }]
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        iban: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct B {
        note: String,
        method: Option<Inner>,
    }

    async fn json(content_type: &str, body: &str) -> Result<B, Problem> {
        let request = axum::http::Request::builder()
            .header("content-type", content_type)
            .body(Body::from(body.to_owned()))
            .unwrap();
        ApiJson::<B>::from_request(request, &())
            .await
            .map(|ApiJson(b)| b)
    }

    fn refusal(p: &Problem) -> (u16, &str, Vec<&str>) {
        (
            p.status,
            p.kind,
            p.errors.iter().map(|e| e.field.as_str()).collect(),
        )
    }

    #[tokio::test]
    async fn json_bodies_are_refused_naming_the_field() {
        assert_eq!(
            json("application/json", r#"{"note": "x"}"#)
                .await
                .unwrap()
                .note,
            "x"
        );
        for (body, expected) in [
            (
                r#"{"note": }"#,
                (400, "/problems/malformed-json", vec!["note"]),
            ),
            ("not json", (400, "/problems/malformed-json", vec![])),
            (
                r#"{"note": "x"} {}"#,
                (400, "/problems/malformed-json", vec![]),
            ),
            (
                r#"{"note": 12}"#,
                (422, "/problems/validation", vec!["note"]),
            ),
            (
                r#"{"note": "x", "method": {"iban": 7}}"#,
                (422, "/problems/validation", vec!["method.iban"]),
            ),
            (
                r#"{"note": "x", "method": {}}"#,
                (422, "/problems/validation", vec!["method.iban"]),
            ),
            (r#"{}"#, (422, "/problems/validation", vec!["note"])),
        ] {
            let problem = json("application/json", body).await.unwrap_err();
            assert_eq!(refusal(&problem), expected, "{body}: {problem:?}");
        }
        // serde's own words, as before.
        let problem = json("application/json", r#"{"note": 12}"#)
            .await
            .unwrap_err();
        assert!(
            problem.errors[0]
                .rule
                .starts_with("invalid type: integer `12`"),
            "{problem:?}"
        );
        let problem = json("text/plain", r#"{"note": "x"}"#).await.unwrap_err();
        assert_eq!(problem.status, 415);
        let big = format!(r#"{{"note": "{}"}}"#, "x".repeat(BODY_BYTES_MAX));
        assert_eq!(
            json("application/json; charset=utf-8", &big)
                .await
                .unwrap_err()
                .status,
            413
        );
    }

    #[tokio::test]
    async fn an_unknown_field_is_named() {
        let problem = json("application/json", r#"{"note": "x", "extra": 1}"#)
            .await
            .unwrap_err();
        assert_eq!(
            refusal(&problem),
            (422, "/problems/validation", vec!["extra"])
        );
    }
}
