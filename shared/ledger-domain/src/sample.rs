//! A driver that turns a sequence of abstract operations into a valid event
//! history through the real aggregates. Property tests feed it random
//! operations; benchmarks and the demo feed it seeded ones.
//!
//! Operations the aggregates refuse (maturing too early, reversing more than
//! remains, approving one's own batch) are counted and dropped, exactly as a
//! caller would see them refused.

use chrono::{DateTime, Duration, TimeZone, Utc};
use iso_currency::Currency;

use crate::balances::Balances;
use crate::commission::{Commission, CommissionCommand};
use crate::context::CommandContext;
use crate::events::{Actor, ActorKind, DraftedItem, Event, Processor, ReversalReason};
use crate::ids::{AffiliateId, CommissionId, PayoutBatchId, PayoutItemId, TenantId};
use crate::ledger::journal_entry;
use crate::money::Money;
use crate::payout::{BatchStatus, ItemOutcome, PayoutBatch, PayoutBatchCommand};

/// Currencies the sample program uses: two decimals, none, three.
pub const SAMPLE_CURRENCIES: [Currency; 3] = [Currency::EUR, Currency::JPY, Currency::KWD];
/// Tenants in the sample program.
pub const SAMPLE_TENANTS: [&str; 2] = ["acme", "globex"];

/// One abstract step. Numbers are interpreted modulo what exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Record {
        tenant: u8,
        affiliate: u8,
        currency: u8,
        amount_minor: u32,
        hold_days: u8,
    },
    Mature {
        pick: u32,
    },
    Reverse {
        pick: u32,
        percent: u8,
        reason: u8,
    },
    Adjust {
        pick: u32,
        delta_minor: i32,
    },
    /// Advance the clock, so holds end.
    Tick {
        days: u8,
    },
    Draft {
        tenant: u8,
        currency: u8,
    },
    Approve {
        pick: u32,
        by_maker: bool,
    },
    Reject {
        pick: u32,
    },
    Outcome {
        pick: u32,
        item: u16,
        outcome: u8,
    },
}

/// What a run produced.
#[derive(Debug, Default)]
pub struct SampleRun {
    pub events: Vec<Event>,
    pub refused: u64,
}

/// Drives the aggregates. Keeps every aggregate's state in memory.
pub struct SampleProgram {
    now: DateTime<Utc>,
    affiliates_per_tenant: u8,
    commissions: Vec<Commission>,
    batches: Vec<PayoutBatch>,
    balances: Balances,
    run: SampleRun,
}

fn actor(kind: ActorKind, id: &str) -> Actor {
    Actor {
        kind,
        id: id.to_owned(),
        role: None,
        request_id: None,
    }
}

impl SampleProgram {
    pub fn new(affiliates_per_tenant: u8) -> Self {
        SampleProgram {
            now: Utc
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
            affiliates_per_tenant: affiliates_per_tenant.max(1),
            commissions: Vec::new(),
            batches: Vec::new(),
            balances: Balances::new(),
            run: SampleRun::default(),
        }
    }

    fn ctx(&self, tenant: &TenantId, actor: Actor) -> CommandContext {
        CommandContext {
            tenant_id: tenant.clone(),
            actor,
            now: self.now,
            effective_at: self.now,
        }
    }

    fn tenant(index: u8) -> TenantId {
        TenantId::new(SAMPLE_TENANTS[usize::from(index) % SAMPLE_TENANTS.len()])
            .unwrap_or_else(|_| unreachable!())
    }

    fn affiliate(&self, index: u8) -> AffiliateId {
        AffiliateId::new(format!("aff-{}", index % self.affiliates_per_tenant))
            .unwrap_or_else(|_| unreachable!())
    }

    fn emit(&mut self, events: Vec<Event>) {
        for event in events {
            if let Ok(entry) = journal_entry(&event) {
                // Sample amounts are tiny: the fold cannot overflow.
                let _ = self.balances.apply(&entry);
            }
            self.run.events.push(event);
        }
    }

