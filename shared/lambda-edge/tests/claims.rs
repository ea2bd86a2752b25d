//! Roles as API Gateway's JWT authorizer hands them to the function: every
//! claim is a string there, and a list claim (user pool groups) arrives as
//! one bracketed, space-separated string.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use lambda_edge::{Caller, TenantClaim, parse_roles};
use serde_json::Value;

struct State;

impl TenantClaim for State {
    fn tenant_claim(&self) -> &str {
        "tenant_id"
    }
}

fn fixture() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/apigw/list-payout-batches.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn roles_of(event: &Value) -> Result<Vec<String>, u16> {
    let request =
        lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event");
    let (mut parts, _) = request.into_parts();
    match Caller::from_request_parts(&mut parts, &Arc::new(State)).await {
        Ok(Caller(identity)) => {
            assert_eq!(identity.tenant_id.as_str(), "acme");
            assert_eq!(identity.request_id.as_deref(), Some("Bq2bYnQMwIdFTIB="));
            Ok(identity.roles)
        }
        Err(problem) => Err(axum::response::IntoResponse::into_response(problem)
            .status()
            .as_u16()),
    }
}

fn claims(event: &mut Value) -> &mut Value {
    &mut event["requestContext"]["authorizer"]["jwt"]["claims"]
}

#[tokio::test]
async fn user_pool_groups_flattened_by_the_authorizer_are_parsed_exactly() {
    let event = fixture();
    assert_eq!(
        claims(&mut event.clone())["cognito:groups"],
        "[finance-maker admin]",
        "the payload carries the list as API Gateway flattens it"
    );
    assert_eq!(
        roles_of(&event).await,
        Ok(vec!["finance-maker".to_owned(), "admin".to_owned()])
    );
}

#[tokio::test]
async fn single_roles_json_arrays_and_separated_lists_still_work() {
    for (claim, value, expected) in [
        (
            "cognito:groups",
            "[finance-approver]",
            &["finance-approver"][..],
        ),
        ("cognito:groups", "finance-approver", &["finance-approver"]),
        ("roles", "finance-maker", &["finance-maker"]),
        ("roles", "finance-maker admin", &["finance-maker", "admin"]),
        ("roles", "finance-maker,admin", &["finance-maker", "admin"]),
        (
            "roles",
            r#"["finance-maker", "admin"]"#,
            &["finance-maker", "admin"],
        ),
        ("cognito:groups", "[]", &[]),
    ] {
        let mut event = fixture();
        let claims = claims(&mut event);
        claims.as_object_mut().unwrap().remove("cognito:groups");
        claims[claim] = value.into();
        assert_eq!(
            roles_of(&event).await,
            Ok(expected.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>()),
            "{claim}: {value}"
        );
    }
    // Both claims together: the union, once each.
    let mut event = fixture();
    claims(&mut event)["roles"] = "admin ingest".into();
    assert_eq!(
        roles_of(&event).await,
        Ok(vec![
            "admin".to_owned(),
            "ingest".to_owned(),
            "finance-maker".to_owned()
        ])
    );
}

#[test]
fn no_role_keeps_a_bracket_or_a_quote() {
    for value in [
        "[finance-maker admin]",
        " [ finance-maker  admin ] ",
        "[finance-maker,admin]",
        r#"["finance-maker","admin"]"#,
    ] {
        assert_eq!(parse_roles(value), ["finance-maker", "admin"], "{value}");
    }
    // A role named with a bracket never matches a real role.
    assert_eq!(parse_roles("[admin"), ["[admin"]);
    assert!(parse_roles("").is_empty());
}

#[tokio::test]
async fn no_authorizer_is_unauthenticated() {
    let mut event = fixture();
    event["requestContext"]["authorizer"] = Value::Null;
    assert_eq!(roles_of(&event).await, Err(401));
}

#[test]
fn the_affiliate_comes_from_the_issuer_claim_or_the_user_pool_attribute() {
    use std::collections::HashMap;
    let base = |extra: &[(&str, &str)]| {
        let mut map: HashMap<String, String> = [("sub", "u-1"), ("custom:tenant_id", "acme")]
            .into_iter()
            .chain(extra.iter().copied())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        map.insert("cognito:groups".to_owned(), "[affiliate]".to_owned());
        map
    };
    let of = |claims| {
        lambda_edge::identity_from_claims(&claims, "custom:tenant_id")
            .unwrap()
            .affiliate_id
    };
    assert_eq!(
        of(base(&[("custom:affiliate_id", "aff-anna")])).as_deref(),
        Some("aff-anna")
    );
    assert_eq!(
        of(base(&[("affiliate_id", "aff-ben")])).as_deref(),
        Some("aff-ben")
    );
    assert_eq!(of(base(&[("custom:affiliate_id", "")])), None);
    assert_eq!(of(base(&[])), None);
}
