//! Processor notifications: verified before anything is parsed, then
//! turned into `ProcessorNotice`s for the ledger.
//!
//! - Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, an
//!   HMAC-SHA256 over `<t>.<body>` with the endpoint secret, compared in
//!   constant time, within a tolerance (300 s), against every configured
//!   secret (several during a rotation) and every `v1` given.
//! - Sandbox (the local stack's processor): the same scheme in
//!   `Sandbox-Signature`, so its notifications take the same path.
//! - PayPal: the transmission headers checked through a verifier port
//!   (PayPal's verification endpoint, or a certificate check over
//!   `transmission_id|transmission_time|webhook_id|crc32(body)`), with the
//!   same replay tolerance on the transmission time.
//! - SEPA: pain.002 status reports and camt.054 debit notifications.

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use ledger_app::payouts::{ProcessorError, ProcessorNotice};
use ledger_domain::{ItemOutcome, Processor};
use serde::Deserialize;
use sha2::Sha256;

/// How old (or how far in the future) a signed timestamp may be, in seconds.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;
/// The largest notification body accepted.
pub const WEBHOOK_BODY_BYTES_MAX: usize = 256 * 1024;

/// Why a notification was refused before it was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {header} header is malformed: {reason}")]
    Malformed {
        header: &'static str,
        reason: &'static str,
    },
    #[error("the signature is {age} s old, outside the {SIGNATURE_TOLERANCE_SECONDS} s tolerance")]
    Expired { age: i64 },
    #[error("no signature matches")]
    Mismatch,
    #[error("no webhook secret is configured")]
    NotConfigured,
}

/// Signs `body` at `timestamp` with `secret`, as Stripe does: the header value.
pub fn stripe_signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Verifies a Stripe-scheme signature header over `body`.
pub fn verify_stripe_signature(
    header_name: &'static str,
    header: Option<&str>,
    body: &[u8],
    secrets: &[String],
    now: i64,
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NotConfigured);
    }
    let header = header.ok_or(SignatureError::Missing(header_name))?;
    let malformed = |reason| SignatureError::Malformed {
        header: header_name,
        reason,
    };
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(malformed("expected key=value pairs"))?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| malformed("t is not a unix timestamp"))?,
                )
            }
            "v1" => {
                signatures.push(hex::decode(value).map_err(|_| malformed("v1 is not hexadecimal"))?)
            }
            // v0 (test mode) and future schemes are ignored, as Stripe says.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(malformed("t is missing"))?;
    if signatures.is_empty() {
        return Err(malformed("no v1 signature"));
    }
    let age = now - timestamp;
    if age.abs() > SIGNATURE_TOLERANCE_SECONDS {
        return Err(SignatureError::Expired { age });
    }
    for secret in secrets {
        for signature in &signatures {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC accepts any key length");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            // Constant-time comparison.
            if mac.verify_slice(signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Mismatch)
}

/// What a verified notification means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Notice(ProcessorNotice),
    /// A verified event of a type that says nothing about payout items.
    Ignored {
        event_type: String,
    },
}

/// Why a verified body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable notification: {0}")]
pub struct ParseError(pub String);

#[derive(Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: StripeData,
}

#[derive(Deserialize)]
struct StripeData {
    object: StripeObject,
}

#[derive(Deserialize)]
struct StripeObject {
    id: String,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
    #[serde(default)]
    failure_message: Option<String>,
    #[serde(default)]
    failure_code: Option<String>,
}

