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
        crate::payouts::profiles::get_profile,
        crate::payouts::profiles::put_method,
        crate::payouts::profiles::put_minimum,
        crate::payouts::profiles::place_hold,
        crate::payouts::profiles::lift_hold,
        crate::payouts::runs::post_run,
        crate::payouts::batches::get_batch,
        crate::payouts::batches::approve,
        crate::payouts::batches::reject,
        crate::payouts::batches::dispatch,
        crate::finance::batches::list_batches,
        crate::finance::exports::export_batch,
        crate::finance::liabilities::liabilities,
        crate::finance::exports::export_liabilities,
        crate::affiliates::list,
        crate::affiliates::export_journal,
        crate::reconciliation::list_mismatches,
        crate::reconciliation::resolve,
        crate::reconciliation::list_runs,
        crate::statements::list,
        crate::statements::download,
        crate::statements::run,
        crate::webhooks::create,
        crate::webhooks::list,
        crate::webhooks::read,
        crate::webhooks::update,
        crate::webhooks::rotate,
        crate::webhooks::deliveries,
        crate::webhooks::delivery,
        crate::webhooks::replay,
        crate::webhooks::replay_parked,
    ),
    // The shared refusals (`Refused`, `Unavailable`) answer a `Problem`.
    components(schemas(lambda_edge::problem::Problem)),
    modifiers(&BearerJwt),
    tags(
        (name = "ledger", description = "balances and journal"),
        (name = "payouts", description = "profiles, drafting, four-eyes approval, dispatch"),
        (name = "statements", description = "affiliate statements"),
        (name = "audit", description = "who did what"),
        (name = "reconciliation", description = "processor report mismatches and their resolution"),
        (name = "webhooks", description = "Tenant webhooks: public events POSTed to the tenant's endpoints. \
Each delivery is the public event's JSON (schemas under events/schemas/, one per type: id, type, version, tenant_id, created_at, occurred_at, stream, stream_version, data). \
Headers: Ledger-Event-Id (deduplicate on it: delivery is at least once), Ledger-Event-Type, Ledger-Delivery-Attempt, and \
Ledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 keyed with the endpoint's secret (the whole whsec_ string) over \"<t>.<exact body bytes>\">; \
during a secret rotation one v1 per valid secret. Verify in constant time and refuse a t more than 5 minutes from now. \
A 2xx answer within 10 seconds delivers; anything else is retried after 30 s, doubling to at most 1 hour, each wait scaled by a random 0.8 to 1.2, \
for 3 days from when it was queued; then the delivery is parked (listed with status=parked, replayed on request). \
When an endpoint answers again, its waiting deliveries are sent at once. Endpoints must be https to public addresses; \
private, loopback, link-local and other special addresses are refused at registration and before every delivery."),
    )
)]
pub struct LedgerApiDoc;

/// This function's document.
pub fn document() -> utoipa::openapi::OpenApi {
    LedgerApiDoc::openapi()
}
