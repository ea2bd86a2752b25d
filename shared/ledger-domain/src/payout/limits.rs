//! Approval limits (the four-eyes rules' amounts): per item, per batch
//! and per approver per day, in each currency.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use iso_currency::Currency;
use serde::Deserialize;

use super::DraftedBatch;
use crate::money::{Money, MoneyError, currency_from_code};

/// The day (UTC) an approval counts against its approver's daily limit.
pub fn approval_day(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
}

/// What a batch pays, per currency (in currency code order).
pub fn batch_totals(batch: &DraftedBatch) -> Result<Vec<Money>, MoneyError> {
    let mut totals: BTreeMap<&'static str, Money> = BTreeMap::new();
    for item in &batch.items {
        let amount = item.drafted.amount;
        let total = totals
            .entry(amount.currency().code())
            .or_insert_with(|| amount.zero_like());
        *total = total.checked_add(&amount)?;
    }
    Ok(totals.into_values().collect())
}

/// Approval limits per currency, required: a batch in a currency with no
/// limits configured, or above any limit, needs an admin's approval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalLimits {
    limits: BTreeMap<&'static str, CurrencyLimits>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CurrencyLimits {
    /// The largest single item finance may approve.
    pub item_max: Option<Money>,
    /// The largest batch total (in this currency) finance may approve.
    pub batch_total_max: Option<Money>,
    /// The most one approver may approve in one day (UTC), all batches
    /// together: many small batches cannot get around the batch limit.
    pub approver_daily_max: Option<Money>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsWire {
    item_max: Option<String>,
    batch_total_max: Option<String>,
    approver_daily_max: Option<String>,
}

impl ApprovalLimits {
    /// Parses `{"EUR": {"item_max": "5000.00", "batch_total_max": "100000.00",
    /// "approver_daily_max": "250000.00"}}`. Every currency listed must set
    /// at least one limit; a currency not listed needs an admin.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let wire: BTreeMap<String, LimitsWire> =
            serde_json::from_str(text).map_err(|e| format!("approval limits: {e}"))?;
        let mut limits = BTreeMap::new();
        for (code, l) in wire {
            let currency = currency_from_code(&code).map_err(|e| e.to_string())?;
            let parse = |v: Option<String>, what: &str| {
                v.map(|v| {
                    Money::parse(&v, currency)
                        .map_err(|e| format!("approval limits {code}.{what}: {e}"))
                        .and_then(|m| {
                            if m.is_positive() {
                                Ok(m)
                            } else {
                                Err(format!("approval limits {code}.{what} must be positive"))
                            }
                        })
                })
                .transpose()
            };
            let parsed = CurrencyLimits {
                item_max: parse(l.item_max, "item_max")?,
                batch_total_max: parse(l.batch_total_max, "batch_total_max")?,
                approver_daily_max: parse(l.approver_daily_max, "approver_daily_max")?,
            };
            if parsed == CurrencyLimits::default() {
                return Err(format!(
                    "approval limits {code}: set at least one of item_max, batch_total_max, approver_daily_max"
                ));
            }
            limits.insert(currency.code(), parsed);
        }
        Ok(ApprovalLimits { limits })
    }

    pub fn set(&mut self, currency: Currency, limits: CurrencyLimits) {
        self.limits.insert(currency.code(), limits);
    }

    /// Whether any currency has limits (without any, only admins approve).
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// The first rule a batch breaks, described for the approver, given
    /// what the approver already approved today (per currency).
    pub fn exceeded_by(&self, batch: &DraftedBatch, approved_today: &[Money]) -> Option<String> {
        for item in &batch.items {
            let amount = item.drafted.amount;
            let code = amount.currency().code();
            let Some(limit) = self.limits.get(code) else {
                return Some(format!(
                    "no approval limit is configured for {code}: only an admin may approve"
                ));
            };
            if let Some(max) = limit.item_max {
                if amount.amount() > max.amount() {
                    return Some(format!(
                        "item {} pays {} {code}, above the {} {code} item limit",
                        item.drafted.item_id,
                        amount.amount(),
                        max.amount(),
                    ));
                }
            }
        }
        // Items are bounded in size and count: a total out of range needs
        // an admin.
        let Ok(totals) = batch_totals(batch) else {
            return Some("the batch total is out of range".to_owned());
        };
        for total in totals {
            let code = total.currency().code();
            let limit = self.limits.get(code)?;
            if let Some(max) = limit.batch_total_max {
                if total.amount() > max.amount() {
                    return Some(format!(
                        "the batch pays {} {code} in total, above the {} {code} batch limit",
                        total.amount(),
                        max.amount()
                    ));
                }
            }
            if let Some(max) = limit.approver_daily_max {
                let before = approved_today
                    .iter()
                    .filter(|m| m.currency() == total.currency())
                    .try_fold(total.zero_like(), |sum, m| sum.checked_add(m));
                let after = before.and_then(|b| b.checked_add(&total).map(|a| (b, a)));
                match after {
                    Ok((_, after)) if after.amount() <= max.amount() => {}
                    Ok((before_amount, _)) => {
                        return Some(format!(
                            "this approver already approved {} {code} today; with this batch's {} {code} that is above the {} {code} daily limit per approver",
                            before_amount.amount(),
                            total.amount(),
                            max.amount()
                        ));
                    }
                    Err(_) => return Some("the day's approved total is out of range".to_owned()),
                }
            }
        }
        None
    }
}
