//! The fields of a balance row, typed: the names stores write, and an
//! affiliate's row read into a struct, so no reader spells a field name or
//! decides a sign of its own.

use std::collections::BTreeMap;

use crate::events::Processor;
use crate::ledger::AffiliateAccount;

/// A field of an affiliate's balance row: its four accounts and the
/// report-only total paid out, in the order every view shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AffiliateField {
    Pending,
    Available,
    Reserved,
    Receivable,
    PaidOut,
}

impl AffiliateField {
    /// Every field, in the order views show them.
    pub const ALL: [AffiliateField; 5] = [
        AffiliateField::Pending,
        AffiliateField::Available,
        AffiliateField::Reserved,
        AffiliateField::Receivable,
        AffiliateField::PaidOut,
    ];

    /// Every field's stored name, in [`AffiliateField::ALL`]'s order.
    pub const NAMES: [&'static str; 5] = [
        AffiliateField::Pending.name(),
        AffiliateField::Available.name(),
        AffiliateField::Reserved.name(),
        AffiliateField::Receivable.name(),
        AffiliateField::PaidOut.name(),
    ];

    /// The name stores write it under.
    pub const fn name(self) -> &'static str {
        match self {
            AffiliateField::Pending => "pending",
            AffiliateField::Available => "available",
            AffiliateField::Reserved => "reserved",
            AffiliateField::Receivable => "receivable",
            AffiliateField::PaidOut => "paid_out",
        }
    }

    /// The field stored under `name`, if it is one.
    pub fn from_name(name: &str) -> Option<AffiliateField> {
        AffiliateField::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The field an affiliate account is kept in.
    pub const fn of(account: AffiliateAccount) -> AffiliateField {
        match account {
            AffiliateAccount::Pending => AffiliateField::Pending,
            AffiliateAccount::Available => AffiliateField::Available,
            AffiliateAccount::Reserved => AffiliateField::Reserved,
            AffiliateAccount::Receivable => AffiliateField::Receivable,
        }
    }

    /// Whether the field is owed to the affiliate: a liability, stored
    /// credit-normal (negative), which the affiliate reads as positive.
    /// Receivable (owed by the affiliate) and paid out read as stored.
    pub const fn owed_to_affiliate(self) -> bool {
        matches!(
            self,
            AffiliateField::Pending | AffiliateField::Available | AffiliateField::Reserved
        )
    }

    /// A stored value of this field as the affiliate reads it (positive is
    /// owed to them). The one value whose negation does not fit,
    /// `i64::MIN`, saturates; the projection refuses a balance that
    /// overflows, so a stored row never holds it.
    pub const fn shown(self, stored: i64) -> i64 {
        if self.owed_to_affiliate() {
            stored.saturating_neg()
        } else {
            stored
        }
    }

    /// [`AffiliateField::shown`], with `None` where it would saturate: for
    /// a figure that must be exact (a statement's closing money).
    pub const fn shown_checked(self, stored: i64) -> Option<i64> {
        if self.owed_to_affiliate() {
            stored.checked_neg()
        } else {
            Some(stored)
        }
    }
}

/// The fields of a tenant's own balance row: commission expense and one
/// clearing account per processor.
pub const TENANT_FIELDS: [&str; 5] = [
    COMMISSION_EXPENSE_FIELD,
    clearing_field(Processor::Stripe),
    clearing_field(Processor::Paypal),
    clearing_field(Processor::Sepa),
    clearing_field(Processor::Sandbox),
];

/// The tenant field of its commission expense.
pub const COMMISSION_EXPENSE_FIELD: &str = "commission_expense";

/// The tenant field of a processor's clearing account.
pub const fn clearing_field(processor: Processor) -> &'static str {
    match processor {
        Processor::Stripe => "clearing_stripe",
        Processor::Paypal => "clearing_paypal",
        Processor::Sepa => "clearing_sepa",
        Processor::Sandbox => "clearing_sandbox",
    }
}

/// Every account field of a balance row, the affiliate's accounts and then
/// the tenant's (`paid_out` is a report figure, not an account, and is
/// left out): what a trial balance sums.
pub const ACCOUNT_FIELDS: [&str; 9] = [
    AffiliateField::Pending.name(),
    AffiliateField::Available.name(),
    AffiliateField::Reserved.name(),
    AffiliateField::Receivable.name(),
    TENANT_FIELDS[0],
    TENANT_FIELDS[1],
    TENANT_FIELDS[2],
    TENANT_FIELDS[3],
    TENANT_FIELDS[4],
];

