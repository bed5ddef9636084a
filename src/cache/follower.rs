//! How cached copies follow writes across processes.
//!
//! A write's version is known to the writing process before it answers,
//! so its next read shows the write. Every other process — workers of this
//! host, or other hosts on the same store — learns of the write from the
//! store's change log ([`Store::changes_since`]), which [`follow`] polls
//! every [`POLL_EVERY`], raising the version it requires of the product's
//! copies (see [`super::versions`]): within [`POLL_EVERY`] plus one poll's
//! duration, well under 1 s. Nothing is deleted: older copies in L1 or
//! Redis just stop being served. The log lives in the store, so this needs
//! no Redis and no change streams.

use std::time::Duration;

use super::ReadThrough;
use crate::clock::now_ms;
use crate::store::{Changes, Store};

/// How often each process polls the store's change log.
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// The first look at `store`'s change log: copies read from its start on
/// are trusted, at the versions of the recent writes it lists; the cursor
/// is where [`follow`] starts. On failure nothing cached is trusted until a
/// look succeeds.
pub async fn start<S: Store>(cache: &ReadThrough, store: &S) -> Option<u64> {
    let began = now_ms();
    match store.changes_since(None).await {
        Ok(changes) => {
            learn(cache, &changes);
            cache.start_at(began);
            Some(changes.cursor)
        }
        Err(e) => {
            tracing::warn!("cannot read the change log at start: {e}; trusting no cached copy yet");
            None
        }
    }
}

/// Polls `store`'s change log forever from `cursor`, telling `cache` of
/// every write made elsewhere, all of a poll's products at once; each poll
/// that the store answers is reported to `answered` (a sign of life the
/// store's circuit breaker can close on without waiting for traffic).
pub async fn follow<S: Store>(
    cache: &ReadThrough,
    store: &S,
    mut cursor: Option<u64>,
    answered: impl Fn(),
) {
    let mut ticks = tokio::time::interval(POLL_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let began = now_ms();
        let changes = match store.changes_since(cursor).await {
            Ok(changes) => {
                answered();
                changes
            }
            Err(e) => {
                tracing::debug!("cannot read the change log: {e}");
                continue;
            }
        };
        learn(cache, &changes);
        match cursor {
            None => cache.start_at(began),
            Some(_) if !changes.complete => {
                tracing::warn!("missed part of the change log; no older copy is served");
                cache.all_written(began);
            }
            Some(_) => {}
        }
        cursor = Some(changes.cursor);
    }
}

/// Tells `cache` of every write a poll listed.
fn learn(cache: &ReadThrough, changes: &Changes) {
    for changed in &changes.products {
        cache.written(changed.product_id, changed.version);
    }
}
