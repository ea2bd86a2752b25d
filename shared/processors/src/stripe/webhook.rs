//! Stripe's notifications: the `Stripe-Signature` scheme (also the
//! sandbox's, in `Sandbox-Signature`) and `transfer.*` events.
//!
//! `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, an HMAC-SHA256 over
//! `<t>.<body>` with the endpoint secret, compared in constant time, within
//! a tolerance ([`SIGNATURE_TOLERANCE_SECONDS`]), against every configured
//! secret (several during a rotation) and every `v1` given.

use hmac::{Hmac, Mac};
use ledger_app::payouts::ProcessorNotice;
use ledger_domain::money::currency_from_code;
use ledger_domain::{ItemOutcome, Money, Processor};
use serde::Deserialize;
use sha2::Sha256;

use crate::webhooks::{ParseError, Parsed, SIGNATURE_TOLERANCE_SECONDS, SignatureError};

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

/// A Stripe-scheme signature header, read and within the tolerance, not
/// yet checked against a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeSignature {
    pub timestamp: i64,
    pub signatures: Vec<Vec<u8>>,
}

impl StripeSignature {
    /// Reads the header: missing, malformed or outside the tolerance is an
    /// error, before any secret is needed.
    pub fn parse(
        header_name: &'static str,
        header: Option<&str>,
        now: i64,
    ) -> Result<Self, SignatureError> {
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
                "v1" => signatures
                    .push(hex::decode(value).map_err(|_| malformed("v1 is not hexadecimal"))?),
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
        Ok(StripeSignature {
            timestamp,
            signatures,
        })
    }

    /// Whether any `v1` is the HMAC of `body` with any of `secrets`
    /// (compared in constant time).
    pub fn check(&self, body: &[u8], secrets: &[String]) -> Result<(), SignatureError> {
        for secret in secrets {
            for signature in &self.signatures {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                    .expect("HMAC accepts any key length");
                mac.update(self.timestamp.to_string().as_bytes());
                mac.update(b".");
                mac.update(body);
                if mac.verify_slice(signature).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(SignatureError::Mismatch)
    }
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
    StripeSignature::parse(header_name, header, now)?.check(body, secrets)
}

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

/// The transfer object of a `transfer.*` event.
#[derive(Deserialize)]
struct StripeObject {
    id: String,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
    /// In Stripe's minor units of `currency`.
    #[serde(default)]
    amount: Option<i64>,
    /// The total reversed so far, in Stripe's minor units.
    #[serde(default)]
    amount_reversed: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
    /// The connected account the transfer went to.
    #[serde(default)]
    destination: Option<String>,
}

/// An amount a Stripe object states, as money (Stripe's exponent table).
fn stripe_money(minor: Option<i64>, currency: Option<&str>) -> Result<Option<Money>, ParseError> {
    let (Some(minor), Some(code)) = (minor, currency) else {
        return Ok(None);
    };
    let currency = currency_from_code(&code.to_ascii_uppercase())
        .map_err(|e| ParseError(format!("stripe currency {code:?}: {e}")))?;
    Processor::Stripe
        .from_minor(minor, currency)
        .map(Some)
        .map_err(|e| ParseError(format!("stripe amount: {e}")))
}

/// Reads a verified Stripe event about a transfer made for a payout item:
/// `transfer.created` (paid) and `transfer.reversed` (partly or wholly
/// taken back: the notice carries `amount_reversed`, the total so far).
///
/// `payout.*` events are the connected account's own payouts to its bank:
/// they are not this ledger's items (the item was paid when the transfer
/// reached the account), so they are acknowledged and ignored; reading them
/// as item news once let a connected account's failed bank payout fail an
/// item that had been paid.
pub fn parse_stripe(body: &[u8]) -> Result<Parsed, ParseError> {
    let event: StripeEvent =
        serde_json::from_slice(body).map_err(|e| ParseError(format!("stripe event: {e}")))?;
    let outcome = match event.event_type.as_str() {
        "transfer.created" => ItemOutcome::Paid,
        "transfer.reversed" => ItemOutcome::Reversed,
        _ => {
            return Ok(Parsed::Ignored {
                event_type: event.event_type,
            });
        }
    };
    let object = event.data.object;
    if object.object.as_deref().is_some_and(|o| o != "transfer") {
        return Err(ParseError(format!(
            "stripe {}: data.object is a {:?}, not a transfer",
            event.event_type, object.object
        )));
    }
    let meta = |k: &str| object.metadata.get(k).cloned();
    let currency = object.currency.as_deref();
    let amount = match outcome {
        ItemOutcome::Reversed => {
            let total = stripe_money(object.amount_reversed, currency)?;
            if total.is_none() {
                return Err(ParseError(
                    "stripe transfer.reversed: amount_reversed and currency are required"
                        .to_owned(),
                ));
            }
            total
        }
        _ => stripe_money(object.amount, currency)?,
    };
    let reason = (outcome == ItemOutcome::Reversed).then(|| "transfer reversed".to_owned());
    Ok(Parsed::Notice(ProcessorNotice {
        processor: Processor::Stripe,
        event_id: event.id,
        outcome,
        tenant_id: meta("tenant_id"),
        batch_id: meta("payout_batch_id"),
        item_id: meta("payout_item_id"),
        reference: Some(object.id),
        account: object.destination,
        amount,
        reason,
    }))
}
