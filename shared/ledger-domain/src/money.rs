//! Money: an exact decimal amount in one ISO 4217 currency.
//!
//! Amounts are `rust_decimal::Decimal`, never floats. A `Money` value always
//! carries exactly the currency's minor-unit scale (EUR 2, JPY 0, KWD 3), so
//! two equal amounts compare and hash equal, and conversion to minor units is
//! exact. Arithmetic that mixes currencies is a typed error, never a panic.

use std::fmt;

use iso_currency::Currency;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// The largest magnitude, in minor units, of any amount or balance.
///
/// 10^17 minor units is 10^15 EUR: far beyond any affiliate balance, and small
/// enough that the sum of two bounded amounts never overflows an `i64`.
pub const AMOUNT_MINOR_ABS_MAX: i64 = 100_000_000_000_000_000;

/// Why a money value could not be built or combined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency code {code:?}: expected an ISO 4217 code such as EUR")]
    UnknownCurrency { code: String },
    #[error(
        "currency {currency} has no minor unit (it is a fund, metal or testing code) and cannot hold money"
    )]
    CurrencyWithoutMinorUnit { currency: &'static str },
    #[error("amount {amount} has {scale} decimal places but {currency} allows at most {allowed}")]
    TooManyDecimals {
        amount: String,
        currency: &'static str,
        scale: u32,
        allowed: u32,
    },
    #[error("amount {amount:?} is not a decimal number")]
    NotADecimal { amount: String },
    #[error(
        "amount {amount} {currency} is outside the allowed range of +/- {max_minor} minor units"
    )]
    OutOfRange {
        amount: String,
        currency: &'static str,
        max_minor: i64,
    },
    #[error("cannot combine {left} with {right}: currencies differ")]
    CurrencyMismatch {
        left: &'static str,
        right: &'static str,
    },
    #[error("rate {rate} is outside the allowed range 0..=1000")]
    RateOutOfRange { rate: String },
}

/// The rounding applied when a rate or percentage produces more decimals than
/// the currency allows. Named so that every call site says which rule it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Banker's rounding: ties go to the even neighbour. Unbiased over many
    /// commissions, which is why it is the default for commission rates.
    HalfEven,
    /// Ties away from zero, as most invoices round.
    HalfAwayFromZero,
    /// Towards zero: never pays out a fraction of a minor unit more.
    TowardZero,
}

impl Rounding {
    fn strategy(self) -> RoundingStrategy {
        match self {
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::HalfAwayFromZero => RoundingStrategy::MidpointAwayFromZero,
            Rounding::TowardZero => RoundingStrategy::ToZero,
        }
    }
}

/// Parses an ISO 4217 code, refusing codes that have no minor unit.
pub fn currency_from_code(code: &str) -> Result<Currency, MoneyError> {
    let currency = Currency::from_code(code).ok_or_else(|| MoneyError::UnknownCurrency {
        code: code.to_owned(),
    })?;
    minor_unit_scale(currency)?;
    Ok(currency)
}

/// The number of decimals the currency's minor unit has (EUR 2, JPY 0, KWD 3).
pub fn minor_unit_scale(currency: Currency) -> Result<u32, MoneyError> {
    match currency.exponent() {
        Some(exponent) => Ok(u32::from(exponent)),
        None => Err(MoneyError::CurrencyWithoutMinorUnit {
            currency: currency.code(),
        }),
    }
}

fn max_abs(scale: u32) -> Decimal {
    Decimal::new(AMOUNT_MINOR_ABS_MAX, scale)
}

/// An exact amount of one currency, at the currency's minor-unit scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "MoneyWire")]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

/// The JSON shape of money: `{"amount": "12.50", "currency": "EUR"}`. The
/// amount is a string so no JSON parser ever turns it into a float.
#[derive(Serialize, Deserialize)]
struct MoneyWire {
    amount: String,
    currency: String,
}

impl TryFrom<MoneyWire> for Money {
    type Error = MoneyError;
    fn try_from(wire: MoneyWire) -> Result<Self, Self::Error> {
        let currency = currency_from_code(&wire.currency)?;
        Money::parse(&wire.amount, currency)
    }
}

/// Writes the same shape as `MoneyWire` without allocating: events carry
/// thousands of amounts, and this is on the write path.
impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Amount<'a>(&'a Decimal);
        impl Serialize for Amount<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self.0)
            }
        }
        let mut state = serializer.serialize_struct("Money", 2)?;
        state.serialize_field("amount", &Amount(&self.amount))?;
        state.serialize_field("currency", self.currency.code())?;
        state.end()
    }
}

