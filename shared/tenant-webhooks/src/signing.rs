//! The delivery signature: the Stripe scheme, so receivers can use code
//! they already have.
//!
//! `Ledger-Signature: t=1764700000,v1=5257a8…[,v1=…]`, where each `v1` is
//! the hex HMAC-SHA256, keyed with one of the endpoint's secrets (the whole
//! `whsec_…` string, as shown), of the timestamp, a `.`, and the exact
//! body bytes. During a secret rotation a delivery carries one `v1` per
//! valid secret. A receiver recomputes it with its secret, compares in
//! constant time, and refuses a timestamp older than its tolerance (five
//! minutes is usual) so a captured delivery cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Ledger-Signature";
/// The tolerance [`verify`] applies unless told otherwise, in seconds.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header's value for `body` sent at `timestamp` (Unix
/// seconds), one `v1` per secret.
pub fn sign(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&hex::encode(
            mac(secret, timestamp, body).finalize().into_bytes(),
        ));
    }
    header
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header has no timestamp (t=) or no v1 signature")]
    Malformed,
    #[error("the timestamp is {age} seconds away from now; the tolerance is {tolerance}")]
    OutsideTolerance { age: i64, tolerance: i64 },
    #[error("no v1 signature matches the body with this secret")]
    NoMatch,
}

/// Checks a delivery as a receiver does: `header` as received, `body` the
/// exact bytes, `now` in Unix seconds.
pub fn verify(
    header: &str,
    secret: &str,
    body: &[u8],
    now: i64,
    tolerance_seconds: i64,
) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.extend(hex::decode(s).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return Err(VerifyError::Malformed);
    };
    if signatures.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let age = (now - timestamp).abs();
    if age > tolerance_seconds {
        return Err(VerifyError::OutsideTolerance {
            age,
            tolerance: tolerance_seconds,
        });
    }
    if signatures
        .iter()
        .any(|s| mac(secret, timestamp, body).verify_slice(s).is_ok())
    {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

/// A new signing secret: `whsec_` and 64 hex digits from the OS's random
/// source.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("whsec_{}", hex::encode(bytes)))
}

/// A new endpoint id: `we_` and 24 hex digits.
pub fn new_endpoint_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes)?;
    Ok(format!("we_{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_secret_only() {
        let body = br#"{"id":"evt_1","type":"payout_item.paid"}"#;
        let header = sign(&["whsec_a"], 1_764_700_000, body);
        assert!(header.starts_with("t=1764700000,v1="));
        assert_eq!(verify(&header, "whsec_a", body, 1_764_700_010, 300), Ok(()));
        assert_eq!(
            verify(&header, "whsec_b", body, 1_764_700_010, 300),
            Err(VerifyError::NoMatch)
        );
        // One byte changed in the body is a different signature.
        let mut changed = body.to_vec();
        changed[3] = b'X';
        assert_eq!(
            verify(&header, "whsec_a", &changed, 1_764_700_010, 300),
            Err(VerifyError::NoMatch)
        );
        assert!(matches!(
            verify(&header, "whsec_a", body, 1_764_700_400, 300),
            Err(VerifyError::OutsideTolerance { age: 400, .. })
        ));
        assert_eq!(
            verify("v1=00", "whsec_a", body, 0, 300),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn during_a_rotation_both_secrets_verify() {
        let header = sign(&["whsec_new", "whsec_old"], 10, b"{}");
        assert_eq!(header.matches("v1=").count(), 2);
        assert_eq!(verify(&header, "whsec_new", b"{}", 10, 300), Ok(()));
        assert_eq!(verify(&header, "whsec_old", b"{}", 10, 300), Ok(()));
    }

    #[test]
    fn the_scheme_matches_a_known_vector() {
        // HMAC-SHA256("key", "1.{}") computed independently (Python's hmac).
        let header = sign(&["key"], 1, b"{}");
        assert_eq!(
            header,
            "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }

    #[test]
    fn secrets_and_ids_are_random_and_shaped() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64);
        assert!(new_endpoint_id().unwrap().len() == 3 + 24);
    }
}
