//! What the answers must be, computed by brute force from the generator.

use reviews::generate::{DataSet, Generator, Scalars};
use reviews::startup::DEMO_SEED;
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

/// The `characteristics` a new review of `product` of a demo data set
/// sends, each rated `value`: every one of the product's, keyed by id. A
/// product's characteristics depend only on the seed and its id, so this
/// holds for a demo data set of any size.
pub fn characteristics(product: u64, value: u8) -> Value {
    let g = Generator::new(DataSet::new(DEMO_SEED, 1, None));
    g.characteristics(product)
        .iter()
        .map(|s| (s.id.to_string(), Value::from(value)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}
