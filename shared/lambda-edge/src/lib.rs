//! The edge every function shares: who is calling (from verified claims
//! only), errors as `application/problem+json`, and the store chosen by the
//! environment.

pub mod authz;
pub mod config;
pub mod metrics;
pub mod problem;

use std::collections::HashMap;

use ledger_domain::TenantId;
use problem::Problem;

/// Who is calling, as verified by the API Gateway JWT authorizer (or, on the
/// local stack, by the development issuer, which fills in the same context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub tenant_id: TenantId,
    pub subject: String,
    pub roles: Vec<String>,
    /// For affiliate callers: the affiliate they are.
    pub affiliate_id: Option<String>,
    /// The API Gateway request id, recorded in the events a request causes.
    pub request_id: Option<String>,
}

impl Identity {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Reads the caller from verified claims: `sub`, the tenant claim, `roles`
/// (space or comma separated) and `affiliate_id`. Nothing about the caller
/// is ever read from the body, the query or a header.
pub fn identity_from_claims(
    claims: &HashMap<String, String>,
    tenant_claim: &str,
) -> Result<Identity, Problem> {
    let subject = claims
        .get("sub")
        .filter(|s| !s.is_empty())
        .ok_or_else(Problem::unauthenticated)?;
    let tenant = claims
        .get(tenant_claim)
        .ok_or_else(Problem::unauthenticated)?;
    let tenant_id = TenantId::new(tenant).map_err(|_| Problem::unauthenticated())?;
    let roles = claims
        .get("roles")
        .map(|r| {
            r.split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Identity {
        tenant_id,
        subject: subject.clone(),
        roles,
        affiliate_id: claims.get("affiliate_id").cloned(),
        request_id: None,
    })
}

/// The JWT claim that carries the tenant, as a handler's state knows it.
pub trait TenantClaim {
    fn tenant_claim(&self) -> &str;
}

/// The verified caller of a request, as an extractor: a handler that takes
/// a `Caller` never runs for an unauthenticated request (it gets a 401
/// problem instead).
pub struct Caller(pub Identity);

impl<S: TenantClaim + Send + Sync> axum::extract::FromRequestParts<std::sync::Arc<S>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &std::sync::Arc<S>,
    ) -> Result<Self, Problem> {
        use lambda_http::request::RequestContext;
        match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(ctx)) => {
                let claims = ctx
                    .authorizer
                    .as_ref()
                    .and_then(|a| a.jwt.as_ref())
                    .map(|jwt| &jwt.claims)
                    .ok_or_else(Problem::unauthenticated)?;
                let mut identity = identity_from_claims(claims, state.tenant_claim())?;
                identity.request_id = ctx.request_id.clone();
                Ok(Caller(identity))
            }
            _ => Err(Problem::unauthenticated()),
        }
    }
}
