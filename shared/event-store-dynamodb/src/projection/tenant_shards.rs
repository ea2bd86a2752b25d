//! A tenant's own balance rows, spread over shard items so concurrent
//! projection transactions of one tenant do not meet on one item.

use ledger_domain::projection::BalanceOwner;

/// The items a tenant's own balance row in one currency is spread over:
/// `{tenant}/tenant#n`. Every projection transaction of a tenant's events
/// touches its tenant row, so one item would take every concurrent
/// transaction of the tenant (and conflict with each); spread, each
/// transaction adds to one of them, chosen afresh on every attempt, and a
/// read sums them (with the unsharded `{tenant}/tenant` item a table from
/// before may still hold). The tenant's bookkeeping rows (currency `#...`)
/// stay on the unsharded item.
pub const TENANT_TOTAL_SHARDS: u64 = 8;

/// The item a transaction adds a balance row's deltas to: a tenant's own
/// row in a currency goes to its shard `salt % TENANT_TOTAL_SHARDS`; every
/// other row to its own key.
pub(super) fn row_item_key(owner: &str, currency: &str, salt: u64) -> String {
    if currency.starts_with('#') || !is_tenant_key(owner) {
        return owner.to_owned();
    }
    tenant_total_shard(owner, salt % TENANT_TOTAL_SHARDS)
}

/// Whether `owner` is a tenant's own key (`{tenant}/tenant`).
fn is_tenant_key(owner: &str) -> bool {
    matches!(
        BalanceOwner::from_key(owner),
        Some(BalanceOwner::Tenant { .. })
    )
}

/// The shard `n` of a tenant's own rows.
pub(super) fn tenant_total_shard(tenant_key: &str, n: u64) -> String {
    format!("{tenant_key}#{n}")
}

/// Every item a tenant's own rows may be kept in: the unsharded key (from
/// before, and the bookkeeping rows) and each shard.
pub(super) fn tenant_total_keys(tenant_key: &str) -> Vec<String> {
    std::iter::once(tenant_key.to_owned())
        .chain((0..TENANT_TOTAL_SHARDS).map(|n| tenant_total_shard(tenant_key, n)))
        .collect()
}
