//! What the answers must be, computed by brute force from the generator.

use reviews::generate::{Generator, Scalars};
use serde_json::Value;

/// The visible reviews of `product` in the data set, by brute force.
pub fn visible_reviews(g: &Generator, product: u64) -> Vec<Scalars> {
    (1..=g.data_set().records)
        .map(|id| g.scalars(id))
        .filter(|s| s.product_id == product && !s.reported)
        .collect()
}

/// The review ids of a page body, in order.
pub fn review_ids(page: &Value) -> Vec<u64> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["review_id"].as_u64().unwrap())
        .collect()
}