impl Money {
    /// Builds money from an exact decimal. Refuses more decimals than the
    /// currency's minor unit (no silent rounding) and amounts out of range.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let allowed = minor_unit_scale(currency)?;
        let normalized = amount.normalize();
        if normalized.scale() > allowed {
            return Err(MoneyError::TooManyDecimals {
                amount: amount.to_string(),
                currency: currency.code(),
                scale: normalized.scale(),
                allowed,
            });
        }
        if normalized.abs() > max_abs(allowed) {
            return Err(MoneyError::OutOfRange {
                amount: amount.to_string(),
                currency: currency.code(),
                max_minor: AMOUNT_MINOR_ABS_MAX,
            });
        }
        let mut amount = normalized;
        amount.rescale(allowed);
        Ok(Money { amount, currency })
    }

    /// Parses a decimal string such as `"12.5"` or `"-0.01"`. Exponents,
    /// `NaN`, infinities and anything that is not a plain decimal are refused.
    pub fn parse(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let trimmed = text.trim();
        let plain = !trimmed.is_empty()
            && trimmed
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+')));
        let amount = if plain {
            trimmed.parse::<Decimal>().ok()
        } else {
            None
        };
        match amount {
            Some(amount) => Money::new(amount, currency),
            None => Err(MoneyError::NotADecimal {
                amount: text.to_owned(),
            }),
        }
    }

    /// Builds money from an integer count of minor units (cents, yen, fils).
    pub fn from_minor(amount_minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        let scale = minor_unit_scale(currency)?;
        if amount_minor.unsigned_abs() > AMOUNT_MINOR_ABS_MAX.unsigned_abs() {
            return Err(MoneyError::OutOfRange {
                amount: format!("{amount_minor} minor units"),
                currency: currency.code(),
                max_minor: AMOUNT_MINOR_ABS_MAX,
            });
        }
        Ok(Money {
            amount: Decimal::new(amount_minor, scale),
            currency,
        })
    }

    /// Zero in the given currency.
    pub fn zero(currency: Currency) -> Result<Self, MoneyError> {
        Money::from_minor(0, currency)
    }

    /// Zero in this value's currency (infallible: the currency is known good).
    pub fn zero_like(&self) -> Money {
        Money {
            amount: Decimal::new(0, self.amount.scale()),
            currency: self.currency,
        }
    }

    /// The amount as an integer count of minor units. Exact: a `Money` never
    /// holds more decimals than its currency's minor unit, and is bounded.
    pub fn amount_minor(&self) -> i64 {
        // `mantissa` at the currency scale is the minor-unit count; the range
        // check in every constructor keeps it within i64.
        self.amount.mantissa() as i64
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    pub fn is_positive(&self) -> bool {
        self.amount.is_sign_positive() && !self.amount.is_zero()
    }

    pub fn is_negative(&self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    /// The same amount with the opposite sign.
    pub fn negated(&self) -> Money {
        Money {
            amount: -self.amount,
            currency: self.currency,
        }
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency.code(),
                right: other.currency.code(),
            })
        }
    }

    fn bounded(amount: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        let scale = amount.scale();
        if amount.abs() > max_abs(scale) {
            return Err(MoneyError::OutOfRange {
                amount: amount.to_string(),
                currency: currency.code(),
                max_minor: AMOUNT_MINOR_ABS_MAX,
            });
        }
        Ok(Money { amount, currency })
    }

    /// `self + other`, refusing to mix currencies or leave the allowed range.
    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        // Both operands are bounded far below Decimal's range: cannot overflow.
        Money::bounded(self.amount + other.amount, self.currency)
    }

    /// `self - other`, refusing to mix currencies or leave the allowed range.
    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.checked_add(&other.negated())
    }

    /// The smaller of two amounts of the same currency.
    pub fn min(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(if self.amount <= other.amount {
            *self
        } else {
            *other
        })
    }

    /// Applies a rate (0.1 for 10 %) and rounds to the currency's minor unit
    /// with the named rule. The rate must lie in `0..=1000`.
    pub fn apply_rate(&self, rate: Decimal, rounding: Rounding) -> Result<Money, MoneyError> {
        if rate.is_sign_negative() || rate > Decimal::from(1000) {
            return Err(MoneyError::RateOutOfRange {
                rate: rate.to_string(),
            });
        }
        let scale = self.amount.scale();
        let product = self
            .amount
            .checked_mul(rate)
            .ok_or_else(|| MoneyError::OutOfRange {
                amount: format!("{} * {}", self.amount, rate),
                currency: self.currency.code(),
                max_minor: AMOUNT_MINOR_ABS_MAX,
            })?;
        let mut rounded = product.round_dp_with_strategy(scale, rounding.strategy());
        rounded.rescale(scale);
        Money::bounded(rounded, self.currency)
    }

    /// A percentage (12.5 for 12.5 %) of this amount, rounded with the named rule.
    pub fn percentage(&self, percent: Decimal, rounding: Rounding) -> Result<Money, MoneyError> {
        self.apply_rate(percent / Decimal::from(100), rounding)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency.code())
    }
}

