//! [`RetryPolicy`]: exponential backoff with jitter for optimistic-concurrency retries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How often and how patiently to retry a write that lost a version race.
///
/// Delays grow as `base_delay * 2^(attempt-1)`, capped at `max_delay`; `jitter` (0.0–1.0) is
/// the fraction of each delay that is randomized, so racing writers spread out.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first; at least 1.
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub base_delay: Duration,
    /// Upper bound of any delay.
    pub max_delay: Duration,
    /// Fraction of the delay that is random, 0.0 (none) to 1.0 ("full jitter").
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 10 attempts, 1 ms doubling to 200 ms, half jitter. Local writers are serialized on the
    /// session lock before their compare-and-swap, so retries are only needed for writers in
    /// other processes or outside the lock.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(200),
            jitter: 0.5,
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt only.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The delay to wait after failed attempt number `attempt` (1-based) before trying
    /// again, or `None` when `attempt` was the last one allowed.
    pub fn next_delay(&self, attempt: u32) -> Option<Duration> {
        if attempt >= self.max_attempts.max(1) {
            return None;
        }
        let exp = attempt.saturating_sub(1).min(30);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let random_part = full.mul_f64(jitter * unit_random());
        Some(full.mul_f64(1.0 - jitter) + random_part)
    }
}

/// A cheap uniform number in [0, 1): splitmix64 over a global counter. Jitter needs spread,
/// not unpredictability.
fn unit_random() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut z = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_cap_and_stop() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            jitter: 0.0,
        };
        let delays: Vec<_> = (1..=5).map(|a| p.next_delay(a)).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_millis(10)),
                Some(Duration::from_millis(20)),
                Some(Duration::from_millis(40)),
                Some(Duration::from_millis(50)),
                None
            ]
        );
        assert_eq!(RetryPolicy::none().next_delay(1), None);
    }

    #[test]
    fn jitter_stays_within_the_delay() {
        let p = RetryPolicy {
            jitter: 1.0,
            ..RetryPolicy::default()
        };
        for _ in 0..1000 {
            let d = p.next_delay(3).unwrap();
            assert!(d <= Duration::from_millis(4));
        }
    }
}
