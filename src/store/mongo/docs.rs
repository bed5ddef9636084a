//! How reviews and meta look as BSON documents, both ways.
//!
//! Integers are stored as Int64 (ratings as Int32); readers accept Int32,
//! Int64 or a whole Double, since shells and other tools write all three.

use mongodb::bson::{Bson, Document, doc};

use crate::model::{Characteristic, CharacteristicRatings, Characteristics, Meta, Photo, Review};
use crate::store::StoreError;

/// The meta counter fields, in [`Meta`] order: ratings 1..5, then recommended
/// and not recommended.
pub(super) const META_FIELDS: [&str; 7] = ["r1", "r2", "r3", "r4", "r5", "rec_true", "rec_false"];

/// A review as a document: every field, plus `relevance`, the `relevant`
/// sort key kept beside the fields it is computed from so that order can
/// be read from an index (votes add a year's worth to it), and
/// `has_photos`, so the photo filter can be read from one. Its ratings of
/// the characteristics are `characteristics: {"Fit": 4, …}`, by name.
pub(super) fn review_doc(r: &Review) -> Document {
    let photos: Vec<Bson> = r
        .photos
        .iter()
        .map(|p| Bson::Document(doc! { "id": p.id as i64, "url": &p.url }))
        .collect();
    doc! {
        "_id": r.review_id as i64,
        "product_id": r.product_id as i64,
        "rating": i32::from(r.rating),
        "summary": &r.summary,
        "body": &r.body,
        "recommend": r.recommend,
        "reported": r.reported,
        "reviewer_name": &r.reviewer_name,
        "reviewer_email": &r.reviewer_email,
        "response": r.response.as_deref().map_or(Bson::Null, |s| Bson::String(s.to_string())),
        "helpfulness": i64::from(r.helpfulness),
        "date": r.date,
        "relevance": Review::relevance(r.helpfulness, r.date),
        "has_photos": !r.photos.is_empty(),
        "photos": photos,
        "characteristics": ratings_doc(&r.characteristics),
    }
}

/// A review's ratings of the characteristics, by name.
fn ratings_doc(rated: &CharacteristicRatings) -> Document {
    rated
        .iter()
        .map(|(kind, value)| (kind.name().to_string(), Bson::Int32(i32::from(value))))
        .collect()
}

/// A review's ratings of the characteristics from its (projected)
/// document; none when it has no `characteristics` (written before them).
pub(super) fn ratings_from(d: &Document) -> Result<CharacteristicRatings, StoreError> {
    let mut rated = CharacteristicRatings::default();
    if let Ok(by_name) = d.get_document("characteristics") {
        for (name, _) in by_name {
            let kind = Characteristic::parse(name)
                .ok_or_else(|| StoreError::Corrupt(format!("characteristic {name}")))?;
            let value = int(by_name, name)?;
            if !(1..=5).contains(&value) {
                return Err(StoreError::Corrupt(format!("{name} rated {value}")));
            }
            rated.set(kind, value as u8);
        }
    }
    Ok(rated)
}

/// The meta document of a product, all seven counters set, and its
/// characteristics: `characteristics: {"Fit": {"id": 5, "sum": 35,
/// "count": 11}, …}`, by name (a product has at most one of each).
pub(super) fn meta_doc(product_id: u64, m: &Meta) -> Document {
    let mut d = doc! { "_id": product_id as i64 };
    for (field, n) in META_FIELDS.iter().zip(meta_counts(m)) {
        d.insert(*field, i64::from(n));
    }
    let scales: Document = m
        .characteristics
        .iter()
        .map(|s| {
            let scale = doc! { "id": s.id as i64, "sum": s.sum as i64, "count": s.count as i64 };
            (s.kind.name().to_string(), Bson::Document(scale))
        })
        .collect();
    d.insert("characteristics", scales);
    d
}

/// The `$inc` that counts one review with `rating`, `recommend` and its
/// ratings of the characteristics (`rated`, each one the product has) in
/// (`by` = 1) or out (-1). It names all seven counters, zeros for the
/// untouched ones, so an upsert creates a complete document.
pub(super) fn meta_inc(
    rating: u8,
    recommend: bool,
    rated: &CharacteristicRatings,
    by: i64,
) -> Document {
    let mut one = Meta::default();
    one.add(rating, recommend, &CharacteristicRatings::default());
    let mut inc = Document::new();
    for (field, n) in META_FIELDS.iter().zip(meta_counts(&one)) {
        inc.insert(*field, by * i64::from(n));
    }
    for (kind, value) in rated.iter() {
        let at = format!("characteristics.{}", kind.name());
        inc.insert(format!("{at}.sum"), by * i64::from(value));
        inc.insert(format!("{at}.count"), by);
    }
    doc! { "$inc": inc }
}

