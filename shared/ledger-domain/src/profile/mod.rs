//! Affiliate payout profiles: how an affiliate is paid (processor and payee
//! details), the smallest amount worth paying per currency, and payout
//! holds (KYC not done, fraud review). Every change is an event with its
//! actor, so who changed a bank account and when is always on record.
//!
//! Each `payout_profile.changed` event carries the change AND the profile as
//! it stands after it, so read models store the latest snapshot without
//! folding, and an auditor reads any past state from one event.

mod aggregate;

use std::collections::BTreeSet;

use iso_currency::Currency;
use serde::{Deserialize, Serialize};

use crate::ids::AffiliateId;
use crate::money::Money;
use crate::processor::Processor;

pub use aggregate::{ProfileAggregate, ProfileError};

/// What the sandbox processor does with an item (local stack and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SandboxBehaviour {
    /// Accepts and pays at once.
    Settle,
    /// Refuses the payment (the money comes back to available).
    Fail,
    /// Times out on the first attempt, then reports it paid when asked: an
    /// unknown outcome that must never be paid twice.
    TimeoutThenSettle,
    /// Pays, then a notification says the payee's bank returned it: the
    /// money must come back to available, once.
    ReturnAfterPaid,
}

/// How an affiliate is paid. Payee details are validated when set, so a
/// batch never carries an IBAN that cannot be paid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "processor", rename_all = "snake_case")]
pub enum PayoutMethod {
    /// A Stripe Connect transfer to a connected account (`acct_...`).
    Stripe { account_id: String },
    /// A PayPal payout to an email address or a PayPal account id.
    Paypal { receiver: String },
    /// A SEPA credit transfer (EUR) to an IBAN.
    Sepa {
        iban: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bic: Option<String>,
        account_holder: String,
    },
    /// The local stack's sandbox processor.
    Sandbox { behaviour: SandboxBehaviour },
}

/// A payee detail that cannot be paid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayeeError {
    #[error(
        "method.account_id must be a Stripe connected account id (acct_ followed by letters and digits), got {0:?}"
    )]
    StripeAccount(String),
    #[error(
        "method.receiver must be an email address or a PayPal account id (13 letters and digits)"
    )]
    PaypalReceiver,
    #[error("method.iban is not a valid IBAN: {0}")]
    Iban(String),
    #[error(
        "method.bic must be 8 or 11 characters: 4 letters (bank), 2 letters (country), 2 letters or digits (location), optionally 3 letters or digits (branch)"
    )]
    Bic,
    #[error("method.bic country {bic} does not match the IBAN's country {iban}")]
    BicCountry { bic: String, iban: String },
    /// The account holder's name, kept as given, must convert to the SEPA
    /// character set (see [`crate::sepa_text`]); the message is the rule.
    #[error("method.account_holder {0}")]
    AccountHolder(crate::sepa_text::SepaTextError),
}

/// A SEPA IBAN: checksum, country length and format, via `iban_validate`.
pub fn check_iban(iban: &str) -> Result<String, PayeeError> {
    use iban::IbanLike;
    let parsed: iban::Iban = iban
        .parse()
        .map_err(|e: iban::ParseIbanError| PayeeError::Iban(e.to_string()))?;
    Ok(parsed.electronic_str().to_owned())
}

