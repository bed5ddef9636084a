//! How many filtered views of one product may enter the cache: a client
//! can ask for any combination of stars, photos and search words, and
//! every one is a different response. Without a bound, a loop over
//! searches would fill L1 (and Redis) with entries no one reads again,
//! pushing out the pages shoppers do read.
//!
//! Each product admits at most [`PER_PRODUCT`] distinct filtered views per
//! window (the cache's TTL) in each process; a filtered view past that is
//! still answered, coalesced by single flight, but from the store and
//! cached nowhere. Unfiltered views and meta are never counted.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use super::key::CacheKey;
use crate::hash::mix;

/// Distinct filtered views of one product cached per window and process.
pub const PER_PRODUCT: usize = 32;
/// Products a shard remembers before it forgets those past their window;
/// past that (all within their window), new products' filtered views are
/// not cached until some window ends.
const PRODUCTS_PER_SHARD: usize = 1024;
const SHARDS: usize = 64;

/// The admitted filtered views of each product (see the module docs).
pub struct Variants {
    shards: Box<[Mutex<HashMap<u64, Admitted>>]>,
    /// Hashes views: keyed per process, as searches are the client's words.
    hasher: RandomState,
    window_ms: u64,
}

/// One product's admitted views in its current window.
struct Admitted {
    since_ms: u64,
    views: Vec<u64>,
}

impl Variants {
    /// Admission by windows of `window`.
    pub fn new(window: std::time::Duration) -> Variants {
        Variants {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            window_ms: window.as_millis().max(1) as u64,
        }
    }

    /// Whether `key`'s responses may be cached at `now_ms`: always for an
    /// unfiltered view; for a filtered one, if it is one of its product's
    /// first [`PER_PRODUCT`] filtered views of the window.
    pub fn admit(&self, key: &CacheKey, now_ms: u64) -> bool {
        if !key.is_filtered() {
            return true;
        }
        let view = self.hasher.hash_one(&key.view);
        let shard = &self.shards[(mix(key.product_id) as usize) % SHARDS];
        let mut products = shard.lock().expect("variants lock");
        if products.len() >= PRODUCTS_PER_SHARD && !products.contains_key(&key.product_id) {
            products.retain(|_, a| now_ms.saturating_sub(a.since_ms) < self.window_ms);
            if products.len() >= PRODUCTS_PER_SHARD {
                return false;
            }
        }
        let admitted = products.entry(key.product_id).or_insert(Admitted {
            since_ms: now_ms,
            views: Vec::new(),
        });
        if now_ms.saturating_sub(admitted.since_ms) >= self.window_ms {
            admitted.since_ms = now_ms;
            admitted.views.clear();
        }
        if admitted.views.contains(&view) {
            return true;
        }
        if admitted.views.len() >= PER_PRODUCT {
            return false;
        }
        admitted.views.push(view);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Filter, PageQuery, Sort, Words};

    fn searched(product_id: u64, words: &str) -> CacheKey {
        CacheKey::page(&PageQuery {
            product_id,
            page: 1,
            count: 5,
            sort: Sort::Relevant,
            filter: Filter {
                words: Words::parse(words).unwrap(),
                ..Filter::default()
            },
        })
    }

    #[test]
    fn a_product_admits_a_bounded_number_of_filtered_views_per_window() {
        let variants = Variants::new(std::time::Duration::from_secs(10));
        let words: Vec<String> = (0..PER_PRODUCT + 5).map(|i| format!("word{i}")).collect();
        for w in &words[..PER_PRODUCT] {
            assert!(variants.admit(&searched(7, w), 1_000));
        }
        assert!(!variants.admit(&searched(7, &words[PER_PRODUCT]), 1_000));
        assert!(
            variants.admit(&searched(7, &words[0]), 2_000),
            "admitted stays admitted"
        );
        assert!(
            variants.admit(&searched(8, &words[PER_PRODUCT]), 2_000),
            "per product"
        );
        assert!(
            variants.admit(&CacheKey::meta(7), 2_000),
            "unfiltered views always"
        );
        let unfiltered = searched(7, " ");
        assert!(!unfiltered.is_filtered());
        assert!(variants.admit(&unfiltered, 2_000));
        assert!(
            variants.admit(&searched(7, &words[PER_PRODUCT]), 11_000),
            "a new window"
        );
    }
}