/// Meta from its document. A missing counter reads as 0, as a missing
/// document does: documents upserted by older versions held only the
/// counters they incremented.
pub(super) fn meta_from(d: &Document) -> Result<Meta, StoreError> {
    let mut counts = [0u32; 7];
    for (n, field) in counts.iter_mut().zip(META_FIELDS) {
        if d.contains_key(field) {
            *n = int(d, field)?.clamp(0, i64::from(u32::MAX)) as u32;
        }
    }
    let [r1, r2, r3, r4, r5, recommended, not_recommended] = counts;
    let mut characteristics = Characteristics::default();
    if let Ok(scales) = d.get_document("characteristics") {
        for (name, scale) in scales {
            let bad = |why: &str| StoreError::Corrupt(format!("characteristic {name}: {why}"));
            let kind = Characteristic::parse(name).ok_or_else(|| bad("unknown"))?;
            let scale = scale.as_document().ok_or_else(|| bad("not a document"))?;
            let count = |k: &str| -> Result<u64, StoreError> {
                Ok(if scale.contains_key(k) {
                    int(scale, k)?.max(0) as u64
                } else {
                    0
                })
            };
            characteristics
                .define(kind, int(scale, "id")? as u64)
                .map_err(|e| bad(&e.0))?;
            characteristics.set_sums(kind, count("sum")?, count("count")?);
        }
    }
    Ok(Meta {
        ratings: [r1, r2, r3, r4, r5],
        recommended,
        not_recommended,
        characteristics,
    })
}

/// A product's version from its meta document (or a change entry): its
/// `v`, 0 when it has none (no write since the load).
pub(super) fn version_from(d: &Document) -> Result<u64, StoreError> {
    if d.contains_key("v") {
        Ok(int(d, "v")?.max(0) as u64)
    } else {
        Ok(0)
    }
}

fn meta_counts(m: &Meta) -> [u32; 7] {
    let [r1, r2, r3, r4, r5] = m.ratings;
    [r1, r2, r3, r4, r5, m.recommended, m.not_recommended]
}

/// A review from a (projected) document; absent email and flag read as empty.
pub(super) fn review_from(d: &Document) -> Result<Review, StoreError> {
    let text = |k: &str| {
        d.get_str(k)
            .map(str::to_string)
            .map_err(|e| StoreError::Corrupt(format!("{k}: {e}")))
    };
    let photos = match d.get_array("photos") {
        Ok(list) => list
            .iter()
            .map(|p| {
                let p = p
                    .as_document()
                    .ok_or_else(|| StoreError::Corrupt("photo".into()))?;
                let url = p
                    .get_str("url")
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(Photo {
                    id: int(p, "id")? as u64,
                    url: url.to_string(),
                })
            })
            .collect::<Result<_, StoreError>>()?,
        Err(_) => Vec::new(),
    };
    Ok(Review {
        review_id: int(d, "_id")? as u64,
        product_id: int(d, "product_id")? as u64,
        rating: int(d, "rating")? as u8,
        summary: text("summary")?,
        body: text("body")?,
        recommend: d
            .get_bool("recommend")
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        reported: d.get_bool("reported").unwrap_or(false),
        reviewer_name: text("reviewer_name")?,
        reviewer_email: d.get_str("reviewer_email").unwrap_or_default().to_string(),
        response: d.get_str("response").ok().map(str::to_string),
        helpfulness: int(d, "helpfulness")?.clamp(0, i64::from(u32::MAX)) as u32,
        date: int(d, "date")?,
        photos,
        characteristics: ratings_from(d)?,
    })
}

/// An integer field stored as Int32, Int64 or a whole Double.
pub(super) fn int(d: &Document, key: &str) -> Result<i64, StoreError> {
    match d.get(key) {
        Some(Bson::Int32(n)) => Ok(i64::from(*n)),
        Some(Bson::Int64(n)) => Ok(*n),
        Some(Bson::Double(f)) if f.fract() == 0.0 => Ok(*f as i64),
        other => Err(StoreError::Corrupt(format!("field {key}: {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{DataSet, Generator};

    #[test]
    fn reviews_round_trip_with_their_relevance() {
        let g = Generator::new(DataSet::new(3, 500, None));
        for id in 1..=500 {
            let r = g.record(id);
            let d = review_doc(&r);
            assert_eq!(
                int(&d, "relevance").unwrap(),
                Review::relevance(r.helpfulness, r.date)
            );
            assert_eq!(review_from(&d).unwrap(), r);
        }
    }

    #[test]
    fn meta_upserts_name_every_counter_and_missing_ones_read_as_zero() {
        let inc = meta_inc(2, false, &CharacteristicRatings::default(), 1);
        let inc = inc.get_document("$inc").unwrap();
        assert_eq!(inc.len(), 7);
        assert_eq!(int(inc, "r2").unwrap(), 1);
        assert_eq!(int(inc, "rec_false").unwrap(), 1);
        assert_eq!(int(inc, "r1").unwrap(), 0);

        // What an older version's first write left behind.
        let partial = doc! { "_id": 19820_i64, "r2": 1_i64, "rec_false": 1_i64 };
        let mut expected = Meta::default();
        expected.add(2, false, &CharacteristicRatings::default());
        assert_eq!(meta_from(&partial).unwrap(), expected);
        assert_eq!(meta_from(&meta_doc(19820, &expected)).unwrap(), expected);
        assert_eq!(meta_from(&doc! {}).unwrap(), Meta::default());
    }
}
