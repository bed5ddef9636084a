//! JSON bodies of the API, serialized straight from store results: what
//! the cache keeps and a hit sends as it is. `reviewer_email` and
//! `reported` have no field here, so they can never leak.

use serde::Serialize;

use crate::model::{Meta, Page, PageQuery, Photo, Review, UtcDate};

#[derive(Serialize)]
struct PageBody<'a> {
    product_id: u64,
    page: u32,
    count: u32,
    total: u64,
    results: Vec<ReviewBody<'a>>,
}

#[derive(Serialize)]
struct ReviewBody<'a> {
    review_id: u64,
    rating: u8,
    summary: &'a str,
    recommend: bool,
    response: Option<&'a str>,
    body: &'a str,
    date: UtcDate,
    reviewer_name: &'a str,
    helpfulness: u32,
    photos: &'a [Photo],
}

impl<'a> From<&'a Review> for ReviewBody<'a> {
    fn from(r: &'a Review) -> Self {
        ReviewBody {
            review_id: r.review_id,
            rating: r.rating,
            summary: &r.summary,
            recommend: r.recommend,
            response: r.response.as_deref(),
            body: &r.body,
            date: UtcDate(r.date),
            reviewer_name: &r.reviewer_name,
            helpfulness: r.helpfulness,
            photos: &r.photos,
        }
    }
}

#[derive(Serialize)]
struct ReportedBody<'a> {
    results: Vec<ReportedReview<'a>>,
    next_before: Option<u64>,
}

#[derive(Serialize)]
struct ReportedReview<'a> {
    product_id: u64,
    #[serde(flatten)]
    review: ReviewBody<'a>,
}

/// The body of `GET /admin/reported`: the reviews (with their product, not
/// their email) and the `before` of the next page (`null` on the last).
pub fn reported(reviews: &[Review], next_before: Option<u64>) -> Vec<u8> {
    let body = ReportedBody {
        results: reviews
            .iter()
            .map(|r| ReportedReview {
                product_id: r.product_id,
                review: ReviewBody::from(r),
            })
            .collect(),
        next_before,
    };
    serde_json::to_vec(&body).expect("reported body serializes")
}

/// The body of `GET /reviews/:product_id`.
pub fn page(query: &PageQuery, page: &Page) -> Vec<u8> {
    let body = PageBody {
        product_id: query.product_id,
        page: query.page,
        count: query.count,
        total: page.total,
        results: page.reviews.iter().map(ReviewBody::from).collect(),
    };
    serde_json::to_vec(&body).expect("page body serializes")
}

#[derive(Serialize)]
struct MetaBody {
    product_id: u64,
    total: u64,
    average: Option<f64>,
    ratings: Ratings,
    recommended: Recommended,
}

#[derive(Serialize)]
struct Ratings {
    #[serde(rename = "1")]
    one: u32,
    #[serde(rename = "2")]
    two: u32,
    #[serde(rename = "3")]
    three: u32,
    #[serde(rename = "4")]
    four: u32,
    #[serde(rename = "5")]
    five: u32,
}

#[derive(Serialize)]
struct Recommended {
    #[serde(rename = "true")]
    yes: u32,
    #[serde(rename = "false")]
    no: u32,
}

/// The body of `GET /reviews/:product_id/meta`.
pub fn meta(product_id: u64, meta: &Meta) -> Vec<u8> {
    let [one, two, three, four, five] = meta.ratings;
    let body = MetaBody {
        product_id,
        total: meta.total(),
        average: meta.average(),
        ratings: Ratings {
            one,
            two,
            three,
            four,
            five,
        },
        recommended: Recommended {
            yes: meta.recommended,
            no: meta.not_recommended,
        },
    };
    serde_json::to_vec(&body).expect("meta body serializes")
}

/// The body of every error: `{"error": "<message>"}`.
pub fn error(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "error": message })).expect("a JSON object serializes")
}

/// The body of a created review: `{"review_id": n}`.
pub fn created(review_id: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "review_id": review_id })).expect("JSON")
}
