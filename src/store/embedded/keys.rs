//! Key and value layouts of the record, index, meta and change databases.

use crate::model::{Characteristic, Characteristics, Meta};
use crate::store::StoreError;

/// The key of a review in `records` and in `by_product`: product_id (u64
/// BE) ‖ review_id (u64 BE), so a product's reviews are neighbours.
pub(super) fn review_key(product_id: u64, review_id: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&product_id.to_be_bytes());
    key[8..].copy_from_slice(&review_id.to_be_bytes());
    key
}

/// The key of a visible review in `by_facet`: product_id (u64 BE) ‖
/// rating (u8) ‖ has photos (u8, 0 or 1) ‖ review_id (u64 BE), so the
/// reviews of one product with given stars and photos are neighbours.
pub(super) fn facet_key(product_id: u64, rating: u8, photos: bool, review_id: u64) -> [u8; 18] {
    let mut key = [0; 18];
    key[..10].copy_from_slice(&facet_prefix(product_id, rating, photos));
    key[10..].copy_from_slice(&review_id.to_be_bytes());
    key
}

/// The first bytes of the [`facet_key`]s of one product's reviews with
/// `rating` stars and (or without) photos.
pub(super) fn facet_prefix(product_id: u64, rating: u8, photos: bool) -> [u8; 10] {
    let mut key = [0; 10];
    key[..8].copy_from_slice(&product_id.to_be_bytes());
    key[8] = rating;
    key[9] = u8::from(photos);
    key
}

/// A `by_facet` entry's value: what orders the review.
pub(super) fn index_value(date: i64, helpfulness: u32) -> [u8; 8] {
    let mut value = [0; 8];
    value[..4].copy_from_slice(&(date as u32).to_le_bytes());
    value[4..].copy_from_slice(&helpfulness.to_le_bytes());
    value
}

/// The review id of a [`review_key`].
pub(super) fn review_of(key: &[u8]) -> Result<u64, StoreError> {
    let id = key.get(8..16).and_then(|k| k.try_into().ok());
    let id = id.ok_or_else(|| StoreError::Corrupt("review key".into()))?;
    Ok(u64::from_be_bytes(id))
}

/// A `by_facet` entry: (review id, rating, date, helpfulness).
pub(super) fn decode_index(key: &[u8], value: &[u8]) -> Result<(u64, u8, i64, u32), StoreError> {
    let bad = || StoreError::Corrupt("index entry".into());
    let id = key
        .get(10..18)
        .and_then(|k| k.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(bad)?;
    let rating = *key.get(8).ok_or_else(bad)?;
    let date: [u8; 4] = value
        .get(..4)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    let help: [u8; 4] = value
        .get(4..8)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    Ok((
        id,
        rating,
        i64::from(u32::from_le_bytes(date)),
        u32::from_le_bytes(help),
    ))
}

/// Bytes of one characteristic in a meta value: kind, id, sum, count.
const SCALE_BYTES: usize = 1 + 8 + 8 + 8;

/// A `meta` value: the seven counters (u32 LE: ratings 1..5, recommended,
/// not), then each characteristic: kind (u8, its index), id, sum of
/// ratings and count of ratings (u64 LE each). Values written before
/// characteristics hold the counters alone.
pub(super) fn encode_meta(meta: &Meta) -> Vec<u8> {
    let scales = meta.characteristics.len();
    let mut out = Vec::with_capacity(28 + scales * SCALE_BYTES);
    let fields = meta
        .ratings
        .iter()
        .chain([&meta.recommended, &meta.not_recommended]);
    for value in fields {
        out.extend_from_slice(&value.to_le_bytes());
    }
    for s in meta.characteristics.iter() {
        out.push(s.kind.index() as u8);
        for n in [s.id, s.sum, s.count] {
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
    out
}

pub(super) fn decode_meta(raw: &[u8]) -> Result<Meta, StoreError> {
    let bad = || StoreError::Corrupt("meta entry".into());
    if raw.len() < 28 || !(raw.len() - 28).is_multiple_of(SCALE_BYTES) {
        return Err(bad());
    }
    let (counters, scales) = raw.split_at(28);
    let mut fields = counters
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()));
    let mut next = || fields.next().unwrap_or(0);
    let mut meta = Meta {
        ratings: [next(), next(), next(), next(), next()],
        recommended: next(),
        not_recommended: next(),
        characteristics: Characteristics::default(),
    };
    for scale in scales.chunks_exact(SCALE_BYTES) {
        let kind = Characteristic::ALL
            .get(usize::from(scale[0]))
            .copied()
            .ok_or_else(bad)?;
        let n = |at: usize| u64::from_le_bytes(scale[at..at + 8].try_into().unwrap());
        meta.characteristics
            .define(kind, n(1))
            .map_err(|e| StoreError::Corrupt(format!("meta entry: {e}")))?;
        meta.characteristics.set_sums(kind, n(9), n(17));
    }
    Ok(meta)
}
