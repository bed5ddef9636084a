//! JSON bodies of the API, serialized straight from store results: what
//! the cache keeps and a hit sends as it is. `reviewer_email` and
//! `reported` have no field here, so they can never leak.
//!
//! A read is rendered in a [`Format`]: the native API's own ([`Native`],
//! this file), or a dialect the HTTP edge speaks, which brings its own
//! rendering of the same store results; each format's bodies are cached
//! apart.

use serde::Serialize;

use super::products::PhotoBase;
use crate::model::{
    CharacteristicRatings, Meta, PageQuery, PageView, Photo, Review, ReviewView, UtcDate,
};

/// How the service's reads are rendered into bodies: the native API
/// ([`Native`]) or a dialect of the HTTP edge.
pub trait Format: Sync {
    /// Tells this format's cached bodies from another's: `""` for the
    /// native API, a short name (letters) for a dialect.
    const NAME: &'static str;

    /// The body of one page of a product's reviews (see [`page`]).
    fn page(&self, query: &PageQuery, page: PageView<'_, '_>, photos: &PhotoBase) -> Vec<u8>;

    /// The body of a product's meta (see [`meta`]).
    fn meta(&self, product_id: u64, meta: &Meta) -> Vec<u8>;
}

/// The native API's bodies: [`page`] and [`meta`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Native;

impl Format for Native {
    const NAME: &'static str = "";

    fn page(&self, query: &PageQuery, view: PageView<'_, '_>, photos: &PhotoBase) -> Vec<u8> {
        page(query, view, photos)
    }

    fn meta(&self, product_id: u64, m: &Meta) -> Vec<u8> {
        meta(product_id, m)
    }
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
    characteristics: RatingsBody,
}

/// A review's ratings of the characteristics, by name: `{"Fit": 4, …}`.
struct RatingsBody(CharacteristicRatings);

impl Serialize for RatingsBody {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(kind, value)| (kind.name(), value)))
    }
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
            characteristics: RatingsBody(r.characteristics),
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

/// The body of `GET /reviews/:product_id`, written straight from the
/// borrowed reviews into one buffer sized for them (a page is the hot
/// path of every miss): the same bytes as serializing [`Review`]s field by
/// field, strings escaped by `serde_json`. Generated photos are shown
/// under `photos` (see [`PhotoBase`]).
pub fn page(query: &PageQuery, page: PageView<'_, '_>, photos: &PhotoBase) -> Vec<u8> {
    let text: usize = page
        .reviews
        .iter()
        .map(|r| {
            let urls: usize = r.photos().iter().map(|p| p.url.len() + 48).sum();
            r.summary.len()
                + r.body.len()
                + r.reviewer_name.len()
                + r.response.map_or(0, str::len)
                + urls
        })
        .sum();
    let mut out = Vec::with_capacity(96 + text + text / 16 + page.reviews.len() * 192);
    out.extend_from_slice(b"{\"product_id\":");
    json_number(&mut out, query.product_id);
    out.extend_from_slice(b",\"page\":");
    json_number(&mut out, u64::from(query.page));
    out.extend_from_slice(b",\"count\":");
    json_number(&mut out, u64::from(query.count));
    out.extend_from_slice(b",\"total\":");
    json_number(&mut out, page.total);
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

/// How a review's `date` is written: `2019-04-14T00:00:00Z` natively,
/// with milliseconds (`2019-04-14T00:00:00.000Z`) in the Atelier dialect.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dates {
    Seconds,
    Millis,
}

/// A review's fields as every dialect writes them, from `{"review_id"`
/// through its photos' closing `]`: the dialect adds what else it has and
/// closes the object.
pub fn review_fields(out: &mut Vec<u8>, r: &ReviewView<'_>, photos: &PhotoBase, dates: Dates) {
    out.extend_from_slice(b"{\"review_id\":");
    json_number(out, r.review_id);
    out.extend_from_slice(b",\"rating\":");
    json_number(out, u64::from(r.rating));
    out.extend_from_slice(b",\"summary\":");
    json_string(out, r.summary);
    out.extend_from_slice(if r.recommend {
        b",\"recommend\":true,\"response\":"
    } else {
        b",\"recommend\":false,\"response\":"
    });
    match r.response {
        Some(response) => json_string(out, response),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"body\":");
    json_string(out, r.body);
    out.extend_from_slice(b",\"date\":");
    match UtcDate(r.date).to_bytes() {
        Some(date) if dates == Dates::Millis => {
            out.push(b'"');
            out.extend_from_slice(&date[..19]);
            out.extend_from_slice(b".000Z\"");
        }
        Some(date) => {
            out.push(b'"');
            out.extend_from_slice(&date);
            out.push(b'"');
        }
        None => json_string(out, &UtcDate(r.date).to_string()),
    }
    out.extend_from_slice(b",\"reviewer_name\":");
    json_string(out, r.reviewer_name);
    out.extend_from_slice(b",\"helpfulness\":");
    json_number(out, u64::from(r.helpfulness));
    out.extend_from_slice(b",\"photos\":[");
    for (i, photo) in r.photos().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        json_number(out, photo.id);
        out.extend_from_slice(b",\"url\":");
        match photos.moved(photo.url) {
            Some(moved) => json_string(out, &moved),
            None => json_string(out, photo.url),
        }
        out.push(b'}');
    }
    out.push(b']');
}