/// Reads a verified Stripe event: transfers (created = paid, reversed =
/// came back) and payouts (paid, failed) made for payout items.
pub fn parse_stripe(body: &[u8]) -> Result<Parsed, ParseError> {
    let event: StripeEvent =
        serde_json::from_slice(body).map_err(|e| ParseError(format!("stripe event: {e}")))?;
    let outcome = match event.event_type.as_str() {
        "transfer.created" | "payout.paid" => ItemOutcome::Paid,
        "transfer.reversed" => ItemOutcome::Returned,
        "payout.failed" | "payout.canceled" => ItemOutcome::Failed,
        _ => {
            return Ok(Parsed::Ignored {
                event_type: event.event_type,
            });
        }
    };
    let object = event.data.object;
    let meta = |k: &str| object.metadata.get(k).cloned();
    let reason = match (&object.failure_code, &object.failure_message) {
        (Some(code), Some(message)) => Some(format!("{code}: {message}")),
        (code, message) => code.clone().or(message.clone()),
    }
    .or_else(|| (outcome == ItemOutcome::Returned).then(|| "transfer reversed".to_owned()));
    Ok(Parsed::Notice(ProcessorNotice {
        processor: Processor::Stripe,
        event_id: event.id,
        outcome,
        tenant_id: meta("tenant_id"),
        batch_id: meta("payout_batch_id"),
        item_id: meta("payout_item_id"),
        reference: Some(object.id),
        reason,
    }))
}

#[derive(Deserialize)]
struct SandboxEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    tenant_id: String,
    batch_id: String,
    item_id: String,
    reference: Option<String>,
    reason: Option<String>,
}

/// Reads a verified sandbox notification.
pub fn parse_sandbox(body: &[u8]) -> Result<Parsed, ParseError> {
    let event: SandboxEvent =
        serde_json::from_slice(body).map_err(|e| ParseError(format!("sandbox event: {e}")))?;
    let outcome = match event.event_type.as_str() {
        "item.paid" => ItemOutcome::Paid,
        "item.failed" => ItemOutcome::Failed,
        "item.returned" => ItemOutcome::Returned,
        "item.unclaimed" => ItemOutcome::Unclaimed,
        _ => {
            return Ok(Parsed::Ignored {
                event_type: event.event_type,
            });
        }
    };
    Ok(Parsed::Notice(ProcessorNotice {
        processor: Processor::Sandbox,
        event_id: event.id,
        outcome,
        tenant_id: Some(event.tenant_id),
        batch_id: Some(event.batch_id),
        item_id: Some(event.item_id),
        reference: event.reference,
        reason: event.reason,
    }))
}

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
    #[serde(default)]
    payout_item_id: Option<String>,
    #[serde(default)]
    payout_item: Option<PaypalItem>,
    #[serde(default)]
    errors: Option<PaypalErrors>,
}

#[derive(Deserialize)]
struct PaypalItem {
    sender_item_id: Option<String>,
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
    let sender_item_id = event
        .resource
        .payout_item
        .and_then(|i| i.sender_item_id)
        .unwrap_or_default();
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
        reference: event.resource.payout_item_id,
        reason,
    }))
}

/// PayPal's verification endpoint as the verifier.
pub struct PaypalEndpointVerifier {
    payouts: crate::paypal::PaypalPayouts,
    webhook_id: String,
}

impl PaypalEndpointVerifier {
    pub fn new(payouts: crate::paypal::PaypalPayouts, webhook_id: &str) -> Self {
        PaypalEndpointVerifier {
            payouts,
            webhook_id: webhook_id.to_owned(),
        }
    }
}

#[async_trait]
impl PaypalVerifier for PaypalEndpointVerifier {
    async fn verify(
        &self,
        transmission: &PaypalTransmission,
        body: &[u8],
    ) -> Result<bool, ProcessorError> {
        let event: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ProcessorError::Invalid(format!("paypal event: {e}")))?;
        let request = serde_json::json!({
            "auth_algo": transmission.auth_algo,
            "cert_url": transmission.cert_url,
            "transmission_id": transmission.transmission_id,
            "transmission_sig": transmission.transmission_sig,
            "transmission_time": transmission.transmission_time,
            "webhook_id": self.webhook_id,
            "webhook_event": event,
        });
        let answer = self
            .payouts
            .post_json("/v1/notifications/verify-webhook-signature", &request)
            .await?;
        Ok(answer.get("verification_status").and_then(|s| s.as_str()) == Some("SUCCESS"))
    }
}

