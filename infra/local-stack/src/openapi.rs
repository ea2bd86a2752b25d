//! The OpenAPI document of everything the stack serves, and the route
//! that serves it.

use axum::Router;
use axum::response::Response;

use crate::{events_out, files, queues, web};

/// The OpenAPI 3.1 document of everything the stack serves: the functions'
/// routes (generated from their handlers) and the stack's own.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = ledger_api::openapi::document();
    doc.merge(ingest_commissions::IngestApiDoc::openapi());
    doc.merge(processor_webhooks::WebhooksApiDoc::openapi());
    doc.merge(LocalApiDoc::openapi());
    doc.merge(web::WebApiDoc::openapi());
    doc.info.title = "Affiliate payouts ledger".to_owned();
    doc.info.description = Some(
        "The ledger's HTTP API: ingest, balances and journal, payouts, statements, audit, processor webhooks, tenant webhooks (events out), and the local stack's own routes (tag `local`).".to_owned(),
    );
    doc
}

/// The local stack's own routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(queues::enqueue, queues::dead_letters, queues::redrive_commissions, queues::dispatch_dead_letters, queues::redrive_dispatch, files::download_file, events_out::stream, serve_openapi),
    tags((name = "local", description = "the local stack only: in-process queues, file links, this document"))
)]
struct LocalApiDoc;

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "local", responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json")))]
async fn serve_openapi() -> Response {
    use axum::response::IntoResponse;
    axum::Json(openapi_document()).into_response()
}

pub(crate) fn openapi_routes() -> Router {
    Router::new().route("/openapi.json", axum::routing::get(serve_openapi))
}
