//! The scheduled run drafts as the scheduler, stops at its bound, and the
//! next run resumes where it stopped.

use chrono::Utc;
use event_store_sqlite::SqliteEventStore;
use ledger_app::payouts::change_profile;
use ledger_app::run_commission;
use ledger_domain::profile::SandboxBehaviour;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, CommissionCommand, CommissionId, Currency,
    Money, PayoutMethod, ProfileChange, TenantId,
};

fn ctx(actor: &str) -> CommandContext {
    let now = Utc::now() - chrono::Duration::days(1);
    CommandContext {
        tenant_id: TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::User, actor).unwrap(),
        now,
        effective_at: now,
    }
}

#[tokio::test]
async fn scheduled_runs_resume_where_the_last_stopped() {
    let store = SqliteEventStore::in_memory().unwrap();
    let affiliates = draft_payouts::MAX_BATCHES_PER_RUN * 500 + 3;
    for a in 0..affiliates {
        let affiliate_id = AffiliateId::new(format!("aff-{a:06}")).unwrap();
        let id = CommissionId::new(format!("c-{a}")).unwrap();
        let record = CommissionCommand::Record {
            commission_id: id.clone(),
            affiliate_id: affiliate_id.clone(),
            amount: Money::parse("10.00", Currency::EUR).unwrap(),
            hold_period_days: 0,
            source_conversion_id: format!("conv-{a}"),
            order_reference: None,
        };
        run_commission(&store, &id, record, &ctx("tracker"), None)
            .await
            .unwrap();
        run_commission(
            &store,
            &id,
            CommissionCommand::Mature,
            &ctx("tracker"),
            None,
        )
        .await
        .unwrap();
        let method = PayoutMethod::Sandbox {
            behaviour: SandboxBehaviour::Settle,
        };
        change_profile(
            &store,
            &affiliate_id,
            ProfileChange::MethodSet { method },
            &ctx("finance"),
        )
        .await
        .unwrap();
    }
    while store.project_ledger(10_000).await.unwrap().events > 0 {}
    let tenants = draft_payouts::tenants("acme, ").unwrap();
    let first = draft_payouts::handle(&store, &store, &tenants, Utc::now()).await;
    assert_eq!(
        first["tenants"][0]["batches"],
        draft_payouts::MAX_BATCHES_PER_RUN,
        "{first}"
    );
    assert_eq!(first["tenants"][0]["complete"], false, "{first}");
    while store.project_ledger(10_000).await.unwrap().events > 0 {}
    let second = draft_payouts::handle(&store, &store, &tenants, Utc::now()).await;
    assert_eq!(second["tenants"][0]["items"], 3, "{second}");
    assert_eq!(second["tenants"][0]["complete"], true);
    while store.project_ledger(10_000).await.unwrap().events > 0 {}
    // Nothing left: the next run drafts nothing, from the start again.
    let third = draft_payouts::handle(&store, &store, &tenants, Utc::now()).await;
    assert_eq!(third["tenants"][0]["items"], 0, "{third}");
    assert!(draft_payouts::tenants("bad tenant").is_err());
}
