//! The OpenAPI 3.1 document of this API, generated from the handlers'
//! `#[utoipa::path]` annotations and the body types' schemas. The local
//! stack serves the whole product's document at `GET /openapi.json`.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

/// Adds the bearer scheme API Gateway's JWT authorizer checks.
pub struct BearerJwt;

impl Modify for BearerJwt {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".to_owned());
        http.description = Some(
            "A JWT of the configured issuer: tenant_id, roles and (for affiliates) affiliate_id claims".to_owned(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(
        crate::balances,
        crate::journal,
        crate::pending::pending,
        crate::audit_batch,
        crate::audit_affiliate,
        crate::payouts::get_profile,
        crate::payouts::put_method,
        crate::payouts::put_minimum,
        crate::payouts::place_hold,
        crate::payouts::lift_hold,
        crate::payouts::post_run,
        crate::payouts::get_batch,
        crate::payouts::approve,
        crate::payouts::reject,
        crate::payouts::dispatch,
        crate::finance::list_batches,
        crate::finance::export_batch,
        crate::finance::liabilities,
        crate::finance::export_liabilities,
        crate::affiliates::list,
        crate::affiliates::export_journal,
        crate::reconciliation::list_mismatches,
        crate::reconciliation::resolve,
        crate::reconciliation::list_runs,
        crate::statements::list,
        crate::statements::download,
        crate::statements::run,
    ),
    modifiers(&BearerJwt),
    tags(
        (name = "ledger", description = "balances and journal"),
        (name = "payouts", description = "profiles, drafting, four-eyes approval, dispatch"),
        (name = "statements", description = "affiliate statements"),
        (name = "audit", description = "who did what"),
        (name = "reconciliation", description = "processor report mismatches and their resolution"),
    )
)]
pub struct LedgerApiDoc;

/// This function's document.
pub fn document() -> utoipa::openapi::OpenApi {
    LedgerApiDoc::openapi()
}
