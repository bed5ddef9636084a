//! The port's buckets: a fixed table of words in memory every worker of
//! the port maps, updated with compare-and-swap only, so a worker killed
//! at any instant leaves every bucket whole and no lock is ever held.
//!
//! A word packs a 20-bit tag of the client's key and its GCRA timestamp
//! (the time its bucket is full again, unix ms, 44 bits: good until the
//! year 2527). The table is 8-way set associative: a client's key picks a
//! set, and its tag a word in it. A client not in its set takes the word
//! whose bucket is fullest (an empty word, or the oldest timestamp): that
//! client loses nothing unless its bucket was still refilling, i.e. only
//! when more clients write within one refill time than a set holds
//! ([`crate::metrics::Region`]'s 64 Ki words: 8 Ki sets).

use std::sync::atomic::{AtomicU64, Ordering};

use super::Rate;

const TAT_BITS: u32 = 44;
const TAT_MASK: u64 = (1 << TAT_BITS) - 1;
/// Words per set.
const WAYS: usize = 8;

/// Takes a token of bucket `key` at `now_ms`, or returns how many
/// milliseconds until one is back. An empty table admits everything.
pub fn admit(table: &[AtomicU64], key: u64, now_ms: u64, rate: Rate) -> Result<(), u64> {
    let sets = table.len() / WAYS;
    if sets == 0 {
        return Ok(());
    }
    let set = &table[(key % sets as u64) as usize * WAYS..][..WAYS];
    // Tags never 0: a zero word is empty.
    let tag = (key >> TAT_BITS).max(1);
    let now = now_ms & TAT_MASK;
    let (interval, tolerance) = (rate.interval_ms(), rate.tolerance_ms());
    loop {
        let found = set
            .iter()
            .map(|word| (word, word.load(Ordering::Acquire)))
            .find(|&(_, value)| value >> TAT_BITS == tag);
        let (word, value) = match found {
            Some(found) => found,
            None => {
                let victim = set
                    .iter()
                    .min_by_key(|word| word.load(Ordering::Relaxed) & TAT_MASK)
                    .expect("a set has words");
                let old = victim.load(Ordering::Acquire);
                let fresh = (tag << TAT_BITS) | now;
                if victim
                    .compare_exchange(old, fresh, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    continue;
                }
                (victim, fresh)
            }
        };
        let tat = (value & TAT_MASK).max(now);
        if tat - now > tolerance {
            return Err(tat - now - tolerance);
        }
        let next = (tag << TAT_BITS) | ((tat + interval) & TAT_MASK);
        if word
            .compare_exchange(value, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn table(words: usize) -> Vec<AtomicU64> {
        (0..words).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn a_burst_then_one_per_interval() {
        let t = table(64);
        let rate = Rate {
            burst: 3,
            interval: Duration::from_secs(10),
        };
        let now = 1_767_225_600_000;
        for _ in 0..3 {
            assert_eq!(admit(&t, 42, now, rate), Ok(()));
        }
        assert_eq!(admit(&t, 42, now, rate), Err(10_000));
        assert_eq!(admit(&t, 42, now + 4_000, rate), Err(6_000));
        assert_eq!(admit(&t, 7, now, rate), Ok(()), "another client");
        assert_eq!(admit(&t, 42, now + 10_000, rate), Ok(()));
        assert_eq!(admit(&t, 42, now + 10_000, rate), Err(10_000));
        // Idle long enough, the bucket is full again.
        for _ in 0..3 {
            assert_eq!(admit(&t, 42, now + 60_000, rate), Ok(()));
        }
    }

    #[test]
    fn threads_never_take_more_than_the_burst() {
        let t = std::sync::Arc::new(table(WAYS * 4));
        let rate = Rate {
            burst: 100,
            interval: Duration::from_secs(3600),
        };
        let now = 1_767_225_600_000;
        let admitted: usize = (0..4)
            .map(|_| {
                let t = std::sync::Arc::clone(&t);
                std::thread::spawn(move || {
                    (0..200)
                        .filter(|_| admit(&t, 99, now, rate).is_ok())
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(admitted, 100);
    }

    #[test]
    fn a_full_set_evicts_the_fullest_bucket() {
        let t = table(WAYS);
        let rate = Rate {
            burst: 1,
            interval: Duration::from_secs(60),
        };
        let now = 1_767_225_600_000;
        // Keys with distinct tags, all in the one set.
        let key = |i: u64| (i + 1) << TAT_BITS;
        for i in 0..WAYS as u64 {
            assert_eq!(admit(&t, key(i), now + i, rate), Ok(()));
        }
        assert!(admit(&t, key(3), now + 100, rate).is_err());
        // A newcomer takes the oldest word (client 0's), not client 3's.
        assert_eq!(admit(&t, key(100), now + 100, rate), Ok(()));
        assert!(admit(&t, key(3), now + 100, rate).is_err());
    }
}
