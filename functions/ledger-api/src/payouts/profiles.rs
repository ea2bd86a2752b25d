//! Payout profiles: how an affiliate is paid, its minimums and its holds.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::{FieldError, Problem, Refused, Unavailable};
use lambda_edge::{Caller, Identity};
use ledger_app::payouts as uc;
use ledger_domain::money::currency_from_code;
use ledger_domain::{AffiliateId, HoldReason, Money, PayoutMethod, PayoutProfile, ProfileChange};
use serde::{Deserialize, Serialize};

use super::{app_problem, ctx};
use crate::extract::ApiJson;
use crate::{ApiReads, ApiState};

fn affiliate(id: &str) -> Result<AffiliateId, Problem> {
    AffiliateId::new(id).map_err(|e| Problem::bad_request("affiliate_id", &e.to_string()))
}

/// A profile as finance reads it: bank details masked.
#[derive(Serialize, utoipa::ToSchema)]
struct ProfileBody {
    affiliate_id: String,
    method: Option<String>,
    processor: Option<&'static str>,
    minimums: Vec<Money>,
    holds: Vec<HoldReason>,
}

fn profile_body(affiliate_id: &AffiliateId, p: &PayoutProfile) -> ProfileBody {
    ProfileBody {
        affiliate_id: affiliate_id.to_string(),
        method: p.method.as_ref().map(PayoutMethod::redacted),
        processor: p.method.as_ref().map(|m| m.processor().as_str()),
        minimums: p.minimums.clone(),
        holds: p.holds.iter().copied().collect(),
    }
}

/// An affiliate's payout profile, bank details masked (finance, admins).
#[utoipa::path(get, path = "/v1/affiliates/{affiliate_id}/payout-profile", tag = "payouts",
    params(("affiliate_id" = String, Path)), responses((status = 200, body = ProfileBody), Refused, Unavailable), security(("bearer" = [])))]
pub(crate) async fn get_profile<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ReadPayouts)?;
    let affiliate_id = affiliate(&id)?;
    let profile = uc::load_profile(&*state.events, &identity.tenant_id, &affiliate_id)
        .await
        .map_err(app_problem)?;
    Ok(axum::Json(profile_body(&affiliate_id, profile.profile())).into_response())
}

async fn change<R: ApiReads + 'static>(
    state: &ApiState<R>,
    identity: &Identity,
    // The role the handler authorized the change under.
    role: &'static str,
    affiliate_id: &AffiliateId,
    change: ProfileChange,
) -> Result<Response, Problem> {
    let ctx = ctx(identity, role)?;
    let events = uc::change_profile(&*state.events, affiliate_id, change, &ctx)
        .await
        .map_err(app_problem)?;
    let profile = uc::load_profile(&*state.events, &identity.tenant_id, affiliate_id)
        .await
        .map_err(app_problem)?;
    tracing::info!(tenant = %identity.tenant_id, affiliate = %affiliate_id, changed = !events.is_empty(), "payout profile");
    Ok(axum::Json(profile_body(affiliate_id, profile.profile())).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MethodBody {
    method: PayoutMethod,
}

/// Sets how an affiliate is paid; payee details are validated (finance makers, admins).
#[utoipa::path(put, path = "/v1/affiliates/{affiliate_id}/payout-method", tag = "payouts",
    params(("affiliate_id" = String, Path)), request_body = MethodBody, responses((status = 200, body = ProfileBody), Refused, Unavailable), security(("bearer" = [])))]
pub(crate) async fn put_method<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    body: Result<ApiJson<MethodBody>, Problem>,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::ManagePayoutProfile)?;
    let affiliate_id = affiliate(&id)?;
    let ApiJson(MethodBody { method }) = body?;
    let change_ = ProfileChange::MethodSet { method };
    change(&state, &identity, role, &affiliate_id, change_).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MinimumBody {
    amount: String,
}

/// Sets an affiliate's payout minimum in one currency.
#[utoipa::path(put, path = "/v1/affiliates/{affiliate_id}/payout-minimums/{currency}", tag = "payouts",
    params(("affiliate_id" = String, Path), ("currency" = String, Path)), request_body = MinimumBody, responses((status = 200, body = ProfileBody), Refused, Unavailable), security(("bearer" = [])))]
pub(crate) async fn put_minimum<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path((id, currency)): Path<(String, String)>,
    body: Result<ApiJson<MinimumBody>, Problem>,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::ManagePayoutProfile)?;
    let affiliate_id = affiliate(&id)?;
    let currency = currency_from_code(&currency)
        .map_err(|e| Problem::bad_request("currency", &e.to_string()))?;
    let ApiJson(MinimumBody { amount }) = body?;
    let minimum = Money::parse(&amount, currency).map_err(|e| {
        Problem::unprocessable(vec![FieldError {
            field: "amount".into(),
            rule: e.to_string(),
        }])
    })?;
    let change_ = ProfileChange::MinimumSet { minimum };
    change(&state, &identity, role, &affiliate_id, change_).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HoldBody {
    reason: HoldReason,
    note: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteBody {
    note: String,
}

/// Holds an affiliate's payouts, with a reason.
#[utoipa::path(post, path = "/v1/affiliates/{affiliate_id}/payout-holds", tag = "payouts",
    params(("affiliate_id" = String, Path)), request_body = HoldBody, responses((status = 200, body = ProfileBody), Refused, Unavailable), security(("bearer" = [])))]
pub(crate) async fn place_hold<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    body: Result<ApiJson<HoldBody>, Problem>,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::HoldPayouts)?;
    let affiliate_id = affiliate(&id)?;
    let ApiJson(HoldBody { reason, note }) = body?;
    let change_ = ProfileChange::HoldPlaced { reason, note };
    change(&state, &identity, role, &affiliate_id, change_).await
}

/// Lifts one hold.
#[utoipa::path(post, path = "/v1/affiliates/{affiliate_id}/payout-holds/{reason}/lift", tag = "payouts",
    params(("affiliate_id" = String, Path), ("reason" = HoldReason, Path)), request_body = NoteBody, responses((status = 200, body = ProfileBody), Refused, Unavailable), security(("bearer" = [])))]
pub(crate) async fn lift_hold<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path((id, reason)): Path<(String, String)>,
    body: Result<ApiJson<NoteBody>, Problem>,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::HoldPayouts)?;
    let affiliate_id = affiliate(&id)?;
    let reason: HoldReason =
        serde_json::from_value(serde_json::Value::String(reason)).map_err(|_| {
            Problem::bad_request(
                "reason",
                "must be one of kyc_pending, fraud_review, compliance, manual",
            )
        })?;
    let ApiJson(NoteBody { note }) = body?;
    let change_ = ProfileChange::HoldLifted { reason, note };
    change(&state, &identity, role, &affiliate_id, change_).await
}