/// A BIC (ISO 9362): `AAAABBCC` or `AAAABBCCDDD`.
pub fn check_bic(bic: &str) -> Result<(), PayeeError> {
    let b = bic.as_bytes();
    let ok = (b.len() == 8 || b.len() == 11)
        && b[..6].iter().all(u8::is_ascii_uppercase)
        && b[6..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok { Ok(()) } else { Err(PayeeError::Bic) }
}

/// The SEPA (EPC) basic Latin character set for names and references.
pub fn is_sepa_text(text: &str) -> bool {
    text.chars().all(crate::sepa_text::is_sepa_char)
}

impl PayoutMethod {
    /// SHA-256 (hex) of the whole method as stored: two methods have the
    /// same fingerprint only if every payee detail is the same.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let canonical = serde_json::to_string(self).unwrap_or_else(|_| format!("{self:?}"));
        let mut hash = sha2::Sha256::new();
        hash.update(b"payout-method/v1\n");
        hash.update(canonical.as_bytes());
        hex::encode(hash.finalize())
    }

    /// The account this method pays (connected account, receiver, IBAN),
    /// normalized the way processors name it in their notices.
    pub fn account(&self) -> String {
        match self {
            PayoutMethod::Stripe { account_id } => account_id.clone(),
            PayoutMethod::Paypal { receiver } => receiver.clone(),
            PayoutMethod::Sepa { iban, .. } => iban.clone(),
            PayoutMethod::Sandbox { .. } => "sandbox".to_owned(),
        }
    }

    /// The destination an item drafted for this method is bound to.
    pub fn destination(&self) -> crate::processor::Destination {
        crate::processor::Destination {
            masked: self.redacted(),
            fingerprint: self.fingerprint(),
            account_fingerprint: account_fingerprint(self.processor(), &self.account()),
        }
    }

    pub fn processor(&self) -> Processor {
        match self {
            PayoutMethod::Stripe { .. } => Processor::Stripe,
            PayoutMethod::Paypal { .. } => Processor::Paypal,
            PayoutMethod::Sepa { .. } => Processor::Sepa,
            PayoutMethod::Sandbox { .. } => Processor::Sandbox,
        }
    }

    /// Validates payee details and returns them normalized (IBAN without
    /// spaces, BIC upper case).
    pub fn validated(self) -> Result<Self, PayeeError> {
        match self {
            PayoutMethod::Stripe { account_id } => {
                let ok = account_id.len() > 5
                    && account_id.len() <= 64
                    && account_id.starts_with("acct_")
                    && account_id[5..].chars().all(|c| c.is_ascii_alphanumeric());
                if ok {
                    Ok(PayoutMethod::Stripe { account_id })
                } else {
                    Err(PayeeError::StripeAccount(account_id))
                }
            }
            PayoutMethod::Paypal { receiver } => {
                let receiver = receiver.trim().to_owned();
                let email = receiver.len() <= 127
                    && receiver.split_once('@').is_some_and(|(local, domain)| {
                        !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
                    })
                    && !receiver.contains(char::is_whitespace);
                let payer_id =
                    receiver.len() == 13 && receiver.chars().all(|c| c.is_ascii_alphanumeric());
                if email || payer_id {
                    Ok(PayoutMethod::Paypal { receiver })
                } else {
                    Err(PayeeError::PaypalReceiver)
                }
            }
            PayoutMethod::Sepa {
                iban,
                bic,
                account_holder,
            } => {
                let iban = check_iban(&iban)?;
                let bic = match bic {
                    None => None,
                    Some(bic) => {
                        let bic = bic.trim().to_ascii_uppercase();
                        check_bic(&bic)?;
                        if bic[4..6] != iban[..2] {
                            return Err(PayeeError::BicCountry {
                                bic: bic[4..6].to_owned(),
                                iban: iban[..2].to_owned(),
                            });
                        }
                        Some(bic)
                    }
                };
                // Kept as given (trimmed); the payment file carries its
                // EPC conversion, so only a name that cannot be converted
                // is refused.
                let holder = account_holder.trim().to_owned();
                crate::sepa_text::sepa_name(&holder).map_err(PayeeError::AccountHolder)?;
                Ok(PayoutMethod::Sepa {
                    iban,
                    bic,
                    account_holder: holder,
                })
            }
            sandbox @ PayoutMethod::Sandbox { .. } => Ok(sandbox),
        }
    }

    /// A form safe to log or show to finance: IBANs masked but for the
    /// country and the last four characters.
    pub fn redacted(&self) -> String {
        match self {
            PayoutMethod::Stripe { account_id } => format!("stripe {account_id}"),
            PayoutMethod::Paypal { receiver } => {
                let shown: String = receiver.chars().take(2).collect();
                format!("paypal {shown}***")
            }
            PayoutMethod::Sepa { iban, .. } => {
                let tail = &iban[iban.len().saturating_sub(4)..];
                format!("sepa {}** **** {tail}", &iban[..2.min(iban.len())])
            }
            PayoutMethod::Sandbox { behaviour } => format!(
                "sandbox {}",
                match behaviour {
                    SandboxBehaviour::Settle => "settle",
                    SandboxBehaviour::Fail => "fail",
                    SandboxBehaviour::TimeoutThenSettle => "timeout_then_settle",
                    SandboxBehaviour::ReturnAfterPaid => "return_after_paid",
                }
            ),
        }
    }
}

/// SHA-256 (hex) of a processor and an account as a notice names it: the
/// IBAN without spaces in capitals, an email in lower case, ids as given.
pub fn account_fingerprint(processor: Processor, account: &str) -> String {
    use sha2::Digest;
    let account = account.trim();
    let normalized = match processor {
        Processor::Sepa => account
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase(),
        Processor::Paypal if account.contains('@') => account.to_lowercase(),
        _ => account.to_owned(),
    };
    let mut hash = sha2::Sha256::new();
    hash.update(b"payout-account/v1\n");
    hash.update(processor.as_str().as_bytes());
    hash.update(b"\n");
    hash.update(normalized.as_bytes());
    hex::encode(hash.finalize())
}

/// Why payouts to an affiliate are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    KycPending,
    FraudReview,
    Compliance,
    Manual,
    /// Placed by every change of an existing payout method: the new
    /// destination is paid only after someone other than the person who
    /// changed it lifts this hold (four eyes on where money goes).
    MethodChanged,
}

