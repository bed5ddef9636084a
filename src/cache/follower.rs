//! How cached copies follow writes across processes.
//!
//! The writing process drops its own copies before it answers (L1 at once,
//! Redis with a `DEL`). Every other process — workers of this host, or
//! other hosts on the same store — learns of the write from the store's
//! change log ([`Store::changes_since`]), which [`follow`] polls every
//! [`POLL_EVERY`], and drops its L1 copies and the Redis key too (a second
//! delete that also clears a copy a concurrent miss may have put back).
//! So a write is visible in the writing process at once and in every
//! process within [`POLL_EVERY`] plus one poll's duration: well under 1 s.
//! The log lives in the store, so this needs no Redis and no change streams.

use std::time::Duration;

use super::ReadThrough;
use crate::store::Store;

/// How often each process polls the store's change log.
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// Polls `store`'s change log forever, invalidating in `cache` what
/// changed. If the log no longer reaches back to the last poll, all of L1
/// is dropped.
pub async fn follow<S: Store>(cache: &ReadThrough, store: &S) {
    let mut cursor = None;
    let mut ticks = tokio::time::interval(POLL_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let changes = match store.changes_since(cursor).await {
            Ok(changes) => changes,
            Err(e) => {
                tracing::debug!("cannot read the change log: {e}");
                continue;
            }
        };
        if cursor.is_some() {
            if !changes.complete {
                tracing::warn!("missed part of the change log; dropping all of L1");
                cache.invalidate_all();
            }
            for product in changes.products {
                cache.invalidate(product).await;
            }
        }
        cursor = Some(changes.cursor);
    }
}
