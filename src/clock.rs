//! The wall clock, read in one place: cache freshness is in unix
//! milliseconds, review dates in unix seconds.

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
