//! Signed download links to the stack's files directory: what S3
//! presigned URLs are on AWS.

use std::sync::Arc;

use axum::Router;
use axum::response::Response;

/// The secret the stack signs its download links with, derived from its
/// development key.
pub fn download_link_secret(key: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(key);
    hasher.update(b"download-links");
    hasher.finalize().to_vec()
}

/// `GET /files/{key}?expires=&signature=`: what S3 presigned URLs are on
/// AWS. Serves a file of the local directory only with a valid, unexpired
/// link; no token needed (the link is the credential).
pub(crate) fn file_routes(reports: Arc<reporting::ReportFiles>) -> Router {
    Router::new()
        .route("/files/{*key}", axum::routing::get(download_file))
        .with_state(reports)
}

/// A file of the local directory, with a link the API handed out.
#[utoipa::path(get, path = "/files/{key}", tag = "local",
    params(("key" = String, Path, description = "the file's key (slashes included)"), ("expires" = i64, Query), ("signature" = String, Query)),
    responses((status = 200, description = "the file (text/csv or application/json)"), (status = 403, body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "no link, an altered one, or an expired one"), (status = 404, body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "no such file")))]
pub(crate) async fn download_file(
    axum::extract::State(reports): axum::extract::State<Arc<reporting::ReportFiles>>,
    axum::extract::Path(key): axum::extract::Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    use axum::response::IntoResponse;
    let denied = || {
        lambda_edge::problem::Problem::forbidden("the download link is invalid or has expired")
            .into_response()
    };
    let Some(links) = &reports.links else {
        return denied();
    };
    let mut expires = None;
    let mut signature = None;
    for pair in query.as_deref().unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("expires", v)) => expires = v.parse::<i64>().ok(),
            Some(("signature", v)) => signature = Some(v.to_owned()),
            _ => {}
        }
    }
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return denied();
    };
    if links
        .verify(&key, expires, &signature, chrono::Utc::now())
        .is_err()
    {
        return denied();
    }
    match reports.files.read(&key).await {
        Ok(Some(bytes)) => {
            let kind = if key.ends_with(".csv") {
                "text/csv"
            } else {
                "application/json"
            };
            ([("content-type", kind)], bytes).into_response()
        }
        Ok(None) => lambda_edge::problem::Problem::not_found("file").into_response(),
        Err(_) => lambda_edge::problem::Problem::unavailable().into_response(),
    }
}
