//! PayPal's notifications: the transmission headers checked through a
//! verifier port (PayPal's verification endpoint, given the body's exact
//! bytes, or a certificate check over
//! `transmission_id|transmission_time|webhook_id|crc32(body)`). Before any
//! call to PayPal, the transmission time must be within the tolerance and
//! `cert_url` on PayPal's API hosts. Then payout item events are read.

use async_trait::async_trait;
use ledger_app::payouts::{ProcessorError, ProcessorNotice};
use ledger_domain::money::currency_from_code;
use ledger_domain::{ItemOutcome, Money, Processor};
use serde::Deserialize;

use crate::webhooks::{ParseError, Parsed, SIGNATURE_TOLERANCE_SECONDS, SignatureError};

/// The hosts a PayPal `cert_url` may name: PayPal's live and sandbox REST
/// API hosts, where it serves its webhook certificates
/// (`/v1/notifications/certs/...`).
pub const PAYPAL_CERT_HOSTS: [&str; 4] = [
    "api.paypal.com",
    "api-m.paypal.com",
    "api.sandbox.paypal.com",
    "api-m.sandbox.paypal.com",
];

/// PayPal's transmission headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaypalTransmission {
    pub transmission_id: String,
    pub transmission_time: String,
    pub transmission_sig: String,
    pub cert_url: String,
    pub auth_algo: String,
}

impl PaypalTransmission {
    /// Reads the `PAYPAL-*` headers (any case), each required.
    pub fn from_headers(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<PaypalTransmission, SignatureError> {
        let need = |name: &'static str| get(name).ok_or(SignatureError::Missing(name));
        Ok(PaypalTransmission {
            transmission_id: need("paypal-transmission-id")?,
            transmission_time: need("paypal-transmission-time")?,
            transmission_sig: need("paypal-transmission-sig")?,
            cert_url: need("paypal-cert-url")?,
            auth_algo: need("paypal-auth-algo")?,
        })
    }

    /// Refuses a transmission outside the replay tolerance.
    pub fn check_time(&self, now: i64) -> Result<(), SignatureError> {
        let sent = chrono::DateTime::parse_from_rfc3339(&self.transmission_time).map_err(|_| {
            SignatureError::Malformed {
                header: "paypal-transmission-time",
                reason: "not an RFC 3339 time",
            }
        })?;
        let age = now - sent.timestamp();
        if age.abs() > SIGNATURE_TOLERANCE_SECONDS {
            return Err(SignatureError::Expired { age });
        }
        Ok(())
    }

    /// Refuses a `cert_url` that is not `https://` on one of
    /// [`PAYPAL_CERT_HOSTS`] (default port, no user info). One exception,
    /// explicit: the origin (scheme, host and port) of `api_base`, the PayPal
    /// API base this deployment already sends its credentials to, so a test
    /// server stands in for PayPal whole.
    pub fn check_cert_url(&self, api_base: Option<&str>) -> Result<(), SignatureError> {
        let url = reqwest::Url::parse(&self.cert_url).map_err(|_| SignatureError::Malformed {
            header: "paypal-cert-url",
            reason: "not a URL",
        })?;
        let on_paypal = url.scheme() == "https"
            && url.username().is_empty()
            && url.password().is_none()
            && url.port().is_none()
            && url
                .host_str()
                .is_some_and(|host| PAYPAL_CERT_HOSTS.contains(&host));
        let on_api_base = api_base
            .and_then(|base| reqwest::Url::parse(base).ok())
            .is_some_and(|base| {
                url.username().is_empty()
                    && url.password().is_none()
                    && base.origin().is_tuple()
                    && base.origin() == url.origin()
            });
        if on_paypal || on_api_base {
            Ok(())
        } else {
            Err(SignatureError::UntrustedCertificate)
        }
    }

    /// Every check made before any call to PayPal: the transmission time
    /// within the tolerance, the certificate on PayPal's hosts.
    pub fn check(&self, now: i64, api_base: Option<&str>) -> Result<(), SignatureError> {
        self.check_time(now)?;
        self.check_cert_url(api_base)
    }

    /// The string PayPal signs: `transmission_id|transmission_time|webhook_id|crc32(body)`
    /// (the CRC32 in decimal), for a verifier checking the certificate itself.
    pub fn signed_message(&self, webhook_id: &str, body: &[u8]) -> String {
        format!(
            "{}|{}|{webhook_id}|{}",
            self.transmission_id,
            self.transmission_time,
            crc32fast::hash(body)
        )
    }
}

/// Checks a PayPal transmission's signature: one small port, so the check
/// is testable offline.
#[async_trait]
pub trait PaypalVerifier: Send + Sync {
    /// The checks made before any call to PayPal (see
    /// [`PaypalTransmission::check`]); the route makes them before `verify`.
    fn precheck(&self, transmission: &PaypalTransmission, now: i64) -> Result<(), SignatureError> {
        transmission.check(now, None)
    }

