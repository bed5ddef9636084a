//! `/products/:id` and `/products?query=&page=&count=`: the data set's
//! products by id, and found by name. Reads through the service's product
//! cache, with ETags and `304` like every read; bodies only change with the
//! data set, so browsers may keep them for [`PRODUCT_MAX_AGE`].

use hyper::header::{self, HeaderMap, HeaderValue};

use super::error::ApiError;
use super::query::{number, params, shorten};
use super::reply::{Reply, cached};
use crate::generate::catalog::{MAX_QUERY_WORDS, words};
use crate::model::MAX_PAGE;
use crate::service::products::{
    DEFAULT_SEARCH_COUNT, MAX_QUERY_CHARS, MAX_SEARCH_COUNT, ProductQuery,
};
use crate::service::{Service, Store};

/// What browsers and CDNs may keep a product read for.
pub const PRODUCT_MAX_AGE: HeaderValue = HeaderValue::from_static("public, max-age=300");

/// `GET /products/:product_id`.
pub async fn get<S: Store>(
    service: &Service<S>,
    product_id: u64,
    headers: &HeaderMap,
) -> Result<Reply, ApiError> {
    let lookup = service.product(product_id).await.map_err(ApiError::store)?;
    Ok(long_lived(cached(headers, &lookup)))
}

/// `GET /products?query=&page=&count=`.
pub async fn search<S: Store>(
    service: &Service<S>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Reply, ApiError> {
    let q = parse_search(query)?;
    let lookup = service.search(q).await.map_err(ApiError::store)?;
    Ok(long_lived(cached(headers, &lookup)))
}

fn long_lived(mut reply: Reply) -> Reply {
    if reply.status().is_success() || reply.status() == hyper::StatusCode::NOT_MODIFIED {
        reply
            .headers_mut()
            .insert(header::CACHE_CONTROL, PRODUCT_MAX_AGE);
    }
    reply
}

/// Parses the query of `GET /products`: `query` (default empty: every
/// product) of at most [`MAX_QUERY_CHARS`] characters and
/// [`MAX_QUERY_WORDS`] words, `page` 1..=1,000,000 (default 1), `count`
/// 1..=[`MAX_SEARCH_COUNT`] (default [`DEFAULT_SEARCH_COUNT`]). Unknown
/// parameters are ignored; one given twice is an error.
pub fn parse_search(query: Option<&str>) -> Result<ProductQuery, ApiError> {
    let [text, page, count] = params(query, ["query", "page", "count"])?;
    let text = text.map(String::from).unwrap_or_default();
    let chars = text.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(ApiError::bad_request(format!(
            "query must be at most {MAX_QUERY_CHARS} characters, got {chars}"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "query must not contain control characters, got \"{}\"",
            shorten(&text.escape_debug().to_string())
        )));
    }
    let found = words(&text).len();
    if found > MAX_QUERY_WORDS {
        return Err(ApiError::bad_request(format!(
            "query must have at most {MAX_QUERY_WORDS} words, got {found}"
        )));
    }
    let page = page.map_or(Ok(1), |v| number("page", &v, MAX_PAGE))?;
    let count = count.map_or(Ok(DEFAULT_SEARCH_COUNT), |v| {
        number("count", &v, MAX_SEARCH_COUNT)
    })?;
    Ok(ProductQuery {
        query: text,
        page,
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(query: &str) -> Result<ProductQuery, String> {
        parse_search(Some(query)).map_err(|e| e.message)
    }

    #[test]
    fn search_queries_parse_with_defaults() {
        let d = q("").unwrap();
        assert_eq!((d.query.as_str(), d.page, d.count), ("", 1, 10));
        let p = q("query=run+sho%C3%A9&page=3&count=50&utm=x").unwrap();
        assert_eq!((p.query.as_str(), p.page, p.count), ("run shoé", 3, 50));
    }

    #[test]
    fn bad_search_queries_name_the_parameter() {
        let long = format!("query={}", "a".repeat(101));
        let many = format!("query={}", ["w"; 9].join("+"));
        for (query, needle) in [
            ("count=51", "count must be an integer from 1 to 50"),
            ("count=0", "count must be"),
            ("page=0", "page must be"),
            ("page=x", "page must be"),
            (
                long.as_str(),
                "query must be at most 100 characters, got 101",
            ),
            (many.as_str(), "query must have at most 8 words, got 9"),
            ("query=a%0Ab", "query must not contain control characters"),
            (
                "query=a&query=b",
                "query parameter query is given more than once",
            ),
            ("query=%zz", "percent-encoded"),
        ] {
            let err = q(query).unwrap_err();
            assert!(err.contains(needle), "{query}: {err}");
        }
    }
}
