//! The one authorization module every route goes through. Deny by default:
//! an action is allowed only to the roles listed for it here, always within
//! the caller's own tenant (the tenant comes from the verified identity and
//! every read and write is scoped by it).

use crate::Identity;
use crate::problem::Problem;

/// The roles a verified identity can carry.
pub mod role {
    /// The tracking network (a machine caller).
    pub const INGEST: &str = "ingest";
    /// An affiliate: only its own data.
    pub const AFFILIATE: &str = "affiliate";
    pub const FINANCE_MAKER: &str = "finance-maker";
    pub const FINANCE_APPROVER: &str = "finance-approver";
    pub const ADMIN: &str = "admin";
    /// Every role, for validation of issued tokens.
    pub const ALL: [&str; 5] = [INGEST, AFFILIATE, FINANCE_MAKER, FINANCE_APPROVER, ADMIN];
}

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Post commissions (tracking network).
    IngestCommissions,
    /// Post refunds, chargebacks, fraud reversals and adjustments of
    /// commissions (tracking network).
    ReverseCommissions,
    /// Read one affiliate's balances and journal.
    ReadAffiliate { affiliate_id: &'a str },
    /// Read who did what (admin).
    ReadAudit,
    /// Set how an affiliate is paid and its minimums.
    ManagePayoutProfile,
    /// Place or lift a payout hold (KYC, fraud review).
    HoldPayouts,
    /// Draft payout batches (the maker).
    DraftPayouts,
    /// Approve or reject a batch (the checker: never its maker).
    ApprovePayouts,
    /// Read payout batches and profiles.
    ReadPayouts,
    /// Re-enqueue an approved batch's unsent items.
    DispatchPayouts,
    /// Generate statements on demand (the schedule generates them monthly).
    RunStatements,
    /// Read the tenant's liabilities (totals owed, now or as of an instant)
    /// and export them.
    ReadLiabilities,
    /// Read reconciliation runs and their mismatches.
    ReadReconciliation,
    /// Resolve a reconciliation mismatch, with a note.
    ResolveMismatches,
    /// Register and change the tenant's webhook endpoints, read and replay
    /// their deliveries (admin).
    ManageWebhooks,
}

impl Action<'_> {
    fn roles(&self) -> &'static [&'static str] {
        match self {
            Action::IngestCommissions | Action::ReverseCommissions => &[role::INGEST],
            Action::ReadAffiliate { .. } => &[
                role::AFFILIATE,
                role::FINANCE_MAKER,
                role::FINANCE_APPROVER,
                role::ADMIN,
            ],
            Action::ReadAudit | Action::ManageWebhooks => &[role::ADMIN],
            Action::ManagePayoutProfile | Action::DraftPayouts => {
                &[role::FINANCE_MAKER, role::ADMIN]
            }
            Action::HoldPayouts
            | Action::ReadPayouts
            | Action::RunStatements
            | Action::ReadLiabilities
            | Action::ReadReconciliation
            | Action::ResolveMismatches => {
                &[role::FINANCE_MAKER, role::FINANCE_APPROVER, role::ADMIN]
            }
            Action::ApprovePayouts | Action::DispatchPayouts => {
                &[role::FINANCE_APPROVER, role::ADMIN]
            }
        }
    }
}

