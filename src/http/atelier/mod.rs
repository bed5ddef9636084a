//! The Atelier reviews API: a dialect at the edge, beside the native routes,
//! so storefronts written against it work unchanged. It parses its own
//! requests into the same typed queries and new reviews, calls the same
//! service (the same cache, versions and write safety), and renders the
//! same results its own way ([`render::Atelier`], cached as its own
//! bodies).
//!
//! - `GET /reviews/?product_id=&page=&count=&sort=` (also `/reviews`): a
//!   page of the product's reviews. `sort` is `relevant` (default; also
//!   spelled `relevance`), `newest` or `helpful`; `count` goes up to
//!   [`MAX_COUNT`] (storefronts fetch a product's whole list to sort it in
//!   the browser).
//! - `GET /reviews/meta?product_id=` (also `/reviews/meta/`).
//! - `POST /reviews` (also `/reviews/`): a new review, `product_id` in the
//!   body (a number or a numeric string) or, when the body has none, in
//!   the query; `summary` may be null or empty; `rating` and the
//!   characteristics' ratings may be numeric strings (`"3"`).
//! - `PUT /reviews/:review_id/helpful` and `/report` are the native routes.
//!
//! Unknown query parameters are ignored; `min_version` works as on the
//! native routes. Errors are the native API's.

pub mod render;

use std::borrow::Cow;

use hyper::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use self::render::Atelier;
use super::error::ApiError;
use super::idempotency::Guarding;
use super::new_review;
use super::query::{self, decode, number, parse_id, shorten};
use super::reply::{Reply, cached};
use super::reviews;
use crate::model::{DEFAULT_COUNT, Filter, MAX_PAGE, NewReview, PageQuery, Sort, limits};
use crate::service::{Service, Store};

/// The largest page an Atelier list serves: more than the most reviewed
/// product of the reference data set has (1,012 at 1M records, about as
/// many at 10M), so a storefront asking a product's whole list gets it in
/// one page.
pub const MAX_COUNT: u32 = 10_000;

/// `Cache-Control` of the dialect's reads: a browser may keep them but asks
/// again (a 304 when its `ETag` still matches) each time. Atelier front
/// ends read a product's list right after posting to it, without a
/// `min_version` to carry the write's version, so a copy a browser kept
/// for the native reads' `max-age` would hide their own review.
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

/// The sorts the dialect takes, as its error message lists them.
const SORTS: &str = "relevant (or relevance), newest, helpful";

/// `GET /reviews/?product_id=&page=&count=&sort=&min_version=`.
pub async fn page<S: Store>(
    service: &Service<S>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Reply, ApiError> {
    let q = list_query(query)?;
    let at_least = query::parse_min_version(q.product_id, query)?;
    let lookup = service
        .page_in(&Atelier, q, at_least)
        .await
        .map_err(ApiError::store)?;
    Ok(revalidated(cached(headers, &lookup)))
}

/// `GET /reviews/meta?product_id=&min_version=`.
pub async fn meta<S: Store>(
    service: &Service<S>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Reply, ApiError> {
    let params = Params::parse(query, &["product_id"])?;
    let product_id = params.product_id()?;
    let at_least = query::parse_min_version(product_id, query)?;
    let lookup = service
        .meta_in(&Atelier, product_id, at_least)
        .await
        .map_err(ApiError::store)?;
    Ok(revalidated(cached(headers, &lookup)))
}

/// A read's reply with [`REVALIDATE`] as its `Cache-Control`.
fn revalidated(mut reply: Reply) -> Reply {
    reply
        .headers_mut()
        .insert(hyper::header::CACHE_CONTROL, REVALIDATE);
    reply
}

/// `POST /reviews` with its body read (content type and size checked as
/// for the native route): 201 `{"review_id": n}` once it is durable.
pub async fn post<S: Store>(
    service: &Service<S>,
    body: &[u8],
    headers: &HeaderMap,
    query: Option<&str>,
    guarding: &Guarding,
) -> Result<Reply, ApiError> {
    let (product_id, review) = new_review(body, query)?;
    reviews::create(service, product_id, review, headers, guarding).await
}

/// The fields of an Atelier `POST /reviews` body.
const FIELDS: [&str; 9] = [
    "product_id",
    "rating",
    "summary",
    "body",
    "recommend",
    "name",
    "email",
    "photos",
    "characteristics",
];

/// Parses an Atelier new review: its product (from the body, else the
/// query) and the review, held to the native rules but for what the
/// dialect allows (see the module docs).
fn new_review(body: &[u8], query: Option<&str>) -> Result<(u64, NewReview), ApiError> {
    let fields = new_review::object(body)?;
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::unprocessable(format!(
            "unknown field `{}`; expected {}",
            new_review::shorten(unknown),
            FIELDS.join(", ")
        )));
    }
    let in_query = Params::parse(query, &["product_id"])?;
    let product_id = match fields.get("product_id") {
        Some(Value::Null) | None if in_query.has("product_id") => in_query.product_id()?,
        None | Some(Value::Null) => {
            return Err(ApiError::unprocessable(
                "missing field `product_id` (in the body, or the query: /reviews?product_id=<id>)",
            ));
        }
        Some(value) => match new_review::whole(value, true) {
            Some(id) if id > 0 => id,
            _ => {
                return Err(ApiError::unprocessable(
                    "product_id must be a positive integer (a number or a numeric string)",
                ));
            }
        },
    };
    let rating = new_review::rating(new_review::required(&fields, "rating")?, true)?;
    let recommend = new_review::recommend(&fields)?;
    let summary = match fields.get("summary") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.is_empty() => String::new(),
        Some(_) => {
            let summary = new_review::text(&fields, "summary", limits::SUMMARY, false);
            match summary {
                Err(e) if e.message.ends_with("must not be blank") => String::new(),
                other => other?,
            }
        }
    };
    let body = new_review::text(&fields, "body", limits::BODY, true)?;
    let name = new_review::text(&fields, "name", limits::NAME, false)?;
    let email = new_review::email(new_review::required(&fields, "email")?)?;
    let photos = match fields.get("photos") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => new_review::photos(value)?,
    };
    let characteristics = match fields.get("characteristics") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => new_review::characteristics(value, true)?,
    };
    let review = NewReview {
        rating,
        summary,
        body,
        recommend,
        name,
        email,
        photos,
        characteristics,
    };
    Ok((product_id, review))
}