/// Reads a SEPA status file: a pain.002 customer payment status report
/// (transaction status per original end-to-end id: ACCP/ACSC/ACSP/ACWC
/// accepted, RJCT rejected) or a camt.054 debit notification (booked
/// entries paid; entries with return information returned). The original
/// message id names the tenant and batch (`tenant/batch/...`).
pub fn parse_sepa_status(file_key: &str, xml: &[u8]) -> Result<Vec<ProcessorNotice>, ParseError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut kind = None;
    let mut message_id = None::<String>;
    // (end-to-end id, status code, reason code, returned)
    let mut current: (Option<String>, Option<String>, Option<String>, bool) =
        (None, None, None, false);
    let mut rows = Vec::new();
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| ParseError(format!("{file_key}: {e}")))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match name.as_str() {
                    "CstmrPmtStsRpt" => kind = Some("pain.002"),
                    "BkToCstmrDbtCdtNtfctn" => kind = Some("camt.054"),
                    "OrgnlPmtInfAndSts" | "TxInfAndSts" | "TxDtls" => {}
                    "RtrInf" => current.3 = true,
                    _ => {}
                }
                path.push(name);
            }
            Event::End(_) => {
                if let Some(name) = path.pop() {
                    if name == "TxInfAndSts" || name == "TxDtls" {
                        rows.push(std::mem::take(&mut current));
                    }
                }
            }
            Event::Text(t) => {
                let text = t
                    .decode()
                    .map_err(|e| ParseError(format!("{file_key}: {e}")))?
                    .into_owned();
                let at = |suffix: &[&str]| {
                    path.len() >= suffix.len()
                        && path[path.len() - suffix.len()..]
                            .iter()
                            .zip(suffix)
                            .all(|(a, b)| a == b)
                };
                if at(&["OrgnlGrpInfAndSts", "OrgnlMsgId"])
                    || (at(&["Refs", "MsgId"]) && message_id.is_none())
                {
                    message_id = Some(text);
                } else if at(&["OrgnlEndToEndId"]) || at(&["Refs", "EndToEndId"]) {
                    current.0 = Some(text);
                } else if at(&["TxInfAndSts", "TxSts"]) {
                    current.1 = Some(text);
                } else if at(&["StsRsnInf", "Rsn", "Cd"]) || at(&["RtrInf", "Rsn", "Cd"]) {
                    current.2 = Some(text);
                } else if at(&["TxDtls", "Sts"]) || at(&["Ntry", "Sts"]) || at(&["Sts", "Cd"]) {
                    current.1.get_or_insert(text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let Some(kind) = kind else {
        return Err(ParseError(format!(
            "{file_key}: neither a pain.002 status report nor a camt.054 notification"
        )));
    };
    let (tenant, batch) = match message_id
        .as_deref()
        .map(|m| m.split('/').collect::<Vec<_>>())
    {
        Some(parts) if parts.len() >= 2 => (Some(parts[0].to_owned()), Some(parts[1].to_owned())),
        _ => (None, None),
    };
    let mut notices = Vec::new();
    for (end_to_end, status, reason, returned) in rows {
        let Some(end_to_end) = end_to_end else {
            return Err(ParseError(format!(
                "{file_key}: a transaction without an end-to-end id"
            )));
        };
        let status = status.unwrap_or_default();
        let outcome = match (kind, status.as_str(), returned) {
            (_, _, true) => ItemOutcome::Returned,
            ("pain.002", "RJCT", _) => ItemOutcome::Failed,
            ("pain.002", "ACCP" | "ACSC" | "ACSP" | "ACWC", _) => {
                if status == "ACSC" {
                    ItemOutcome::Paid
                } else {
                    // Accepted, not settled: nothing to record yet.
                    continue;
                }
            }
            ("camt.054", "BOOK" | "", _) => ItemOutcome::Paid,
            ("camt.054", _, _) => continue,
            (_, other, _) => {
                return Err(ParseError(format!(
                    "{file_key}: unknown transaction status {other:?} for {end_to_end}"
                )));
            }
        };
        notices.push(ProcessorNotice {
            processor: Processor::Sepa,
            event_id: format!("{file_key}#{end_to_end}#{status}"),
            outcome,
            tenant_id: tenant.clone(),
            batch_id: batch.clone(),
            item_id: Some(end_to_end.clone()),
            reference: Some(end_to_end),
            reason: reason.map(|r| format!("SEPA reason {r}")),
        });
    }
    Ok(notices)
}
