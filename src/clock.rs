//! The clocks, read in one place: cache freshness is in unix
//! milliseconds, review dates in unix seconds; connection idleness is
//! counted on a monotonic clock. What every request reads (freshness,
//! idleness) comes from the kernel's coarse clocks: advanced every tick (a
//! few ms), read from memory without the TSC, a fraction of a precise
//! read's cost.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Unix time in whole seconds (the date of a new review).
pub fn unix_seconds() -> i64 {
    (now_ms() / 1000) as i64
}

/// Unix time in milliseconds, within a tick of [`now_ms`]: for checks
/// made on every request, where a few milliseconds don't matter.
pub fn coarse_now_ms() -> u64 {
    #[cfg(target_os = "linux")]
    {
        coarse(libc::CLOCK_REALTIME_COARSE).unwrap_or_else(now_ms)
    }
    #[cfg(not(target_os = "linux"))]
    {
        now_ms()
    }
}

/// Milliseconds on a monotonic clock from an arbitrary start, within a
/// tick: for idle and header timeouts, counted in seconds.
pub fn coarse_monotonic_ms() -> u64 {
    #[cfg(target_os = "linux")]
    if let Some(ms) = coarse(libc::CLOCK_MONOTONIC_COARSE) {
        return ms;
    }
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

#[cfg(target_os = "linux")]
fn coarse(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass and nothing else.
    let done = unsafe { libc::clock_gettime(clock, &mut ts) } == 0;
    done.then(|| ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clocks_keep_up_with_the_precise_ones() {
        let (before, coarse, after) = (now_ms(), coarse_now_ms(), now_ms());
        // The coarse clock lags by at most a tick (≤ 10 ms at HZ=100).
        assert!(
            coarse + 20 >= before && coarse <= after,
            "{before} {coarse} {after}"
        );
        let start = coarse_monotonic_ms();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let slept = coarse_monotonic_ms() - start;
        assert!((30..1000).contains(&slept), "{slept} ms");
    }
}
