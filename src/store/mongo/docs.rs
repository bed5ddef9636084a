//! How reviews and meta look as BSON documents, both ways.

use mongodb::bson::{Bson, Document, doc};

use crate::model::{Meta, Photo, Review};
use crate::store::StoreError;

/// A review as a document (every field; reads project some away).
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
        "photos": photos,
    }
}

pub(super) fn meta_doc(product_id: u64, m: &Meta) -> Document {
    doc! {
        "_id": product_id as i64,
        "r1": i64::from(m.ratings[0]), "r2": i64::from(m.ratings[1]), "r3": i64::from(m.ratings[2]),
        "r4": i64::from(m.ratings[3]), "r5": i64::from(m.ratings[4]),
        "rec_true": i64::from(m.recommended), "rec_false": i64::from(m.not_recommended),
    }
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
