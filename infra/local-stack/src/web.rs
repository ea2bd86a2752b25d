//! The finance console and affiliate portal (`infra/web/`), served at `/`
//! from the binary itself, with the page's `config.json` (local sign-in) and
//! the development sign-in route that mints the stack's tokens.
//!
//! On AWS the same files are served from S3 behind CloudFront, with a
//! `config.json` that points sign-in at the user pool.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use lambda_edge::problem::{FieldError, Problem};
use serde::{Deserialize, Serialize};

/// The page's files, embedded at build time: (path, content type, body).
const FILES: [(&str, &str, &str); 8] = [
    (
        "/index.html",
        "text/html; charset=utf-8",
        include_str!("../../web/index.html"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../../web/style.css"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/app.js"),
    ),
    (
        "/api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/api.js"),
    ),
    (
        "/auth.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/auth.js"),
    ),
    (
        "/ui.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/ui.js"),
    ),
    (
        "/finance.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/finance.js"),
    ),
    (
        "/affiliate.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/affiliate.js"),
    ),
];

/// The page's Content-Security-Policy locally: its own files and API only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn page_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            ("content-type", content_type),
            ("content-security-policy", CONTENT_SECURITY_POLICY),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The routes of the page and of the development sign-in.
pub fn routes(key: Arc<Vec<u8>>) -> Router {
    let mut router = Router::new().route("/", axum::routing::get(serve_index));
    for (path, kind, body) in FILES {
        router = router.route(
            path,
            axum::routing::get(move || async move { page_file(kind, body) }),
        );
    }
    router
        .route("/config.json", axum::routing::get(serve_config))
        .route("/local/dev-sign-in", axum::routing::post(dev_sign_in))
        .with_state(key)
}

/// The finance console and affiliate portal (its scripts and styles beside
/// it: `/app.js`, `/style.css`, ...).
#[utoipa::path(get, path = "/", tag = "local", responses((status = 200, description = "the web app's page", content_type = "text/html")))]
async fn serve_index() -> Response {
    page_file(FILES[0].1, FILES[0].2)
}

/// The web app's configuration: locally, sign-in through the development
/// sign-in and the API on the same origin.
#[utoipa::path(get, path = "/config.json", tag = "local", responses((status = 200, description = "the web app's configuration", content_type = "application/json")))]
async fn serve_config() -> Response {
    page_file("application/json", r#"{"signIn":"local","apiBase":""}"#)
}

/// Who signs in locally.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    pub tenant_id: String,
    /// The user's name: it becomes the token's subject (the maker or
    /// approver the ledger records).
    pub subject: String,
    /// One of the roles (`finance-maker`, `finance-approver`, `admin`,
    /// `affiliate`, `ingest`).
    pub role: String,
    /// Required for the affiliate role.
    pub affiliate_id: Option<String>,
}

/// A development token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedInBody {
    pub token: String,
    pub expires_at: String,
}

/// The most characters of a development user's name.
pub const SUBJECT_MAX: usize = 200;

fn sign_in_errors(body: &SignInBody) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut fail = |field: &str, rule: &str| {
        errors.push(FieldError {
            field: field.to_owned(),
            rule: rule.to_owned(),
        })
    };
    if ledger_domain::TenantId::new(&body.tenant_id).is_err() {
        fail(
            "tenant_id",
            "must be a tenant id (letters, digits, '-' or '_')",
        );
    }
    let subject = body.subject.trim();
    if subject.is_empty()
        || subject.chars().count() > SUBJECT_MAX
        || subject.chars().any(char::is_control)
    {
        fail("subject", "must be 1 to 200 printable characters");
    }
    if !crate::ROLES.contains(&body.role.as_str()) {
        fail(
            "role",
            &format!("must be one of {}", crate::ROLES.join(", ")),
        );
    }
    match (&body.role[..], body.affiliate_id.as_deref()) {
        ("affiliate", None) => fail("affiliate_id", "is required for the affiliate role"),
        ("affiliate", Some(a)) if ledger_domain::AffiliateId::new(a).is_err() => {
            fail("affiliate_id", "must be an affiliate id")
        }
        ("affiliate", _) => {}
        (_, Some(_)) => fail("affiliate_id", "only the affiliate role names an affiliate"),
        _ => {}
    }
    errors
}

/// Mints a development token, as the identity provider's sign-in would on
/// AWS. Only the local stack has this route: it is the development issuer.
#[utoipa::path(post, path = "/local/dev-sign-in", tag = "local", request_body = SignInBody,
    responses((status = 200, body = SignedInBody, description = "a development token for the role"), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 400/415 not JSON, 422 each broken field named")))]
async fn dev_sign_in(
    axum::extract::State(key): axum::extract::State<Arc<Vec<u8>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match lambda_edge::problem::json_request_bytes(&headers, body, 4096).await {
        Ok(bytes) => bytes,
        Err(problem) => return problem.into_response(),
    };
    let body: SignInBody = match serde_json::from_slice(&bytes) {
        Ok(body) => body,
        Err(e) => return Problem::malformed_json(e.to_string()).into_response(),
    };
    let errors = sign_in_errors(&body);
    if !errors.is_empty() {
        return Problem::unprocessable(errors).into_response();
    }
    match crate::mint_token(
        &key,
        &body.tenant_id,
        &body.role,
        body.subject.trim(),
        body.affiliate_id.as_deref(),
    ) {
        Ok(token) => {
            let expires_at =
                chrono::Utc::now() + chrono::Duration::seconds(crate::TOKEN_TTL_SECONDS);
            axum::Json(SignedInBody {
                token,
                expires_at: expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })
            .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "development token not minted");
            Problem::unavailable().into_response()
        }
    }
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(serve_index, serve_config, dev_sign_in))]
pub struct WebApiDoc;