    /// Applies one operation.
    pub fn step(&mut self, op: Op) {
        match op {
            Op::Record {
                tenant,
                affiliate,
                currency,
                amount_minor,
                hold_days,
            } => {
                let tenant = Self::tenant(tenant);
                let currency = SAMPLE_CURRENCIES[usize::from(currency) % SAMPLE_CURRENCIES.len()];
                let Ok(amount) = Money::from_minor(i64::from(amount_minor), currency) else {
                    return;
                };
                let id = self.commissions.len();
                let command = CommissionCommand::Record {
                    commission_id: CommissionId::new(format!("c-{id}"))
                        .unwrap_or_else(|_| unreachable!()),
                    affiliate_id: self.affiliate(affiliate),
                    amount,
                    hold_period_days: u32::from(hold_days % 31),
                    source_conversion_id: format!("conv-{id}"),
                    order_reference: None,
                };
                let ctx = self.ctx(&tenant, actor(ActorKind::Service, "tracking-network"));
                match Commission::default().handle(command, &ctx) {
                    Ok(events) => {
                        self.commissions.push(Commission::from_events(&events));
                        self.emit(events);
                    }
                    Err(_) => self.run.refused += 1,
                }
            }
            Op::Mature { pick } => {
                self.commission_command(pick, |_| Some(CommissionCommand::Mature), "scheduler")
            }
            Op::Reverse {
                pick,
                percent,
                reason,
            } => self.commission_command(
                pick,
                |c| {
                    let remaining = c.state()?.remaining().ok()?;
                    let minor = remaining.amount_minor() * i64::from(percent % 101) / 100;
                    let reason = [
                        ReversalReason::Refund,
                        ReversalReason::Chargeback,
                        ReversalReason::Fraud,
                        ReversalReason::Manual,
                    ][usize::from(reason) % 4];
                    Some(CommissionCommand::Reverse {
                        amount: Money::from_minor(minor, remaining.currency()).ok()?,
                        reason,
                        reference: None,
                    })
                },
                "tracking-network",
            ),
            Op::Adjust { pick, delta_minor } => self.commission_command(
                pick,
                |c| {
                    let currency = c.state()?.earned.currency();
                    Some(CommissionCommand::Adjust {
                        delta: Money::from_minor(i64::from(delta_minor), currency).ok()?,
                        reason: "manual correction".to_owned(),
                    })
                },
                "finance-admin",
            ),
            Op::Tick { days } => self.now += Duration::days(i64::from(days)),
            Op::Draft { tenant, currency } => self.draft(tenant, currency),
            Op::Approve { pick, by_maker } => {
                let who = if by_maker {
                    "finance-maker"
                } else {
                    "finance-approver"
                };
                self.batch_command(
                    pick,
                    |_| {
                        // Without configured limits only an admin approves.
                        Some(PayoutBatchCommand::Approve {
                            authority: crate::events::ApprovalAuthority::Admin,
                            limits: crate::payout::ApprovalLimits::default(),
                            approved_today: Vec::new(),
                        })
                    },
                    who,
                );
            }
            Op::Reject { pick } => self.batch_command(
                pick,
                |_| {
                    Some(PayoutBatchCommand::Reject {
                        reason: "finance review".to_owned(),
                    })
                },
                "finance-approver",
            ),
            Op::Outcome {
                pick,
                item,
                outcome,
            } => self.batch_command(
                pick,
                |b| {
                    let state = b.state()?;
                    if state.status != BatchStatus::Approved {
                        return None;
                    }
                    let item = &state.items[usize::from(item) % state.items.len()];
                    let outcome_index = usize::from(outcome) % 7;
                    let outcome = [
                        ItemOutcome::Paid,
                        ItemOutcome::Paid,
                        ItemOutcome::Failed,
                        ItemOutcome::Returned,
                        ItemOutcome::Unclaimed,
                        ItemOutcome::Reversed,
                        ItemOutcome::Reversed,
                    ][outcome_index];
                    // Reversals: half of the item so far, or all of it.
                    let amount = item.drafted.amount;
                    let reversed_total = (outcome_index == 5)
                        .then(|| {
                            Money::from_minor((amount.amount_minor() / 2).max(1), amount.currency())
                                .ok()
                        })
                        .flatten()
                        .or((outcome == ItemOutcome::Reversed).then_some(amount));
                    Some(PayoutBatchCommand::RecordOutcome {
                        item_id: item.drafted.item_id.clone(),
                        outcome,
                        processor_event_id: None,
                        reason: None,
                        facts: crate::payout::OutcomeFacts {
                            amount: reversed_total,
                            ..Default::default()
                        },
                    })
                },
                "processor",
            ),
        }
    }

    fn commission_command(
        &mut self,
        pick: u32,
        make: impl FnOnce(&Commission) -> Option<CommissionCommand>,
        who: &str,
    ) {
        if self.commissions.is_empty() {
            return;
        }
        let index = pick as usize % self.commissions.len();
        let commission = &self.commissions[index];
        let Some(state) = commission.state() else {
            return;
        };
        let ctx = self.ctx(&state.tenant_id.clone(), actor(ActorKind::User, who));
        let Some(command) = make(commission) else {
            return;
        };
        match commission.handle(command, &ctx) {
            Ok(events) => {
                for event in &events {
                    self.commissions[index].apply(event);
                }
                self.emit(events);
            }
            Err(_) => self.run.refused += 1,
        }
    }