/// The payout profile of one affiliate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<PayoutMethod>,
    /// The smallest payout per currency, one entry per currency.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub minimums: Vec<Money>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub holds: BTreeSet<HoldReason>,
    /// The actor who set the current method: the one person who may not
    /// lift the `method_changed` hold it placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_set_by: Option<String>,
}

impl PayoutProfile {
    pub fn minimum(&self, currency: Currency) -> Option<Money> {
        self.minimums
            .iter()
            .find(|m| m.currency() == currency)
            .copied()
    }
}

/// One change to a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProfileChange {
    MethodSet { method: PayoutMethod },
    MinimumSet { minimum: Money },
    HoldPlaced { reason: HoldReason, note: String },
    HoldLifted { reason: HoldReason, note: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutProfileChanged {
    pub affiliate_id: AffiliateId,
    pub change: ProfileChange,
    /// The profile after this change.
    pub profile: PayoutProfile,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payee_details_are_validated() {
        let sepa = |iban: &str, bic: Option<&str>| {
            PayoutMethod::Sepa {
                iban: iban.to_owned(),
                bic: bic.map(str::to_owned),
                account_holder: "Jane Doe".to_owned(),
            }
            .validated()
        };
        assert_eq!(
            sepa("DE89 3704 0044 0532 0130 00", Some("cobadeffxxx")).unwrap(),
            PayoutMethod::Sepa {
                iban: "DE89370400440532013000".to_owned(),
                bic: Some("COBADEFFXXX".to_owned()),
                account_holder: "Jane Doe".to_owned()
            }
        );
        assert!(matches!(
            sepa("DE89 3704 0044 0532 0130 01", None),
            Err(PayeeError::Iban(_))
        ));
        assert_eq!(
            sepa("DE89370400440532013000", Some("COBA")),
            Err(PayeeError::Bic)
        );
        assert!(matches!(
            sepa("DE89370400440532013000", Some("BNPAFRPP")),
            Err(PayeeError::BicCountry { .. })
        ));
        assert!(
            PayoutMethod::Stripe {
                account_id: "acct_1Nv0FGQ9RKHgCVdK".into()
            }
            .validated()
            .is_ok()
        );
        assert!(
            PayoutMethod::Stripe {
                account_id: "cus_123".into()
            }
            .validated()
            .is_err()
        );
        assert!(
            PayoutMethod::Paypal {
                receiver: "a@b.example".into()
            }
            .validated()
            .is_ok()
        );
        assert!(
            PayoutMethod::Paypal {
                receiver: "not an email".into()
            }
            .validated()
            .is_err()
        );
    }

    #[test]
    fn processors_pay_in_their_currencies() {
        assert!(Processor::Sepa.pays_in(Currency::EUR));
        assert!(!Processor::Sepa.pays_in(Currency::USD));
        assert!(Processor::Paypal.pays_in(Currency::JPY));
        assert!(!Processor::Paypal.pays_in(Currency::KWD));
        // Stripe takes three-decimal currencies in tens of the minor unit.
        assert!(Processor::Stripe.pays_in(Currency::KWD));
        assert!(!Processor::Stripe.pays_in(Currency::IQD));
        assert!(Processor::Stripe.pays_in(Currency::USD));
    }

    #[test]
    fn redaction_hides_the_account_number() {
        let m = PayoutMethod::Sepa {
            iban: "DE89370400440532013000".into(),
            bic: None,
            account_holder: "J".into(),
        };
        assert_eq!(m.redacted(), "sepa DE** **** 3000");
    }

    #[test]
    fn sepa_account_holders_are_kept_as_given_and_refused_only_if_unconvertible() {
        let holder = |name: &str| {
            PayoutMethod::Sepa {
                iban: "DE89370400440532013000".into(),
                bic: None,
                account_holder: name.into(),
            }
            .validated()
        };
        let PayoutMethod::Sepa { account_holder, .. } = holder("  Ute Müller & Söhne ").unwrap()
        else {
            unreachable!("a SEPA method stays one")
        };
        assert_eq!(account_holder, "Ute Müller & Söhne");
        for refused in ["山田太郎", "Jane\u{7}Doe", "", &"ä".repeat(36)] {
            let error = holder(refused).unwrap_err();
            assert!(
                matches!(error, PayeeError::AccountHolder(_)),
                "{refused:?}: {error:?}"
            );
            let text = error.to_string();
            assert!(text.starts_with("method.account_holder "), "{text}");
        }
        assert!(
            holder("山田太郎")
                .unwrap_err()
                .to_string()
                .contains("no conversion to the SEPA Latin character set")
        );
    }
}
