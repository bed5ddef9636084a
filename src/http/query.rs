//! Parsing at the edge: path ids and query strings become typed values, or
//! a 400 naming the parameter. Past this module, invalid input cannot exist.

use std::borrow::Cow;

use super::error::ApiError;
use crate::model::{DEFAULT_COUNT, Filter, MAX_COUNT, MAX_PAGE, PageQuery, Sort, Words};

/// Parses a path id: ASCII digits only, no leading zero, at least 1, fits
/// in u64. `/reviews/01` is refused rather than read as `/reviews/1`, so
/// one resource has one URL (and one cache entry, one ETag).
pub fn parse_id(name: &str, raw: &str) -> Result<u64, ApiError> {
    let shown = shorten(raw);
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "{name} must be a positive integer, got \"{shown}\""
        )));
    }
    if raw.len() > 1 && raw.starts_with('0') && raw.bytes().any(|b| b != b'0') {
        return Err(ApiError::bad_request(format!(
            "{name} must be written without leading zeros, got \"{shown}\""
        )));
    }
    match raw.parse::<u64>() {
        Ok(0) => Err(ApiError::bad_request(format!(
            "{name} must be at least 1, got \"{shown}\""
        ))),
        Ok(id) => Ok(id),
        Err(_) => Err(ApiError::bad_request(format!(
            "{name} is too large (at most {}), got \"{shown}\"",
            u64::MAX
        ))),
    }
}

/// The values of the parameters `names` in `query`, keys and values
/// percent-decoded alike (`p%61ge` is `page`): a name not asked for is
/// ignored, one given twice is a 400 naming it.
pub fn params<'q, const N: usize>(
    query: Option<&'q str>,
    names: [&str; N],
) -> Result<[Option<Cow<'q, str>>; N], ApiError> {
    let mut values = [const { None }; N];
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key)?;
        let Some(slot) = names.iter().position(|n| *n == key) else {
            continue;
        };
        if values[slot].is_some() {
            return Err(ApiError::bad_request(format!(
                "query parameter {key} is given more than once"
            )));
        }
        values[slot] = Some(decode(value)?);
    }
    Ok(values)
}

/// Parses the query of `GET /admin/reported`: `before` (an id, exclusive)
/// and `limit` (1..=100, default 20); others are ignored, one of them
/// given twice is a 400.
pub fn parse_reported_query(query: Option<&str>) -> Result<(Option<u64>, u32), ApiError> {
    let [before, limit] = params(query, ["before", "limit"])?;
    let before = before.map(|v| parse_id("before", &v)).transpose()?;
    let limit = limit.map_or(Ok(20), |v| number("limit", &v, MAX_COUNT))?;
    Ok((before, limit))
}

/// Parses the query of `GET /reviews/:product_id`. `page` wins over its alias
/// `index`; unknown parameters are ignored; a parameter given twice is an error.
pub fn parse_page_query(product_id: u64, query: Option<&str>) -> Result<PageQuery, ApiError> {
    let [page, index, count, sort, rating, with_photos, words] = params(
        query,
        [
            "page",
            "index",
            "count",
            "sort",
            "rating",
            "with_photos",
            "q",
        ],
    )?;
    let page = match (page, index) {
        (Some(v), _) => number("page", &v, MAX_PAGE)?,
        (None, Some(v)) => number("index", &v, MAX_PAGE)?,
        (None, None) => 1,
    };
    let count = count.map_or(Ok(DEFAULT_COUNT), |v| number("count", &v, MAX_COUNT))?;
    let sort = match sort {
        None => Sort::default(),
        Some(v) => Sort::parse(&v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "sort must be one of {}, got \"{}\"",
                Sort::NAMES.join(", "),
                shorten(&v)
            ))
        })?,
    };
    let filter = Filter {
        stars: rating.map_or(Ok(0), |v| stars(&v))?,
        with_photos: with_photos.map_or(Ok(false), |v| match &*v {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(ApiError::bad_request(format!(
                "with_photos must be true or false, got \"{}\"",
                shorten(other)
            ))),
        })?,
        words: match words {
            None => None,
            Some(v) => Words::parse(&v).map_err(|e| ApiError::bad_request(e.to_string()))?,
        },
    };
    Ok(PageQuery {
        product_id,
        page,
        count,
        sort,
        filter,
    })
}