/// Allows or refuses an action for a caller, with the role that allowed it.
pub fn authorize(identity: &Identity, action: Action<'_>) -> Result<&'static str, Problem> {
    for role in action.roles() {
        if !identity.has_role(role) {
            continue;
        }
        // An affiliate acts only on itself.
        if let (Action::ReadAffiliate { affiliate_id }, &role::AFFILIATE) = (action, role) {
            if identity.affiliate_id.as_deref() != Some(affiliate_id) {
                continue;
            }
        }
        return Ok(role);
    }
    Err(Problem::forbidden(match action {
        Action::IngestCommissions => "posting commissions needs the ingest role",
        Action::ReverseCommissions => {
            "reversals and adjustments of commissions are posted by the tracking network (ingest role)"
        }
        Action::ReadAffiliate { .. } => {
            "an affiliate reads only its own ledger; finance and admins read their tenant's"
        }
        Action::ReadAudit => "the audit trail is for admins",
        Action::ManageWebhooks => "webhook endpoints are managed by admins",
        Action::ManagePayoutProfile => "payout profiles are set by finance makers and admins",
        Action::HoldPayouts => "payout holds are placed and lifted by finance and admins",
        Action::DraftPayouts => "payout batches are drafted by finance makers and admins",
        Action::ApprovePayouts => {
            "payout batches are approved or rejected by finance approvers and admins"
        }
        Action::ReadPayouts => "payout batches and profiles are read by finance and admins",
        Action::DispatchPayouts => "dispatch is re-driven by finance approvers and admins",
        Action::RunStatements => "statements are generated on demand by finance and admins",
        Action::ReadLiabilities => "the tenant's liabilities are read by finance and admins",
        Action::ReadReconciliation => "reconciliation runs are read by finance and admins",
        Action::ResolveMismatches => "reconciliation mismatches are resolved by finance and admins",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(roles: &[&str], affiliate: Option<&str>) -> Identity {
        Identity {
            tenant_id: ledger_domain::TenantId::new("acme").unwrap(),
            subject: "s".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            affiliate_id: affiliate.map(str::to_owned),
            request_id: None,
        }
    }

    #[test]
    fn deny_by_default_and_affiliates_only_see_themselves() {
        let read_anna = Action::ReadAffiliate {
            affiliate_id: "aff-anna",
        };
        assert_eq!(
            authorize(&who(&["affiliate"], Some("aff-anna")), read_anna),
            Ok(role::AFFILIATE)
        );
        assert!(authorize(&who(&["affiliate"], Some("aff-ben")), read_anna).is_err());
        assert!(authorize(&who(&["affiliate"], None), read_anna).is_err());
        assert_eq!(
            authorize(&who(&["finance-maker"], None), read_anna),
            Ok(role::FINANCE_MAKER)
        );
        assert!(authorize(&who(&[], None), read_anna).is_err());
        assert!(authorize(&who(&["ingest"], None), read_anna).is_err());
        assert!(
            authorize(
                &who(&["affiliate", "finance-maker", "admin"], Some("x")),
                Action::IngestCommissions
            )
            .is_err()
        );
        assert_eq!(
            authorize(&who(&["ingest"], None), Action::IngestCommissions),
            Ok(role::INGEST)
        );
        assert_eq!(
            authorize(&who(&["ingest"], None), Action::ReverseCommissions),
            Ok(role::INGEST)
        );
        for roles in [
            &["affiliate"][..],
            &["finance-maker"],
            &["finance-approver"],
            &["admin"],
        ] {
            assert!(authorize(&who(roles, Some("x")), Action::ReverseCommissions).is_err());
        }
        assert!(authorize(&who(&["finance-approver"], None), Action::ReadAudit).is_err());
        assert_eq!(
            authorize(&who(&["admin"], None), Action::ReadAudit),
            Ok(role::ADMIN)
        );
        // Makers draft, approvers approve; affiliates and the tracker do neither.
        let maker = who(&["finance-maker"], None);
        let approver = who(&["finance-approver"], None);
        assert!(authorize(&maker, Action::DraftPayouts).is_ok());
        assert!(authorize(&maker, Action::ApprovePayouts).is_err());
        assert!(authorize(&approver, Action::ApprovePayouts).is_ok());
        assert!(authorize(&approver, Action::DraftPayouts).is_err());
        assert!(authorize(&approver, Action::ManagePayoutProfile).is_err());
        for action in [
            Action::ManagePayoutProfile,
            Action::HoldPayouts,
            Action::DraftPayouts,
            Action::ApprovePayouts,
            Action::ReadPayouts,
            Action::DispatchPayouts,
        ] {
            assert!(authorize(&who(&["affiliate"], Some("a")), action).is_err());
            assert!(authorize(&who(&["ingest"], None), action).is_err());
            assert!(authorize(&who(&["admin"], None), action).is_ok());
        }
        // Finance reads (batch lists, exports, liabilities): every finance
        // role and admins; never an affiliate or the tracker.
        for action in [Action::ReadPayouts, Action::ReadLiabilities] {
            for role in ["finance-maker", "finance-approver", "admin"] {
                assert_eq!(authorize(&who(&[role], None), action), Ok(role));
            }
            assert!(authorize(&who(&["affiliate"], Some("a")), action).is_err());
            assert!(authorize(&who(&["ingest"], None), action).is_err());
            assert!(authorize(&who(&[], None), action).is_err());
        }
    }
}