/// An affiliate's balance row in one currency, as stored: signed minor
/// units, debit positive (so what is owed to the affiliate is negative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AffiliateBalance {
    pub pending: i64,
    pub available: i64,
    pub reserved: i64,
    pub receivable: i64,
    pub paid_out: i64,
}

impl AffiliateBalance {
    /// The row from a store's fields by name; a field not there is zero,
    /// and fields of other kinds are not read.
    pub fn from_fields<K: std::borrow::Borrow<str> + Ord>(fields: &BTreeMap<K, i64>) -> Self {
        let f = |field: AffiliateField| fields.get(field.name()).copied().unwrap_or(0);
        AffiliateBalance {
            pending: f(AffiliateField::Pending),
            available: f(AffiliateField::Available),
            reserved: f(AffiliateField::Reserved),
            receivable: f(AffiliateField::Receivable),
            paid_out: f(AffiliateField::PaidOut),
        }
    }

    /// One field's stored value.
    pub const fn get(&self, field: AffiliateField) -> i64 {
        match field {
            AffiliateField::Pending => self.pending,
            AffiliateField::Available => self.available,
            AffiliateField::Reserved => self.reserved,
            AffiliateField::Receivable => self.receivable,
            AffiliateField::PaidOut => self.paid_out,
        }
    }

    /// The stored values in [`AffiliateField::ALL`]'s order.
    pub const fn stored(&self) -> [i64; 5] {
        [
            self.pending,
            self.available,
            self.reserved,
            self.receivable,
            self.paid_out,
        ]
    }

    /// Each field as the affiliate reads it (positive is owed to them), in
    /// [`AffiliateField::ALL`]'s order.
    pub fn shown(&self) -> [i64; 5] {
        AffiliateField::ALL.map(|field| field.shown(self.get(field)))
    }

    /// What a payout could send now, as the affiliate reads it: available
    /// less what they owe back (receivable), saturating as
    /// [`AffiliateField::shown`] does.
    pub const fn net_payable(&self) -> i64 {
        AffiliateField::Available
            .shown(self.available)
            .saturating_sub(self.receivable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_stored_ones_in_view_order() {
        assert_eq!(
            AffiliateField::NAMES,
            ["pending", "available", "reserved", "receivable", "paid_out"]
        );
        for account in [
            AffiliateAccount::Pending,
            AffiliateAccount::Available,
            AffiliateAccount::Reserved,
            AffiliateAccount::Receivable,
        ] {
            assert!(AffiliateField::ALL.contains(&AffiliateField::of(account)));
        }
        for field in AffiliateField::ALL {
            assert_eq!(AffiliateField::from_name(field.name()), Some(field));
        }
        assert_eq!(AffiliateField::from_name("clearing_stripe"), None);
        assert_eq!(ACCOUNT_FIELDS.len(), 4 + TENANT_FIELDS.len());
        assert!(!ACCOUNT_FIELDS.contains(&AffiliateField::PaidOut.name()));
    }

    #[test]
    fn a_row_reads_by_name_and_shows_what_is_owed_as_positive() {
        let fields: BTreeMap<String, i64> = [
            ("pending", -1_000),
            ("available", -2_500),
            ("reserved", -300),
            ("receivable", 400),
            ("paid_out", 9_000),
            ("clearing_stripe", 77),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let row = AffiliateBalance::from_fields(&fields);
        assert_eq!(row.stored(), [-1_000, -2_500, -300, 400, 9_000]);
        assert_eq!(row.shown(), [1_000, 2_500, 300, 400, 9_000]);
        assert_eq!(row.net_payable(), 2_100);
        assert_eq!(
            AffiliateBalance::from_fields(&BTreeMap::<String, i64>::new()),
            AffiliateBalance::default()
        );
        assert_eq!(AffiliateField::Available.shown(i64::MIN), i64::MAX);
        assert_eq!(AffiliateField::Receivable.shown(i64::MIN), i64::MIN);
        assert_eq!(AffiliateField::Available.shown_checked(i64::MIN), None);
        assert_eq!(AffiliateField::Available.shown_checked(-5), Some(5));
        assert_eq!(
            AffiliateField::PaidOut.shown_checked(i64::MIN),
            Some(i64::MIN)
        );
    }
}