/// Parses `rating`: stars 1 to 5, comma-separated (`4` or `4,5`), as the
/// bits of [`Filter::stars`].
fn stars(raw: &str) -> Result<u8, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "rating must be stars from 1 to 5, comma-separated (4 or 4,5), got \"{}\"",
            shorten(raw)
        ))
    };
    let mut stars = 0;
    for part in raw.split(',') {
        match part.as_bytes() {
            [digit @ b'1'..=b'5'] => stars |= 1 << (digit - b'1'),
            _ => return Err(bad()),
        }
    }
    Ok(stars)
}

/// The `min_version` of a read of `product_id`: the `X-Reviews-Version` a
/// write answered (`<product_id>:<version>`; a bare version is taken too),
/// 0 when absent or another product's (it says nothing of this one); a 400
/// for anything else.
pub fn parse_min_version(product_id: u64, query: Option<&str>) -> Result<u64, ApiError> {
    // Nearly every read names no min_version: its query is not parsed
    // again (a percent sign may spell the name, so such a query is).
    let Some(query) = query.filter(|q| q.contains("min_version") || q.contains('%')) else {
        return Ok(0);
    };
    let [found] = params(Some(query), ["min_version"])?;
    let Some(raw) = found else { return Ok(0) };
    let bad = || {
        ApiError::bad_request(format!(
            "min_version must be the X-Reviews-Version a write answered (product_id:version), got \"{}\"",
            shorten(&raw)
        ))
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
    let (product, version) = match raw.split_once(':') {
        Some((p, v)) => (Some(p), v),
        None => (None, &*raw),
    };
    if !digits(version) || product.is_some_and(|p| !digits(p)) {
        return Err(bad());
    }
    let version = version.parse::<u64>().map_err(|_| bad())?;
    match product.map(str::parse::<u64>) {
        Some(Ok(p)) if p != product_id => Ok(0),
        Some(Err(_)) => Err(bad()),
        _ => Ok(version),
    }
}

/// Parses query parameter `name`: an integer from 1 to `max`, or a 400
/// naming it.
pub fn number(name: &str, raw: &str, max: u32) -> Result<u32, ApiError> {
    if raw.len() > 1 && raw.starts_with('0') && raw.bytes().all(|b| b.is_ascii_digit()) {
        // As for ids: one page has one URL (one cache entry, one ETag).
        return Err(ApiError::bad_request(format!(
            "{name} must be written without leading zeros, got \"{}\"",
            shorten(raw)
        )));
    }
    let valid = !raw.is_empty() && raw.len() <= 10 && raw.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<u64>() {
        Ok(n) if valid && (1..=u64::from(max)).contains(&n) => Ok(n as u32),
        _ => Err(ApiError::bad_request(format!(
            "{name} must be an integer from 1 to {max}, got \"{}\"",
            shorten(raw)
        ))),
    }
}

/// Percent-decodes one query component (`+` is a space); borrows it when
/// there is nothing to decode, as in nearly every real query.
pub fn decode(raw: &str) -> Result<Cow<'_, str>, ApiError> {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(raw));
    }
    let bad = || ApiError::bad_request("query string is not valid percent-encoded UTF-8");
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map(Cow::Owned).map_err(|_| bad())
}

