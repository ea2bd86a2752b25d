//! How long a writer waits before trying again after losing a race for a
//! stream or an item, or being throttled: exponential from a base, capped,
//! with a random part (backon's exponential backoff with jitter), so
//! writers contending for one item do not retry in lockstep.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// The longest wait is this many times the base.
pub const RETRY_DELAY_CAP_FACTOR: u32 = 256;

/// The wait before retry number `attempt` (0 for the first retry): `base`
/// doubled per attempt up to [`RETRY_DELAY_CAP_FACTOR`] times `base`, plus a
/// random part of up to as much again.
pub fn retry_delay(base: Duration, attempt: u32) -> Duration {
    let cap = base.saturating_mul(RETRY_DELAY_CAP_FACTOR);
    ExponentialBuilder::new()
        .with_min_delay(base)
        .with_factor(2.0)
        .with_max_delay(cap)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempt as usize)
        .unwrap_or(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_within_their_spread_and_stop_growing_at_the_cap() {
        let base = Duration::from_millis(25);
        for attempt in 0..12u32 {
            let floor = base.saturating_mul(1 << attempt.min(8));
            for _ in 0..50 {
                let wait = retry_delay(base, attempt);
                assert!(wait >= floor, "attempt {attempt}: {wait:?} < {floor:?}");
                assert!(
                    wait <= floor * 2,
                    "attempt {attempt}: {wait:?} > {:?}",
                    floor * 2
                );
            }
        }
        // The random part spreads contending writers.
        let waits: std::collections::BTreeSet<_> = (0..50).map(|_| retry_delay(base, 3)).collect();
        assert!(waits.len() > 1);
    }
}
