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

/// Reads the caller from verified claims: `sub`, the tenant claim, the roles
/// (`roles`, and user pool groups in `cognito:groups`) and `affiliate_id`.
/// Nothing about the caller is ever read from the body, the query or a
/// header.
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
    let mut roles: Vec<String> = Vec::new();
    for claim in ROLE_CLAIMS {
        for role in claims
            .get(claim)
            .map(|v| parse_roles(v))
            .unwrap_or_default()
        {
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
    }
    Ok(Identity {
        tenant_id,
        subject: subject.clone(),
        roles,
        affiliate_id: AFFILIATE_CLAIMS
            .iter()
            .find_map(|claim| claims.get(*claim))
            .filter(|a| !a.is_empty())
            .cloned(),
        request_id: None,
    })
}

/// The claims the affiliate is read from, first found wins: the issuer's
/// `affiliate_id`, or the user pool's custom attribute (which users cannot
/// write themselves: the app client's write attributes leave it out).
pub const AFFILIATE_CLAIMS: [&str; 2] = ["affiliate_id", "custom:affiliate_id"];

/// The claims roles are read from: the issuer's `roles` and the user pool's
/// groups.
pub const ROLE_CLAIMS: [&str; 2] = ["roles", "cognito:groups"];

/// One roles claim as the JWT authorizer hands it over, every claim being a
/// string there: a single role (`admin`), roles separated by spaces or
/// commas (`finance-maker admin`), a list claim as API Gateway flattens it
/// (`[finance-maker admin]`), or a JSON array (`["finance-maker","admin"]`).
pub fn parse_roles(value: &str) -> Vec<String> {
    let value = value.trim();
    let inner = match value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        Some(inner) => {
            if let Ok(list) = serde_json::from_str::<Vec<String>>(value) {
                return list
                    .into_iter()
                    .map(|r| r.trim().to_owned())
                    .filter(|r| !r.is_empty())
                    .collect();
            }
            inner
        }
        None => value,
    };
    inner
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
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
