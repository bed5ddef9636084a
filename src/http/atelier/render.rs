//! The Atelier dialect's bodies, rendered from the same store results as
//! the native ones and cached apart from them (as format `atelier`).
//!
//! - A page: `{"product": "2", "page": 0, "count": 5, "results": [...]}`:
//!   the product id as a string, `page` the zero-based index of the page
//!   (the first page is 0, as the Atelier documentation's example shows),
//!   and each review with `rating` and `helpfulness` as numbers,
//!   `response` always present (`null` when there is none), `date` with
//!   milliseconds (`2019-04-14T00:00:00.000Z`) and `photos` as `[{id,
//!   url}]`.
//! - Meta: `product_id`, every count and average as a string (what the
//!   live Atelier API answered and its front ends coerce), all five
//!   `ratings` keys, both `recommended` keys (`"false"` and `"true"`) even
//!   at zero, and `characteristics: {"Fit": {"id": 1, "value":
//!   "3.1818181818181818"}}` (`value` null before any rating).

use crate::model::{Meta, PageQuery, PageView, ReviewView};
use crate::service::products::PhotoBase;
use crate::service::render::{Dates, Format, json_number, json_string, review_fields};

/// The Atelier reviews API's bodies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Atelier;

impl Format for Atelier {
    const NAME: &'static str = "atelier";

    fn page(&self, query: &PageQuery, page: PageView<'_, '_>, photos: &PhotoBase) -> Vec<u8> {
        let text: usize = page
            .reviews
            .iter()
            .map(|r| r.summary.len() + r.body.len() + r.reviewer_name.len() + 256)
            .sum();
        let mut out = Vec::with_capacity(64 + text + text / 16);
        out.extend_from_slice(b"{\"product\":\"");
        json_number(&mut out, query.product_id);
        out.extend_from_slice(b"\",\"page\":");
        json_number(&mut out, u64::from(query.page - 1));
        out.extend_from_slice(b",\"count\":");
        json_number(&mut out, u64::from(query.count));
        out.extend_from_slice(b",\"results\":[");
        for (i, r) in page.reviews.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            review(&mut out, r, photos);
        }
        out.extend_from_slice(b"]}");
        out
    }

    fn meta(&self, product_id: u64, meta: &Meta) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"product_id\":\"");
        json_number(&mut out, product_id);
        out.extend_from_slice(b"\",\"ratings\":{");
        for (stars, n) in (1..=5u64).zip(meta.ratings) {
            if stars > 1 {
                out.push(b',');
            }
            out.push(b'"');
            json_number(&mut out, stars);
            out.extend_from_slice(b"\":\"");
            json_number(&mut out, u64::from(n));
            out.push(b'"');
        }
        out.extend_from_slice(b"},\"recommended\":{\"false\":\"");
        json_number(&mut out, u64::from(meta.not_recommended));
        out.extend_from_slice(b"\",\"true\":\"");
        json_number(&mut out, u64::from(meta.recommended));
        out.extend_from_slice(b"\"},\"characteristics\":{");
        for (i, scale) in meta.characteristics.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_string(&mut out, scale.kind.name());
            out.extend_from_slice(b":{\"id\":");
            json_number(&mut out, scale.id);
            out.extend_from_slice(b",\"value\":");
            match scale.average_decimal() {
                Some(value) => json_string(&mut out, &value),
                None => out.extend_from_slice(b"null"),
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"}}");
        out
    }
}

/// One review of an Atelier page: the native fields but its ratings of
/// the characteristics, its date with milliseconds.
fn review(out: &mut Vec<u8>, r: &ReviewView<'_>, photos: &PhotoBase) {
    review_fields(out, r, photos, Dates::Millis);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Characteristic, Characteristics, Filter, Photo, Review, ReviewView, Sort};

    #[test]
    fn pages_have_the_atelier_shape() {
        let r = Review {
            review_id: 5,
            product_id: 2,
            rating: 3,
            summary: "I'm enjoying wearing these shades".into(),
            body: "Comfortable and practical.".into(),
            recommend: false,
            reviewer_name: "shortandsweeet".into(),
            helpfulness: 5,
            date: 1_555_200_000,
            photos: vec![Photo {
                id: 1,
                url: "urlplaceholder/review_5_photo_number_1.jpg".into(),
            }],
            ..Review::default()
        };
        let views = [ReviewView::from(&r)];
        let q = PageQuery {
            product_id: 2,
            page: 1,
            count: 5,
            sort: Sort::Relevant,
            filter: Filter::default(),
        };
        let page = PageView {
            total: 1,
            reviews: &views,
        };
        let body = Atelier.page(&q, page, &PhotoBase::default());
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"product":"2","page":0,"count":5,"results":[{"review_id":5,"rating":3,"summary":"I'm enjoying wearing these shades","recommend":false,"response":null,"body":"Comfortable and practical.","date":"2019-04-14T00:00:00.000Z","reviewer_name":"shortandsweeet","helpfulness":5,"photos":[{"id":1,"url":"urlplaceholder/review_5_photo_number_1.jpg"}]}]}"#
        );
    }

    #[test]
    fn meta_has_every_key_and_strings_for_numbers() {
        let mut meta = Meta {
            ratings: [0, 1, 1, 2, 0],
            recommended: 4,
            not_recommended: 0,
            characteristics: Characteristics::new([
                (Characteristic::Size, 14),
                (Characteristic::Width, 15),
            ])
            .unwrap(),
        };
        meta.characteristics.set_sums(Characteristic::Size, 35, 11);
        let body: serde_json::Value =
            serde_json::from_slice(&Atelier.meta(2, &meta)).expect("valid JSON");
        assert_eq!(
            body,
            serde_json::json!({
                "product_id": "2",
                "ratings": {"1": "0", "2": "1", "3": "1", "4": "2", "5": "0"},
                "recommended": {"false": "0", "true": "4"},
                "characteristics": {
                    "Size": {"id": 14, "value": "3.1818181818181818"},
                    "Width": {"id": 15, "value": null}
                }
            })
        );
    }
}
