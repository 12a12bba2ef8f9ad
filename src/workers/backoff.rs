use std::time::Duration;

use rand::Rng;

/// The longest wait between two attempts.
const CAP: Duration = Duration::from_secs(60);

/// How long to wait before attempt `attempt + 1`: `base` doubled for each
/// attempt made, capped, with "equal jitter" (a random half of it) so that
/// operations that failed together do not retry together.
pub fn delay_after(attempt: i32, base: Duration) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(16);
    let full = base.saturating_mul(1 << doublings).min(CAP);
    let half = full / 2;
    half + half.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_attempt_waits_between_half_and_all_of_a_doubling_delay() {
        let base = Duration::from_millis(100);
        for attempt in 1..=5 {
            let full = base * (1 << (attempt - 1));
            for _ in 0..50 {
                let delay = delay_after(attempt, base);
                assert!(delay >= full / 2 && delay <= full, "attempt {attempt}: {delay:?}");
            }
        }
    }

    #[test]
    fn the_delay_never_exceeds_the_cap() {
        assert!(delay_after(40, Duration::from_secs(10)) <= CAP);
        assert!(delay_after(i32::MAX, Duration::MAX) <= CAP);
    }
}
