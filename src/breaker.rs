//! A circuit breaker, for any backend a request may wait on (Redis, the
//! store): after a few failures in a row it opens, and requests skip the
//! backend instead of paying its timeout; after a cooldown one probe is let
//! through, and its success closes the breaker again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are skipped until the cooldown ends.
    Open,
    /// One probe is in flight; other calls are skipped.
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { since: Instant },
}

/// The breaker: `allow` before a call, then `success` or `failure`.
#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    /// Opens after `threshold` consecutive failures, probes after `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold,
            cooldown,
        }
    }

    /// Whether a call may go ahead now. When the cooldown is over, the first
    /// caller becomes the probe; a probe that never reported back (its
    /// request was cancelled) is replaced after another cooldown.
    pub fn allow(&self) -> bool {
        let mut state = self.state.lock().expect("breaker lock");
        let now = Instant::now();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } | State::HalfOpen { since: until } if now < until => false,
            State::Open { .. } | State::HalfOpen { .. } => {
                *state = State::HalfOpen {
                    since: now + self.cooldown,
                };
                true
            }
        }
    }

    /// Whether calls go through now, without becoming the probe.
    pub fn allow_peek(&self) -> bool {
        matches!(
            *self.state.lock().expect("breaker lock"),
            State::Closed { .. }
        )
    }

    /// The call succeeded: close. True when this closed a breaker that was
    /// open or probing (the backend is back).
    pub fn success(&self) -> bool {
        close(&mut self.state.lock().expect("breaker lock"))
    }

    /// A call let through earlier succeeded: as [`Breaker::success`], except
    /// that an open breaker stays open — a call that began before it opened
    /// says little about the backend now (an overloaded one answers late);
    /// only calls let through since, the probe's first, close it. True when
    /// this closed it.
    pub fn answered(&self) -> bool {
        let mut state = self.state.lock().expect("breaker lock");
        !matches!(*state, State::Open { .. }) && close(&mut state)
    }

    /// The call failed or timed out: count it, open at the threshold. True
    /// when this opened a closed breaker (the backend is lost).
    pub fn failure(&self) -> bool {
        let mut state = self.state.lock().expect("breaker lock");
        let open = State::Open {
            until: Instant::now() + self.cooldown,
        };
        let (next, opened) = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => (
                State::Closed {
                    failures: failures + 1,
                },
                false,
            ),
            State::Closed { .. } => (open, true),
            _ => (open, false),
        };
        *state = next;
        opened
    }

    /// Opens now, whatever the count (someone else saw the backend fail).
    /// True when the breaker was closed.
    pub fn trip(&self) -> bool {
        let mut state = self.state.lock().expect("breaker lock");
        let opened = matches!(*state, State::Closed { .. });
        *state = State::Open {
            until: Instant::now() + self.cooldown,
        };
        opened
    }

    /// The current state, for metrics and tests.
    pub fn state(&self) -> BreakerState {
        match *self.state.lock().expect("breaker lock") {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// Closes `state`; true when it was not closed.
fn close(state: &mut State) -> bool {
    let was_closed = matches!(*state, State::Closed { .. });
    if !matches!(*state, State::Closed { failures: 0 }) {
        *state = State::Closed { failures: 0 };
    }
    !was_closed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_recovers_through_one_probe() {
        let b = Breaker::new(3, Duration::from_millis(30));
        assert!(!b.failure());
        assert!(!b.failure());
        assert!(b.allow(), "still closed below the threshold");
        assert!(!b.success(), "closed already: nothing came back");
        assert!(!b.failure());
        assert!(!b.failure());
        assert!(b.failure(), "the third failure in a row opens it");
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow(), "the first call after the cooldown probes");
        assert!(!b.allow(), "only one probe at a time");
        assert!(!b.failure(), "a failed probe reopens, without opening anew");
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        assert!(b.success(), "the probe's success closes it");
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow() && b.allow());
    }

    #[test]
    fn a_late_answer_does_not_close_an_open_breaker() {
        let b = Breaker::new(1, Duration::from_millis(30));
        assert!(b.failure());
        assert!(!b.answered(), "a call from before it opened");
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow(), "the probe");
        assert!(b.answered(), "the probe's answer closes it");
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(!b.answered(), "closed already");
    }

    #[test]
    fn a_trip_opens_at_once() {
        let b = Breaker::new(3, Duration::from_millis(30));
        assert!(b.trip());
        assert!(!b.allow());
        assert!(!b.trip(), "open already");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow(), "then probes like any open breaker");
    }
}
