//! Processors' own currency units. ISO 4217 says how many decimals a
//! currency has; processors do not always agree, and some take only whole
//! multiples of their minor unit. Amounts sent to or read from a processor
//! go through its table here, never through ISO's scale directly.
//!
//! Stripe (documentation "Supported currencies", zero-decimal, three-decimal
//! and special cases):
//! - zero-decimal: BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF
//!   XOF XPF (amount in whole units);
//! - three-decimal: BHD JOD KWD OMR TND (the last digit must be 0);
//! - ISK is zero-decimal in ISO but two-decimal in Stripe's API, in whole
//!   krónur (a multiple of 100);
//! - HUF and TWD are two-decimal, but payouts and transfers take whole units
//!   (a multiple of 100);
//! - every other currency Stripe takes has two decimals, as in ISO. A
//!   currency with another ISO scale has no entry and cannot be paid.
//!
//! PayPal Payouts: amounts are decimal strings at the ISO scale, except HUF
//! and TWD, which "do not support decimals" (whole units), and only the
//! currencies PayPal lists.

use iso_currency::Currency;
use rust_decimal::Decimal;

use crate::events::Processor;
use crate::money::{Money, MoneyError, minor_unit_scale};

/// How a processor counts one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessorUnit {
    pub currency: Currency,
    /// Decimals of the processor's minor unit (Stripe: ISK 2, JPY 0).
    pub exponent: u32,
    /// Amounts must be a multiple of this many of its minor units.
    pub step: i64,
}

/// An amount a processor cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("{processor} has no unit for {currency}: it cannot pay it")]
    NoUnit {
        processor: &'static str,
        currency: &'static str,
    },
    #[error("{amount} {currency} is not a multiple of {processor}'s smallest payable unit")]
    NotPayable {
        processor: &'static str,
        amount: String,
        currency: &'static str,
    },
    #[error("{minor} minor units of {currency} at {processor} is not an amount in {currency}")]
    NotAnAmount {
        processor: &'static str,
        minor: i64,
        currency: &'static str,
    },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

const STRIPE_ZERO_DECIMAL: [Currency; 16] = [
    Currency::BIF,
    Currency::CLP,
    Currency::DJF,
    Currency::GNF,
    Currency::JPY,
    Currency::KMF,
    Currency::KRW,
    Currency::MGA,
    Currency::PYG,
    Currency::RWF,
    Currency::UGX,
    Currency::VND,
    Currency::VUV,
    Currency::XAF,
    Currency::XOF,
    Currency::XPF,
];

const STRIPE_THREE_DECIMAL: [Currency; 5] = [
    Currency::BHD,
    Currency::JOD,
    Currency::KWD,
    Currency::OMR,
    Currency::TND,
];

/// PayPal Payouts' currencies.
const PAYPAL_CURRENCIES: [Currency; 23] = [
    Currency::AUD,
    Currency::BRL,
    Currency::CAD,
    Currency::CNY,
    Currency::CZK,
    Currency::DKK,
    Currency::EUR,
    Currency::HKD,
    Currency::HUF,
    Currency::ILS,
    Currency::JPY,
    Currency::MYR,
    Currency::MXN,
    Currency::TWD,
    Currency::NZD,
    Currency::NOK,
    Currency::PHP,
    Currency::PLN,
    Currency::GBP,
    Currency::SGD,
    Currency::SEK,
    Currency::CHF,
    Currency::USD,
];

fn unit(currency: Currency, exponent: u32, step: i64) -> Option<ProcessorUnit> {
    Some(ProcessorUnit {
        currency,
        exponent,
        step,
    })
}

impl Processor {
    /// This processor's unit for `currency`, or `None` if it cannot pay it.
    pub fn unit(self, currency: Currency) -> Option<ProcessorUnit> {
        let iso = minor_unit_scale(currency).ok()?;
        match self {
            Processor::Stripe => {
                if STRIPE_ZERO_DECIMAL.contains(&currency) {
                    unit(currency, 0, 1)
                } else if STRIPE_THREE_DECIMAL.contains(&currency) {
                    unit(currency, 3, 10)
                } else if matches!(currency, Currency::ISK | Currency::HUF | Currency::TWD) {
                    unit(currency, 2, 100)
                } else if iso == 2 {
                    unit(currency, 2, 1)
                } else {
                    None
                }
            }
            Processor::Paypal => {
                if !PAYPAL_CURRENCIES.contains(&currency) {
                    None
                } else if matches!(currency, Currency::HUF | Currency::TWD) {
                    unit(currency, 2, 100)
                } else {
                    unit(currency, iso, 1)
                }
            }
            Processor::Sepa => (currency == Currency::EUR).then_some(ProcessorUnit {
                currency,
                exponent: 2,
                step: 1,
            }),
            Processor::Sandbox => unit(currency, iso, 1),
        }
    }