/// Caps echoed input so an error message stays short.
pub fn shorten(raw: &str) -> String {
    const MAX: usize = 40;
    match raw.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &raw[..cut]),
        None => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(query: &str) -> Result<PageQuery, String> {
        parse_page_query(9, Some(query)).map_err(|e| e.message)
    }

    #[test]
    fn defaults_aliases_and_unknowns() {
        let d = q("").unwrap();
        assert_eq!((d.page, d.count, d.sort), (1, 5, Sort::Relevant));
        assert_eq!(q("index=3").unwrap().page, 3);
        assert_eq!(q("index=3&page=2").unwrap().page, 2);
        assert_eq!(q("utm_source=x&count=100&sort=newest").unwrap().count, 100);
        assert_eq!(q("sort=%68elpful").unwrap().sort, Sort::Helpful);
        assert_eq!(q("sort=rating_low").unwrap().sort, Sort::RatingLow);
        assert!(d.filter.is_none());
    }

    #[test]
    fn filters_have_one_spelling_each() {
        let f = |query: &str| q(query).unwrap().filter;
        assert_eq!(f("rating=4,5").stars, 0b11000);
        assert_eq!(f("rating=5,4,5"), f("rating=4,5"));
        assert_eq!(f("rating=1").stars, 1);
        assert!(f("with_photos=true").with_photos);
        assert!(f("with_photos=false").is_none());
        assert!(f("q=+%20").is_none(), "a blank search is no search");
        assert!(f("q=%21%21+%E2%80%8B").is_none(), "so is one without words");
        let words = f("q=Sizing+runs%20SMALL").words.unwrap();
        assert_eq!(words.to_string(), "runs sizing small");
        assert_eq!(f("q=small+runs+sizing").words.unwrap(), words);
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (query, needle) in [
            ("page=0", "page must be"),
            ("page=1000001", "page must be"),
            ("page=-1", "page must be"),
            ("page=abc", "page must be"),
            ("page=", "page must be"),
            ("index=99999999999999999999", "index must be"),
            ("count=0", "count must be"),
            ("count=101", "count must be"),
            ("count=1.5", "count must be"),
            ("count=05", "count must be written without leading zeros"),
            ("page=007", "page must be written without leading zeros"),
            (
                "sort=oldest",
                "sort must be one of newest, helpful, relevant, rating_high, rating_low",
            ),
            ("rating=0", "rating must be stars from 1 to 5"),
            ("rating=6", "rating must be stars from 1 to 5"),
            ("rating=", "rating must be stars from 1 to 5"),
            ("rating=4,", "rating must be stars from 1 to 5"),
            ("rating=45", "rating must be stars from 1 to 5"),
            ("rating=4&rating=5", "rating is given more than once"),
            ("with_photos=1", "with_photos must be true or false"),
            ("q=a+good+fit", "q words must be 2 to 32"),
            ("q=a1+b2+c3+d4+e5+f6+g7+h8+i9", "at most 8"),
            ("page=1&page=2", "page is given more than once"),
            ("sort=%zz", "percent-encoded"),
        ] {
            let err = q(query).unwrap_err();
            assert!(err.contains(needle), "{query}: {err}");
        }
    }

    #[test]
    fn min_versions_are_a_writes_token_for_this_product() {
        let v = |query: &str| parse_min_version(9, Some(query)).map_err(|e| e.message);
        assert_eq!(parse_min_version(9, None).unwrap(), 0);
        assert_eq!(v("count=3").unwrap(), 0);
        assert_eq!(v("min_version=9:17").unwrap(), 17);
        assert_eq!(v("page=2&min_version=9%3A17").unwrap(), 17);
        assert_eq!(v("min_version=17").unwrap(), 17);
        assert_eq!(
            v("count=3&min%5Fversion=9%3A4").unwrap(),
            4,
            "keys decode alike"
        );
        assert_eq!(
            v("min_version=8:17").unwrap(),
            0,
            "another product's says nothing"
        );
        for (query, needle) in [
            ("min_version=", "min_version must be"),
            ("min_version=9:", "min_version must be"),
            ("min_version=9:x", "min_version must be"),
            ("min_version=-1", "min_version must be"),
            ("min_version=99999999999999999999", "min_version must be"),
            ("min_version=9:12345678901234567890", "min_version must be"),
            ("min_version=1&min_version=2", "more than once"),
            ("min%5Fversion=abc", "min_version must be"),
            ("min_version=1&min%5fversion=2", "more than once"),
        ] {
            let err = v(query).unwrap_err();
            assert!(err.contains(needle), "{query}: {err}");
        }
    }

    #[test]
    fn the_moderators_query_takes_each_parameter_once() {
        let r = |query: &str| parse_reported_query(Some(query)).map_err(|e| e.message);
        assert_eq!(r("").unwrap(), (None, 20));
        assert_eq!(r("l%69mit=3&before=9").unwrap(), (Some(9), 3));
        for (query, needle) in [
            ("limit=1&limit=2", "limit is given more than once"),
            ("before=1&b%65fore=2", "before is given more than once"),
            ("limit=0", "limit must be"),
        ] {
            let err = r(query).unwrap_err();
            assert!(err.contains(needle), "{query}: {err}");
        }
    }

    #[test]
    fn ids_must_be_positive_u64() {
        assert_eq!(parse_id("product_id", "42").unwrap(), 42);
        for raw in [
            "",
            "0",
            "00",
            "01",
            "007",
            "-1",
            "+1",
            "1e3",
            "abc",
            "18446744073709551616",
            " 1",
        ] {
            let err = parse_id("product_id", raw).unwrap_err();
            assert_eq!(err.status, 400);
            assert!(err.message.starts_with("product_id "), "{}", err.message);
        }
    }
}