    /// Whether PayPal signed `body`, the exact bytes received.
    async fn verify(
        &self,
        transmission: &PaypalTransmission,
        body: &[u8],
    ) -> Result<bool, ProcessorError>;
}

#[derive(Deserialize)]
struct PaypalEvent {
    id: String,
    event_type: String,
    resource: PaypalResource,
}

#[derive(Deserialize)]
struct PaypalResource {
    /// The payout the item belongs to: the reference the item was
    /// submitted with (PayPal answers a create with it).
    #[serde(default)]
    payout_batch_id: Option<String>,
    #[serde(default)]
    payout_item: Option<PaypalItem>,
    #[serde(default)]
    errors: Option<PaypalErrors>,
}

#[derive(Deserialize)]
struct PaypalItem {
    sender_item_id: Option<String>,
    #[serde(default)]
    receiver: Option<String>,
    #[serde(default)]
    amount: Option<PaypalAmount>,
}

#[derive(Deserialize)]
struct PaypalAmount {
    currency: String,
    value: String,
}

#[derive(Deserialize)]
struct PaypalErrors {
    name: Option<String>,
    message: Option<String>,
}

/// Reads a verified PayPal payout item event.
pub fn parse_paypal(body: &[u8]) -> Result<Parsed, ParseError> {
    let event: PaypalEvent =
        serde_json::from_slice(body).map_err(|e| ParseError(format!("paypal event: {e}")))?;
    let outcome = match event.event_type.as_str() {
        "PAYMENT.PAYOUTS-ITEM.SUCCEEDED" => ItemOutcome::Paid,
        "PAYMENT.PAYOUTS-ITEM.FAILED"
        | "PAYMENT.PAYOUTS-ITEM.BLOCKED"
        | "PAYMENT.PAYOUTS-ITEM.DENIED"
        | "PAYMENT.PAYOUTS-ITEM.CANCELED" => ItemOutcome::Failed,
        "PAYMENT.PAYOUTS-ITEM.RETURNED"
        | "PAYMENT.PAYOUTS-ITEM.REFUNDED"
        | "PAYMENT.PAYOUTS-ITEM.REVERSED" => ItemOutcome::Returned,
        "PAYMENT.PAYOUTS-ITEM.UNCLAIMED" => ItemOutcome::Unclaimed,
        _ => {
            return Ok(Parsed::Ignored {
                event_type: event.event_type,
            });
        }
    };
    let item = event.resource.payout_item;
    let amount = match item.as_ref().and_then(|i| i.amount.as_ref()) {
        Some(a) => {
            let currency = currency_from_code(&a.currency)
                .map_err(|e| ParseError(format!("paypal amount currency: {e}")))?;
            Some(
                Money::parse(&a.value, currency)
                    .map_err(|e| ParseError(format!("paypal amount: {e}")))?,
            )
        }
        None => None,
    };
    let account = item.as_ref().and_then(|i| i.receiver.clone());
    let sender_item_id = item.and_then(|i| i.sender_item_id).unwrap_or_default();
    let (tenant, item) = match sender_item_id.split_once('/') {
        Some((t, i)) => (Some(t.to_owned()), Some(i.to_owned())),
        None => (None, None),
    };
    let reason = event.resource.errors.map(|e| {
        format!(
            "{}: {}",
            e.name.unwrap_or_default(),
            e.message.unwrap_or_default()
        )
    });
    let reason = reason.or_else(|| Some(event.event_type.clone()));
    Ok(Parsed::Notice(ProcessorNotice {
        processor: Processor::Paypal,
        event_id: event.id,
        outcome,
        tenant_id: tenant,
        batch_id: None,
        item_id: item,
        reference: event.resource.payout_batch_id,
        account,
        amount,
        reason,
    }))
}

/// PayPal's verification endpoint as the verifier
/// (`POST /v1/notifications/verify-webhook-signature`). PayPal checks the
/// event against the bytes it signed, so the request carries the body
/// received byte for byte as its `webhook_event`, never a re-serialization.
/// Before any call (and so before the payout credentials are used), the
/// transmission is prechecked: a stale time or a certificate off PayPal's
/// hosts (or this adapter's API base) is not verified.
pub struct PaypalEndpointVerifier {
    payouts: super::PaypalPayouts,
    webhook_id: String,
    clock: fn() -> i64,
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl PaypalEndpointVerifier {
    pub fn new(payouts: super::PaypalPayouts, webhook_id: &str) -> Self {
        PaypalEndpointVerifier {
            payouts,
            webhook_id: webhook_id.to_owned(),
            clock: unix_now,
        }
    }

    /// The clock the precheck reads (unix seconds), for tests.
    pub fn with_clock(mut self, clock: fn() -> i64) -> Self {
        self.clock = clock;
        self
    }

    /// The verification request's text: the transmission's fields as JSON
    /// strings and `body`, which must be a JSON object, spliced in verbatim.
    pub fn request_text(
        &self,
        transmission: &PaypalTransmission,
        body: &[u8],
    ) -> Result<String, ProcessorError> {
        let event = std::str::from_utf8(body)
            .map_err(|_| ProcessorError::Invalid("paypal event: not UTF-8".to_owned()))?;
        serde_json::from_str::<serde::de::IgnoredAny>(event)
            .map_err(|e| ProcessorError::Invalid(format!("paypal event: {e}")))?;
        if !event
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with('{')
        {
            return Err(ProcessorError::Invalid(
                "paypal event: not a JSON object".to_owned(),
            ));
        }
        let s = |v: &str| serde_json::Value::String(v.to_owned()).to_string();
        Ok(format!(
            "{{\"auth_algo\":{},\"cert_url\":{},\"transmission_id\":{},\"transmission_sig\":{},\"transmission_time\":{},\"webhook_id\":{},\"webhook_event\":{event}}}",
            s(&transmission.auth_algo),
            s(&transmission.cert_url),
            s(&transmission.transmission_id),
            s(&transmission.transmission_sig),
            s(&transmission.transmission_time),
            s(&self.webhook_id),
        ))
    }
}

#[async_trait]
impl PaypalVerifier for PaypalEndpointVerifier {
    fn precheck(&self, transmission: &PaypalTransmission, now: i64) -> Result<(), SignatureError> {
        transmission.check(now, Some(self.payouts.base_url()))
    }

    async fn verify(
        &self,
        transmission: &PaypalTransmission,
        body: &[u8],
    ) -> Result<bool, ProcessorError> {
        if let Err(e) = self.precheck(transmission, (self.clock)()) {
            tracing::warn!(error = %e, "paypal transmission refused before verification");
            return Ok(false);
        }
        let request = self.request_text(transmission, body)?;
        let answer = self
            .payouts
            .post_json_text("/v1/notifications/verify-webhook-signature", request)
            .await?;
        Ok(answer.get("verification_status").and_then(|s| s.as_str()) == Some("SUCCESS"))
    }
}