/// The page an Atelier list asks for: `product_id` (required), `page`
/// (from 1), `count` (1..=[`MAX_COUNT`]), `sort`.
fn list_query(query: Option<&str>) -> Result<PageQuery, ApiError> {
    let params = Params::parse(query, &["product_id", "page", "count", "sort"])?;
    let product_id = params.product_id()?;
    let page = match params.get("page") {
        Some(v) => number("page", v, MAX_PAGE)?,
        None => 1,
    };
    let count = match params.get("count") {
        Some(v) => number("count", v, MAX_COUNT)?,
        None => DEFAULT_COUNT,
    };
    let sort = match params.get("sort") {
        None => Sort::Relevant,
        Some("relevant" | "relevance") => Sort::Relevant,
        Some("newest") => Sort::Newest,
        Some("helpful") => Sort::Helpful,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sort must be one of {SORTS}, got \"{}\"",
                shorten(other)
            )));
        }
    };
    Ok(PageQuery {
        product_id,
        page,
        count,
        sort,
        filter: Filter::default(),
    })
}

/// The query parameters a route takes, decoded (borrowed from the query
/// when nothing needed decoding, as in nearly every real one); others are
/// ignored, and one given twice is a 400 (as on the native routes).
struct Params<'q> {
    names: &'static [&'static str],
    values: [Option<Cow<'q, str>>; 4],
}

impl<'q> Params<'q> {
    fn parse(
        query: Option<&'q str>,
        names: &'static [&'static str],
    ) -> Result<Params<'q>, ApiError> {
        debug_assert!(names.len() <= 4);
        let mut values = [None, None, None, None];
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key)?;
            let Some(i) = names.iter().position(|&n| n == key) else {
                continue;
            };
            if values[i].is_some() {
                return Err(ApiError::bad_request(format!(
                    "query parameter {} is given more than once",
                    names[i]
                )));
            }
            values[i] = Some(decode(value)?);
        }
        Ok(Params { names, values })
    }

    fn get(&self, name: &str) -> Option<&str> {
        let i = self.names.iter().position(|&n| n == name)?;
        self.values[i].as_deref()
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// `product_id`: required, an id as in a native path.
    fn product_id(&self) -> Result<u64, ApiError> {
        match self.get("product_id") {
            Some(raw) => parse_id("product_id", raw),
            None => Err(ApiError::bad_request(
                "product_id is required: /reviews/?product_id=<id> (or /reviews/<id>)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(query: &str) -> Result<PageQuery, String> {
        list_query(Some(query)).map_err(|e| e.message)
    }

    #[test]
    fn lists_take_the_atelier_parameters() {
        let q = list("product_id=40344&page=2&count=1000&sort=relevance").unwrap();
        assert_eq!(
            (q.product_id, q.page, q.count, q.sort),
            (40344, 2, 1000, Sort::Relevant)
        );
        let q = list("count=5&product_id=2&sort=newest&utm=x&rating=5").unwrap();
        assert_eq!((q.page, q.sort), (1, Sort::Newest));
        assert!(q.filter.is_none(), "native filters are not the dialect's");
        assert!(
            list("page=1")
                .unwrap_err()
                .contains("product_id is required")
        );
        assert!(
            list("product_id=abc")
                .unwrap_err()
                .contains("product_id must be")
        );
        assert!(
            list("product_id=2&sort=rating_high")
                .unwrap_err()
                .contains("relevance")
        );
        assert!(
            list("product_id=2&count=10001")
                .unwrap_err()
                .contains("1 to 10000")
        );
        assert!(
            list("product_id=2&product_id=3")
                .unwrap_err()
                .contains("more than once")
        );
    }

    fn post(body: Value, query: Option<&str>) -> Result<(u64, NewReview), String> {
        new_review(body.to_string().as_bytes(), query).map_err(|e| e.message)
    }

    #[test]
    fn posts_take_what_atelier_front_ends_send() {
        let body = serde_json::json!({
            "product_id": "40344", "rating": 5, "summary": null,
            "body": "Fits true to size and the fabric holds up well after many washes.",
            "recommend": true, "name": "jackson11", "email": "jackson11@example.com",
            "photos": ["https://img.example/1.jpg"],
            "characteristics": {"135219": "3", "135220": 4}
        });
        let (product, review) = post(body.clone(), None).unwrap();
        assert_eq!(product, 40344);
        assert_eq!(review.summary, "");
        assert_eq!(review.characteristics, [(135219, 3), (135220, 4)]);
        let mut no_product = body.clone();
        no_product.as_object_mut().unwrap().remove("product_id");
        assert_eq!(post(no_product.clone(), Some("product_id=7")).unwrap().0, 7);
        assert!(
            post(no_product, None)
                .unwrap_err()
                .contains("missing field `product_id`")
        );
        let mut bad = body.clone();
        bad["characteristics"] = serde_json::json!({"135219": 6});
        assert!(post(bad, None).unwrap_err().contains("rating of 135219"));
        let mut bad = body;
        bad["stars"] = serde_json::json!(5);
        assert!(
            post(bad, None)
                .unwrap_err()
                .contains("unknown field `stars`")
        );
    }
}
