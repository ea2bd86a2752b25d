//! Builders shared by the domain tests.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, CommissionCommand, CommissionId, Currency,
    DraftedItem, Money, PayoutItemId, Processor, TenantId,
};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

pub fn ctx_at(actor: &str, at: DateTime<Utc>) -> CommandContext {
    CommandContext {
        tenant_id: TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::User, actor).unwrap(),
        now: at,
        effective_at: at,
    }
}

pub fn ctx(actor: &str) -> CommandContext {
    ctx_at(actor, t0())
}

pub fn days_later(days: i64) -> CommandContext {
    ctx_at("scheduler", t0() + Duration::days(days))
}

pub fn eur(text: &str) -> Money {
    Money::parse(text, Currency::EUR).unwrap()
}

pub fn record(id: &str, affiliate: &str, amount: Money, hold_days: u32) -> CommissionCommand {
    CommissionCommand::Record {
        commission_id: CommissionId::new(id).unwrap(),
        affiliate_id: AffiliateId::new(affiliate).unwrap(),
        amount,
        hold_period_days: hold_days,
        source_conversion_id: format!("conv-{id}"),
        order_reference: Some(format!("order-{id}")),
    }
}

pub fn item(id: &str, affiliate: &str, amount: Money, netted: Money) -> DraftedItem {
    DraftedItem {
        item_id: PayoutItemId::new(id).unwrap(),
        affiliate_id: AffiliateId::new(affiliate).unwrap(),
        amount,
        receivable_netted: netted,
        processor: Processor::Stripe,
        destination: None,
    }
}