    fn batch_command(
        &mut self,
        pick: u32,
        make: impl FnOnce(&PayoutBatch) -> Option<PayoutBatchCommand>,
        who: &str,
    ) {
        if self.batches.is_empty() {
            return;
        }
        // Finance works on recent batches: pick among the newest four.
        let len = self.batches.len();
        let index = len - 1 - (pick as usize % len.min(4));
        let batch = &self.batches[index];
        let Some(state) = batch.state() else { return };
        let ctx = self.ctx(&state.tenant_id.clone(), actor(ActorKind::User, who));
        let Some(command) = make(batch) else { return };
        match batch.handle(command, &ctx) {
            Ok(events) => {
                for event in &events {
                    self.batches[index].apply(event);
                }
                self.emit(events);
            }
            Err(_) => self.run.refused += 1,
        }
    }

    /// Drafts a batch of every affiliate of the tenant whose net payable in
    /// the currency is positive, netting receivables, as finance would.
    fn draft(&mut self, tenant: u8, currency: u8) {
        let tenant_id = Self::tenant(tenant);
        let currency = SAMPLE_CURRENCIES[usize::from(currency) % SAMPLE_CURRENCIES.len()];
        let batch_no = self.batches.len();
        let mut items = Vec::new();
        for a in 0..self.affiliates_per_tenant {
            let affiliate_id = self.affiliate(a);
            let Ok(view) = self.balances.affiliate(&tenant_id, &affiliate_id, currency) else {
                continue;
            };
            if !view.net_payable.is_positive() {
                continue;
            }
            items.push(DraftedItem {
                item_id: PayoutItemId::new(format!("b{batch_no}-i{a}"))
                    .unwrap_or_else(|_| unreachable!()),
                affiliate_id,
                amount: view.net_payable,
                receivable_netted: view.receivable,
                processor: [Processor::Stripe, Processor::Paypal, Processor::Sepa]
                    [usize::from(a) % 3],
                destination: None,
            });
        }
        if items.is_empty() {
            return;
        }
        let command = PayoutBatchCommand::Draft {
            batch_id: PayoutBatchId::new(format!("b-{batch_no}"))
                .unwrap_or_else(|_| unreachable!()),
            items,
            sequence: batch_no as u64,
            run_id: None,
        };
        let ctx = self.ctx(&tenant_id, actor(ActorKind::User, "finance-maker"));
        match PayoutBatch::default().handle(command, &ctx) {
            Ok(events) => {
                self.batches.push(PayoutBatch::from_events(&events));
                self.emit(events);
            }
            Err(_) => self.run.refused += 1,
        }
    }

    /// The balances folded incrementally while the program ran.
    pub fn balances(&self) -> &Balances {
        &self.balances
    }

    pub fn finish(self) -> SampleRun {
        self.run
    }
}

/// A deterministic mixed workload of roughly `events` events, from a seed:
/// recordings, maturities, reversals (before and after payout), adjustments,
/// batches with approvals, rejections and every kind of outcome.
pub fn mixed_events(seed: u64, events: usize, affiliates_per_tenant: u8) -> Vec<Event> {
    // splitmix64: a fixed, dependency-free sequence, so every run of the
    // benchmark folds the very same events.
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut program = SampleProgram::new(affiliates_per_tenant);
    while program.run.events.len() < events {
        let r = next();
        let pick = (r >> 32) as u32;
        let op = match r % 100 {
            0..=44 => Op::Record {
                tenant: (r >> 8) as u8,
                affiliate: (r >> 16) as u8,
                currency: (r >> 24) as u8,
                amount_minor: 1 + (pick % 50_000),
                hold_days: (r >> 40) as u8 % 15,
            },
            45..=74 => Op::Mature { pick },
            75..=82 => Op::Reverse {
                pick,
                percent: (r >> 8) as u8,
                reason: (r >> 16) as u8,
            },
            83..=84 => Op::Adjust {
                pick,
                delta_minor: (pick % 2_000) as i32 - 500,
            },
            85..=87 => Op::Tick {
                days: 1 + (r >> 8) as u8 % 5,
            },
            88..=89 => Op::Draft {
                tenant: (r >> 8) as u8,
                currency: (r >> 16) as u8,
            },
            90..=91 => Op::Approve {
                pick,
                by_maker: r & 0x100 == 0,
            },
            92 => Op::Reject { pick },
            _ => Op::Outcome {
                pick,
                item: (r >> 8) as u16,
                outcome: (r >> 24) as u8,
            },
        };
        program.step(op);
    }
    let mut events_out = program.finish().events;
    events_out.truncate(events);
    events_out
}
