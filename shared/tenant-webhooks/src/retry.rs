//! When a failed delivery is tried again: exponential backoff with jitter,
//! for at least the retry window, then parked.
//!
//! Attempt n failing waits `first * 2^(n-1)`, at most `cap`, each wait
//! scaled by a random factor in [0.8, 1.2) so receivers recovering from an
//! outage are not hit by every sender at once. The last attempt is made
//! when the window since the delivery was queued has passed; if it fails
//! too, the delivery is parked.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first: Duration,
    pub cap: Duration,
    pub window: Duration,
}

impl Default for RetryPolicy {
    /// 30 seconds, doubling to at most one hour, for three days: about 80
    /// attempts.
    fn default() -> Self {
        RetryPolicy {
            first: Duration::seconds(30),
            cap: Duration::hours(1),
            window: Duration::days(3),
        }
    }
}

impl RetryPolicy {
    /// After attempt `attempt` (1 for the first) failed at `now`, when to
    /// try again, or `None` to park. `jitter` is uniform in [0, 1).
    pub fn next_attempt(
        &self,
        attempt: u32,
        queued_at: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        let deadline = queued_at + self.window;
        if now >= deadline {
            return None;
        }
        let doublings = attempt.saturating_sub(1).min(30);
        let base = self
            .first
            .checked_mul(1i32 << doublings.min(30))
            .unwrap_or(self.cap)
            .min(self.cap);
        let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        // Milliseconds of at most an hour scaled by less than 1.2: exact in f64.
        let wait = Duration::milliseconds((base.num_milliseconds() as f64 * factor) as i64);
        Some((now + wait).min(deadline))
    }
}

/// A jitter from the OS's random source (0.5 if it is unavailable).
pub fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_park_after_the_window() {
        let p = RetryPolicy::default();
        let t0 = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let wait =
            |attempt, now: DateTime<Utc>| p.next_attempt(attempt, t0, now, 0.5).map(|t| t - now);
        assert_eq!(wait(1, t0), Some(Duration::seconds(30)));
        assert_eq!(wait(2, t0), Some(Duration::seconds(60)));
        assert_eq!(wait(5, t0), Some(Duration::seconds(480)));
        assert_eq!(wait(40, t0), Some(Duration::hours(1)));
        // Jitter keeps each wait within 20%.
        let low = p.next_attempt(3, t0, t0, 0.0).unwrap() - t0;
        let high = p.next_attempt(3, t0, t0, 0.999_999).unwrap() - t0;
        assert_eq!(low, Duration::seconds(96));
        assert!(high > Duration::seconds(143) && high < Duration::seconds(144));
        // The last wait ends at the window; after it, parked.
        let near_end = t0 + Duration::days(3) - Duration::minutes(10);
        assert_eq!(
            p.next_attempt(60, t0, near_end, 0.5),
            Some(t0 + Duration::days(3))
        );
        assert_eq!(p.next_attempt(61, t0, t0 + Duration::days(3), 0.5), None);
    }

    #[test]
    fn the_default_keeps_trying_for_three_days() {
        let p = RetryPolicy::default();
        let t0 = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let (mut now, mut attempt) = (t0, 1);
        while let Some(next) = p.next_attempt(attempt, t0, now, 0.0) {
            now = next;
            attempt += 1;
        }
        assert!(now - t0 >= Duration::days(3));
        assert!((70..100).contains(&attempt), "{attempt} attempts");
    }
}