    /// Whether this processor pays in `currency` at all.
    pub fn pays_in(self, currency: Currency) -> bool {
        self.unit(currency).is_some()
    }

    /// The largest amount not above `money` that this processor can pay
    /// (a payout rounds down to it; the rest stays available).
    pub fn payable(self, money: &Money) -> Result<Money, UnitError> {
        let unit = self.unit(money.currency()).ok_or(UnitError::NoUnit {
            processor: self.as_str(),
            currency: money.currency().code(),
        })?;
        let scaled = money.amount() * Decimal::from(10i64.pow(unit.exponent));
        let step = Decimal::from(unit.step);
        let whole_steps = (scaled / step).floor();
        let rounded = whole_steps * step / Decimal::from(10i64.pow(unit.exponent));
        Ok(Money::new(rounded, money.currency())?)
    }

    /// `money` in this processor's minor units, exactly; refused if it is
    /// not a multiple of the processor's payable unit.
    pub fn to_minor(self, money: &Money) -> Result<i64, UnitError> {
        let unit = self.unit(money.currency()).ok_or(UnitError::NoUnit {
            processor: self.as_str(),
            currency: money.currency().code(),
        })?;
        let scaled = money.amount() * Decimal::from(10i64.pow(unit.exponent));
        let not_payable = || UnitError::NotPayable {
            processor: self.as_str(),
            amount: money.amount().to_string(),
            currency: money.currency().code(),
        };
        if !scaled.fract().is_zero() {
            return Err(not_payable());
        }
        let minor = i64::try_from(scaled.trunc()).map_err(|_| not_payable())?;
        if minor % unit.step != 0 {
            return Err(not_payable());
        }
        Ok(minor)
    }

    /// An amount this processor states in its minor units, as money.
    pub fn from_minor(self, minor: i64, currency: Currency) -> Result<Money, UnitError> {
        let unit = self.unit(currency).ok_or(UnitError::NoUnit {
            processor: self.as_str(),
            currency: currency.code(),
        })?;
        let amount = Decimal::new(minor, unit.exponent);
        Money::new(amount, currency).map_err(|_| UnitError::NotAnAmount {
            processor: self.as_str(),
            minor,
            currency: currency.code(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str, currency: Currency) -> Money {
        Money::parse(text, currency).unwrap()
    }

    #[test]
    fn stripe_units_follow_stripe_not_iso() {
        let s = Processor::Stripe;
        // ISK: zero decimals in ISO, two at Stripe.
        assert_eq!(s.to_minor(&m("1500", Currency::ISK)), Ok(150_000));
        assert_eq!(
            s.from_minor(150_000, Currency::ISK),
            Ok(m("1500", Currency::ISK))
        );
        assert!(matches!(
            s.from_minor(150_050, Currency::ISK),
            Err(UnitError::NotAnAmount { .. })
        ));
        // JPY and EUR as in ISO.
        assert_eq!(s.to_minor(&m("1200", Currency::JPY)), Ok(1200));
        assert_eq!(s.to_minor(&m("12.50", Currency::EUR)), Ok(1250));
        // HUF and TWD: whole units only.
        assert_eq!(s.to_minor(&m("1234", Currency::HUF)), Ok(123_400));
        assert!(matches!(
            s.to_minor(&m("1234.56", Currency::HUF)),
            Err(UnitError::NotPayable { .. })
        ));
        assert_eq!(
            s.payable(&m("1234.56", Currency::TWD)),
            Ok(m("1234", Currency::TWD))
        );
        // Three decimals, last digit zero.
        assert_eq!(s.to_minor(&m("1.250", Currency::KWD)), Ok(1250));
        assert!(s.to_minor(&m("1.255", Currency::KWD)).is_err());
        assert_eq!(
            s.payable(&m("1.255", Currency::KWD)),
            Ok(m("1.25", Currency::KWD))
        );
        // A currency with no entry (ISO scale 3, not in Stripe's list).
        assert!(!s.pays_in(Currency::IQD));
        assert!(matches!(
            s.to_minor(&m("1.000", Currency::IQD)),
            Err(UnitError::NoUnit { .. })
        ));
    }

    #[test]
    fn paypal_takes_whole_forints() {
        let p = Processor::Paypal;
        assert_eq!(
            p.payable(&m("99.99", Currency::HUF)),
            Ok(m("99", Currency::HUF))
        );
        assert_eq!(
            p.payable(&m("99.99", Currency::EUR)),
            Ok(m("99.99", Currency::EUR))
        );
        assert!(!p.pays_in(Currency::KWD));
        assert!(Processor::Sepa.pays_in(Currency::EUR));
        assert!(!Processor::Sepa.pays_in(Currency::USD));
    }
}