/// Money on the wire: `{"amount": "12.50", "currency": "EUR"}`, the amount
/// a decimal string at the currency's minor unit.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .property(
                "amount",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^-?[0-9]+(\.[0-9]+)?$"))
                    .description(Some(
                        "a decimal string with at most the currency's minor-unit decimals",
                    )),
            )
            .required("amount")
            .property(
                "currency",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[A-Z]{3}$"))
                    .description(Some("ISO 4217 code")),
            )
            .required("currency")
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Money {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn scale_follows_the_currency_minor_unit() {
        assert_eq!(
            Money::new(dec("10.5"), Currency::EUR)
                .unwrap()
                .amount_minor(),
            1050
        );
        assert_eq!(
            Money::new(dec("1000"), Currency::JPY)
                .unwrap()
                .amount_minor(),
            1000
        );
        assert_eq!(
            Money::new(dec("1.234"), Currency::KWD)
                .unwrap()
                .amount_minor(),
            1234
        );
        // Trailing zeros beyond the minor unit are not extra precision.
        assert_eq!(
            Money::new(dec("1.2300"), Currency::EUR)
                .unwrap()
                .amount_minor(),
            123
        );
    }

    #[test]
    fn too_many_decimals_is_refused_with_the_currency_named() {
        let err = Money::new(dec("1.5"), Currency::JPY).unwrap_err();
        assert_eq!(
            err,
            MoneyError::TooManyDecimals {
                amount: "1.5".into(),
                currency: "JPY",
                scale: 1,
                allowed: 0
            }
        );
        assert!(Money::new(dec("1.001"), Currency::EUR).is_err());
        assert!(Money::new(dec("1.0001"), Currency::KWD).is_err());
    }

    #[test]
    fn nan_like_and_exotic_strings_are_not_decimals() {
        for text in [
            "NaN",
            "inf",
            "-Infinity",
            "1e5",
            "",
            " ",
            "1,00",
            "0x10",
            "--1",
        ] {
            assert!(
                matches!(
                    Money::parse(text, Currency::EUR),
                    Err(MoneyError::NotADecimal { .. })
                ),
                "{text:?} must be refused"
            );
        }
        assert_eq!(
            Money::parse("-0.01", Currency::EUR).unwrap().amount_minor(),
            -1
        );
    }

    #[test]
    fn out_of_range_is_refused() {
        assert!(matches!(
            Money::from_minor(AMOUNT_MINOR_ABS_MAX + 1, Currency::EUR),
            Err(MoneyError::OutOfRange { .. })
        ));
        assert!(matches!(
            Money::parse("79228162514264337593543950335", Currency::EUR),
            Err(MoneyError::NotADecimal { .. } | MoneyError::OutOfRange { .. })
        ));
        let max = Money::from_minor(AMOUNT_MINOR_ABS_MAX, Currency::EUR).unwrap();
        assert!(matches!(
            max.checked_add(&max),
            Err(MoneyError::OutOfRange { .. })
        ));
    }

    #[test]
    fn currencies_without_minor_unit_are_refused() {
        assert!(matches!(
            currency_from_code("XAU"),
            Err(MoneyError::CurrencyWithoutMinorUnit { .. })
        ));
        assert!(matches!(
            currency_from_code("EURO"),
            Err(MoneyError::UnknownCurrency { .. })
        ));
    }

    #[test]
    fn arithmetic_refuses_to_mix_currencies() {
        let eur = Money::from_minor(100, Currency::EUR).unwrap();
        let usd = Money::from_minor(100, Currency::USD).unwrap();
        assert_eq!(
            eur.checked_add(&usd),
            Err(MoneyError::CurrencyMismatch {
                left: "EUR",
                right: "USD"
            })
        );
        assert!(eur.checked_sub(&usd).is_err());
        assert_eq!(eur.checked_sub(&eur).unwrap().amount_minor(), 0);
    }

    #[test]
    fn rates_round_half_even_explicitly() {
        let amount = Money::parse("0.25", Currency::EUR).unwrap();
        // 0.25 * 0.5 = 0.125 -> ties to even 0.12
        assert_eq!(
            amount
                .apply_rate(dec("0.5"), Rounding::HalfEven)
                .unwrap()
                .amount(),
            dec("0.12")
        );
        assert_eq!(
            amount
                .apply_rate(dec("0.5"), Rounding::HalfAwayFromZero)
                .unwrap()
                .amount(),
            dec("0.13")
        );
        let amount = Money::parse("0.35", Currency::EUR).unwrap();
        // 0.175 -> 0.18 (8 is even)
        assert_eq!(
            amount
                .apply_rate(dec("0.5"), Rounding::HalfEven)
                .unwrap()
                .amount(),
            dec("0.18")
        );
        let yen = Money::parse("999", Currency::JPY).unwrap();
        assert_eq!(
            yen.percentage(dec("12.5"), Rounding::HalfEven)
                .unwrap()
                .amount_minor(),
            125 // 124.875 -> 125
        );
        assert!(yen.apply_rate(dec("-0.1"), Rounding::HalfEven).is_err());
    }

    #[test]
    fn json_round_trip_keeps_amount_as_string_and_validates() {
        let money = Money::parse("12.5", Currency::EUR).unwrap();
        let json = serde_json::to_string(&money).unwrap();
        assert_eq!(json, r#"{"amount":"12.50","currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), money);
        let bad = serde_json::from_str::<Money>(r#"{"amount":"1.001","currency":"EUR"}"#);
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("EUR allows at most 2")
        );
        let bad = serde_json::from_str::<Money>(r#"{"amount":"1","currency":"ZZZ"}"#);
        assert!(bad.unwrap_err().to_string().contains("unknown currency"));
    }
}
