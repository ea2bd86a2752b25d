//! RFC 9457 problem details: every error is `application/problem+json` with
//! a stable `type`, and validation errors name each field and its rule.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

fn function_name() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_owned())
}

/// One field that broke one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// A JSON path such as `commissions[2].amount`, or a header name.
    pub field: String,
    pub rule: String,
}

/// A problem response (RFC 9457, `application/problem+json`): `errors`
/// names each field and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    fn new(
        kind: &'static str,
        title: &'static str,
        status: StatusCode,
        detail: String,
        errors: Vec<FieldError>,
    ) -> Self {
        Problem {
            kind,
            title,
            status: status.as_u16(),
            detail,
            errors,
        }
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            "/problems/unauthenticated",
            "Unauthenticated",
            StatusCode::UNAUTHORIZED,
            "a verified identity with a tenant is required".into(),
            vec![],
        )
    }

    /// A request whose own credentials (a processor's signature) failed.
    pub fn unauthenticated_because(detail: &str) -> Self {
        Self::new(
            "/problems/unauthenticated",
            "Unauthenticated",
            StatusCode::UNAUTHORIZED,
            detail.into(),
            vec![],
        )
    }

    pub fn forbidden(detail: &str) -> Self {
        Self::new(
            "/problems/forbidden",
            "Forbidden",
            StatusCode::FORBIDDEN,
            detail.into(),
            vec![],
        )
    }

    pub fn bad_request(field: &str, rule: &str) -> Self {
        Self::new(
            "/problems/bad-request",
            "Bad request",
            StatusCode::BAD_REQUEST,
            format!("{field} {rule}"),
            vec![FieldError {
                field: field.into(),
                rule: rule.into(),
            }],
        )
    }

    pub fn malformed_json(detail: String) -> Self {
        Self::new(
            "/problems/malformed-json",
            "Malformed JSON",
            StatusCode::BAD_REQUEST,
            detail,
            vec![],
        )
    }

    /// Malformed JSON whose error lies inside `field` (a JSON path such as
    /// `method.iban`): the same problem, with `errors` naming the field.
    pub fn malformed_json_at(field: &str, detail: String) -> Self {
        Self {
            errors: vec![FieldError {
                field: field.into(),
                rule: detail.clone(),
            }],
            ..Self::malformed_json(detail)
        }
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            "/problems/unsupported-media-type",
            "Unsupported media type",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json".into(),
            vec![FieldError {
                field: "Content-Type".into(),
                rule: "must be application/json".into(),
            }],
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            "/problems/too-large",
            "Payload too large",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body exceeds {limit} bytes"),
            vec![FieldError {
                field: "body".into(),
                rule: format!("must be at most {limit} bytes"),
            }],
        )
    }

    pub fn unprocessable(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.rule))
            .collect::<Vec<_>>()
            .join("; ");
        Self::new(
            "/problems/validation",
            "Validation failed",
            StatusCode::UNPROCESSABLE_ENTITY,
            detail,
            errors,
        )
    }

    pub fn conflict(detail: &str) -> Self {
        Self::new(
            "/problems/conflict",
            "Conflict",
            StatusCode::CONFLICT,
            detail.into(),
            vec![],
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            "/problems/not-found",
            "Not found",
            StatusCode::NOT_FOUND,
            format!("no such {what} in your tenant"),
            vec![],
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            "/problems/unavailable",
            "Service unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "the ledger store is unavailable; retry with the same Idempotency-Key".into(),
            vec![],
        )
    }

    /// A one-line description, for logs and queue failures.
    pub fn describe(&self) -> String {
        format!("{} ({}): {}", self.title, self.status, self.detail)
    }
}

/// The refusals most routes share, for an OpenAPI `responses(...)` list
/// (`utoipa::IntoResponses`): any 4XX is a problem naming the broken field
/// and rule. A route whose refusals say more lists its own `4XX` instead.
#[derive(utoipa::IntoResponses)]
#[response(
    status = "4XX",
    content_type = "application/problem+json",
    description = "refused: 401 no valid token, 403 not allowed, 404 not found, 409 conflict, 400/422 each broken field named"
)]
pub struct Refused(pub Problem);

/// The store's `503` (`Problem::unavailable`), for an OpenAPI
/// `responses(...)` list: retry after `Retry-After` seconds.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 503,
    content_type = "application/problem+json",
    description = "the store is unavailable: retry",
    headers(("Retry-After" = u32, description = "seconds to wait before retrying"))
)]
pub struct Unavailable(pub Problem);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        if (400..500).contains(&self.status) {
            crate::metrics::Metrics::new(&function_name())
                .count("RejectedInputs", 1)
                .emit();
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        response
    }
}

/// The bytes of a JSON request body: `Content-Type: application/json`
/// (parameters such as `charset` allowed), at most `max_bytes`; anything
/// else is a `415` or a `413` problem.
pub async fn json_request_bytes(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    max_bytes: usize,
) -> Result<axum::body::Bytes, Problem> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return Err(Problem::unsupported_media_type());
    }
    axum::body::to_bytes(body, max_bytes)
        .await
        .map_err(|_| Problem::too_large(max_bytes))
}
