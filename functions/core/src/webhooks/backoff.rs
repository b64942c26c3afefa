//! The retry schedule: exponential over about a day, carried by SQS delays of at most 15 minutes.
//!
//! After attempt `n` fails, attempt `n + 1` is due [`retry_delay`]`(n)` later:
//! 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h (≈ 24 h in all,
//! 11 attempts), then the delivery is given up. SQS delays a message by at most
//! 900 s, so a retry due later travels as a chain of hops: the message carries
//! the time it is due, and a worker receiving it early only re-sends it with
//! [`hop_delay`] (no attempt, no log entry) until the due time is within reach.

/// Delays between attempts, in seconds: the i-th entry follows failed attempt i + 1.
pub const SCHEDULE_SECS: [u32; 10] = [5, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800, 28_800];
/// The longest delay SQS applies to one message.
pub const MAX_QUEUE_DELAY_SECS: u32 = 900;

/// How long after failed attempt `attempt` (1-based) the next one is due;
/// `None` once the schedule is exhausted.
pub fn retry_delay(attempt: u32) -> Option<u32> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    SCHEDULE_SECS.get(index).copied()
}

/// Attempts a delivery gets in all.
pub fn max_attempts() -> u32 {
    u32::try_from(SCHEDULE_SECS.len()).unwrap_or(u32::MAX) + 1
}

/// For a message due at `due` (epoch seconds) and received at `now`: `None`
/// when the attempt should run now, else the delay of the next hop.
pub fn hop_delay(due: i64, now: i64) -> Option<u32> {
    let remaining = due - now;
    if remaining <= 0 {
        None
    } else {
        Some(
            u32::try_from(remaining)
                .unwrap_or(u32::MAX)
                .min(MAX_QUEUE_DELAY_SECS),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_grows_and_spans_about_a_day() {
        assert_eq!(retry_delay(1), Some(5), "first retry within seconds");
        assert_eq!(retry_delay(0), None);
        assert_eq!(retry_delay(max_attempts()), None);
        for pair in SCHEDULE_SECS.windows(2) {
            assert!(pair[0] <= pair[1]);
        }
        let total: u32 = SCHEDULE_SECS.iter().sum();
        assert!((20 * 3600..=28 * 3600).contains(&total), "{total} s");
    }

    #[test]
    fn long_delays_travel_as_hops_of_at_most_fifteen_minutes() {
        let mut now = 1_000;
        let due = now + 28_800;
        let mut hops = 0;
        while let Some(delay) = hop_delay(due, now) {
            assert!(delay <= MAX_QUEUE_DELAY_SECS);
            now += i64::from(delay);
            hops += 1;
        }
        assert_eq!((now, hops), (due, 32));
        assert_eq!(hop_delay(due, due + 3), None);
    }
}
