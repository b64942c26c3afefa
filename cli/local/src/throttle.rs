//! A stage's throttling (`ThrottlingRateLimit`, `ThrottlingBurstLimit`) as API Gateway applies it: a token bucket.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Requests per second, refilled continuously, up to `burst` at once.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: rate.max(0.0),
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// The bucket of a stage's `(rate, burst)` throttling, if it has one.
    pub fn for_stage(throttle: Option<(f64, u32)>) -> Option<Self> {
        throttle.map(|(rate, burst)| Self::new(rate, burst))
    }

    /// Takes a token; `false` means API Gateway would answer 429.
    pub fn allow(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (tokens, at) = &mut *state;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_limits() {
        let bucket = TokenBucket::new(0.001, 3);
        assert!((0..3).all(|_| bucket.allow()));
        assert!(
            !bucket.allow(),
            "the burst is spent and the rate refills slowly"
        );
        let fast = TokenBucket::new(1_000_000.0, 1);
        assert!(fast.allow());
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(fast.allow(), "refilled");
    }
}
