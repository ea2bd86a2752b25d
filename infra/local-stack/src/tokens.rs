//! The stack's development token issuer: HS256 tokens signed with a key
//! kept in the data directory, verified into the same API Gateway
//! authorizer context the handlers read on AWS.

use std::path::Path;
use std::sync::Arc;

use aws_lambda_events::event::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayV2httpRequestContext,
};
use axum::body::Body;
use axum::http::Request;
use axum::middleware::Next;
use axum::response::Response;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::request::RequestContext;
use serde::{Deserialize, Serialize};

use crate::{DEV_ISSUER, ROLES, StackError, TOKEN_TTL_SECONDS};

/// The claims of a development token: what API Gateway's JWT authorizer
/// would pass on from a real identity provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DevClaims {
    pub iss: String,
    pub sub: String,
    pub tenant_id: String,
    pub roles: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affiliate_id: Option<String>,
    pub exp: i64,
}

/// The signing key of the data directory, created on first use.
pub fn signing_key(data_dir: &Path) -> Result<Vec<u8>, StackError> {
    let path = data_dir.join("dev-signing-key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(key) = hex::decode(text.trim()) {
            if key.len() == 32 {
                return Ok(key);
            }
        }
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| StackError::Io(format!("create {}: {e}", data_dir.display())))?;
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).map_err(|e| StackError::Io(format!("random key: {e}")))?;
    std::fs::write(&path, hex::encode(&key))
        .map_err(|e| StackError::Io(format!("write {}: {e}", path.display())))?;
    Ok(key)
}

/// Mints a development token for a role.
pub fn mint_token(
    key: &[u8],
    tenant: &str,
    role: &str,
    subject: &str,
    affiliate: Option<&str>,
) -> Result<String, StackError> {
    if !ROLES.contains(&role) {
        return Err(StackError::UnknownRole(role.to_owned()));
    }
    if role == "affiliate" && affiliate.is_none() {
        return Err(StackError::AffiliateMissing);
    }
    let claims = DevClaims {
        iss: DEV_ISSUER.to_owned(),
        sub: subject.to_owned(),
        tenant_id: tenant.to_owned(),
        roles: role.to_owned(),
        affiliate_id: affiliate.map(str::to_owned),
        exp: chrono::Utc::now().timestamp() + TOKEN_TTL_SECONDS,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .map_err(|e| StackError::Token(e.to_string()))
}

/// Who a development token is for: the flags of the stack's `token`
/// command and of `ledger-admin token`.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    #[arg(long)]
    pub tenant: String,
    /// One of: ingest, affiliate, finance-maker, finance-approver, admin.
    #[arg(long)]
    pub role: String,
    /// The affiliate, for the affiliate role.
    #[arg(long)]
    pub affiliate: Option<String>,
    /// The subject (user or client id); defaults to the role.
    #[arg(long)]
    pub subject: Option<String>,
}

impl TokenArgs {
    /// Mints the token with the stack's signing key.
    pub fn mint(&self, key: &[u8]) -> Result<String, StackError> {
        mint_token(
            key,
            &self.tenant,
            &self.role,
            self.subject.as_deref().unwrap_or(&self.role),
            self.affiliate.as_deref(),
        )
    }
}

/// Verifies a bearer token; None for anything missing, forged or expired.
fn verify(key: &[u8], authorization: Option<&str>) -> Option<DevClaims> {
    let token = authorization?.strip_prefix("Bearer ")?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[DEV_ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    jsonwebtoken::decode::<DevClaims>(token, &DecodingKey::from_secret(key), &validation)
        .ok()
        .map(|d| d.claims)
}

/// Turns a verified token into the authorizer context API Gateway would
/// give the handler; strips any context a client tried to smuggle in.
pub(crate) async fn authorize(
    key: Arc<Vec<u8>>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    request.extensions_mut().remove::<RequestContext>();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if let Some(claims) = verify(&key, authorization) {
        let mut map = std::collections::HashMap::new();
        map.insert("sub".to_owned(), claims.sub);
        map.insert("tenant_id".to_owned(), claims.tenant_id);
        map.insert("roles".to_owned(), claims.roles);
        if let Some(affiliate) = claims.affiliate_id {
            map.insert("affiliate_id".to_owned(), affiliate);
        }
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = map;
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.authorizer = Some(authorizer);
        // Like API Gateway, give every request an id the events will carry.
        let mut id = [0u8; 8];
        if getrandom::fill(&mut id).is_ok() {
            context.request_id = Some(format!("local-{}", hex::encode(id)));
        }
        request
            .extensions_mut()
            .insert(RequestContext::ApiGatewayV2(context));
    }
    next.run(request).await
}