/// One review of a page, as [`page`] writes it: its ratings of the
/// characteristics last, by name (`"characteristics":{"Fit":4}`; `{}` for a
/// review that rated none).
fn review(out: &mut Vec<u8>, r: &ReviewView<'_>, photos: &PhotoBase) {
    review_fields(out, r, photos, Dates::Seconds);
    out.extend_from_slice(b",\"characteristics\":{");
    for (i, (kind, value)) in r.characteristics.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(kind.name().as_bytes());
        out.extend_from_slice(b"\":");
        out.push(b'0' + value);
    }
    out.extend_from_slice(b"}}");
}

/// Appends `s` as a JSON string, escaped exactly as `serde_json` does.
/// Most text has nothing to escape (`serde_json` escapes only `"`, `\\` and
/// control characters): one branch-free pass finds out, then one copy.
pub fn json_string(out: &mut Vec<u8>, s: &str) {
    let escapes = s.as_bytes().iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if escapes {
        serde::Serializer::serialize_str(&mut serde_json::Serializer::new(out), s)
            .expect("writing to memory");
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Appends `n` in decimal.
pub fn json_number(out: &mut Vec<u8>, n: u64) {
    serde::Serializer::serialize_u64(&mut serde_json::Serializer::new(out), n)
        .expect("writing to memory");
}

#[derive(Serialize)]
struct MetaBody {
    product_id: u64,
    total: u64,
    average: Option<f64>,
    ratings: Ratings,
    recommended: Recommended,
    characteristics: ScalesBody,
}

/// A product's characteristics, by name: `{"Fit": {"id": 5, "average":
/// 3.18, "count": 11}, …}` (`average` null before any rating).
struct ScalesBody(crate::model::Characteristics);

impl Serialize for ScalesBody {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Scale {
            id: u64,
            average: Option<f64>,
            count: u64,
        }
        s.collect_map(self.0.iter().map(|c| {
            let scale = Scale {
                id: c.id,
                average: c.average(),
                count: c.count,
            };
            (c.kind.name(), scale)
        }))
    }
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
        characteristics: ScalesBody(meta.characteristics),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{DataSet, Generator};
    use crate::model::{Filter, Page};

    /// The body as `serde_json` writes it from owned reviews: what
    /// [`page`] must match byte for byte.
    fn by_serde(q: &PageQuery, page: &Page) -> Vec<u8> {
        #[derive(Serialize)]
        struct PageBody<'a> {
            product_id: u64,
            page: u32,
            count: u32,
            total: u64,
            results: Vec<ReviewBody<'a>>,
        }
        serde_json::to_vec(&PageBody {
            product_id: q.product_id,
            page: q.page,
            count: q.count,
            total: page.total,
            results: page.reviews.iter().map(ReviewBody::from).collect(),
        })
        .unwrap()
    }

    #[test]
    fn pages_render_as_serde_would() {
        let g = Generator::new(DataSet::new(7, 10_000, None));
        let mut reviews: Vec<Review> = (1..=400).map(|id| g.record(id)).collect();
        reviews[0].summary = "quote \" back\\slash \u{1} tab\t é ✓ \u{7f}".into();
        reviews[1].response = Some("line\nbreak </script>".into());
        reviews[2].date = -62_167_219_201; // year -1: shown by Display
        let q = PageQuery {
            product_id: 12,
            page: 3,
            count: 100,
            sort: crate::model::Sort::Newest,
            filter: Filter::default(),
        };
        for chunk in reviews.chunks(37).chain([&[][..]]) {
            let page = Page {
                total: 4_000_000_000,
                reviews: chunk.to_vec(),
            };
            let views: Vec<ReviewView> = page.reviews.iter().map(ReviewView::from).collect();
            let view = PageView {
                total: page.total,
                reviews: &views,
            };
            let ours = super::page(&q, view, &PhotoBase::default());
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(by_serde(&q, &page)).unwrap()
            );
        }
    }

    #[test]
    fn generated_photos_move_under_the_base() {
        let mut r = Review {
            review_id: 1,
            ..Review::default()
        };
        r.photos = vec![
            Photo {
                id: 1,
                url: "/photos/0a1b2c3d/1.svg".into(),
            },
            Photo {
                id: 2,
                url: "https://img.example/photos/2.jpg".into(),
            },
        ];
        let q = PageQuery {
            product_id: 1,
            page: 1,
            count: 5,
            sort: crate::model::Sort::Relevant,
            filter: Filter::default(),
        };
        let views = [ReviewView::from(&r)];
        let view = PageView {
            total: 1,
            reviews: &views,
        };
        let cdn = PhotoBase::parse("https://cdn.example.com/p").unwrap();
        let body: serde_json::Value = serde_json::from_slice(&super::page(&q, view, &cdn)).unwrap();
        let urls: Vec<&str> = body["results"][0]["photos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["url"].as_str().unwrap())
            .collect();
        assert_eq!(
            urls,
            [
                "https://cdn.example.com/p/0a1b2c3d/1.svg",
                "https://img.example/photos/2.jpg"
            ]
        );
    }
}
