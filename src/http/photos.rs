//! `/photos/{tag}/{name}.svg`: the generated pictures of the data set whose
//! tag is `{tag}`, a review photo (`{photo_id}.svg`) or a product's picture
//! (`p{product_id}.svg`). A path names one image forever (the tag changes
//! with the data set), so replies may be cached for a year, by browsers and
//! by a CDN in front of the service (see `--photo-base-url`).

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{self, HeaderMap, HeaderValue};

use super::error::ApiError;
use super::query::{parse_id, shorten};
use super::reply::{Reply, matches_if_none_match, reply};
use crate::service::products::Picture;
use crate::service::{Service, Store};

/// What browsers and CDNs may keep a picture for: a year, unchanged.
pub const PHOTO_CACHE_CONTROL: HeaderValue =
    HeaderValue::from_static("public, max-age=31536000, immutable");
const SVG: HeaderValue = HeaderValue::from_static("image/svg+xml");
/// An image is never a script: no fetches, no scripts, even when opened alone.
const NO_ACTIVE_CONTENT: HeaderValue =
    HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");

/// Parses the last two segments of a photo path: an 8-hex-digit data set
/// tag and `{photo_id}.svg` or `p{product_id}.svg`.
pub fn parse(tag: &str, file: &str) -> Result<(u32, Picture), ApiError> {
    let valid_tag = tag.len() == 8 && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !valid_tag {
        return Err(ApiError::bad_request(format!(
            "photo tag must be 8 lowercase hex digits, got \"{}\"",
            shorten(tag)
        )));
    }
    let tag = u32::from_str_radix(tag, 16).expect("8 hex digits");
    let Some(stem) = file.strip_suffix(".svg") else {
        return Err(ApiError::bad_request(format!(
            "photo must be {{photo_id}}.svg or p{{product_id}}.svg, got \"{}\"",
            shorten(file)
        )));
    };
    let picture = match stem.strip_prefix('p') {
        Some(product) => Picture::Product(parse_id("product_id", product)?),
        None => Picture::Review(parse_id("photo_id", stem)?),
    };
    Ok((tag, picture))
}

/// `GET /photos/{tag}/{name}.svg`.
pub async fn get<S: Store>(
    service: &Service<S>,
    tag: u32,
    picture: Picture,
    headers: &HeaderMap,
) -> Result<Reply, ApiError> {
    let svg = service
        .picture(&format!("{tag:08x}"), picture)
        .await
        .map_err(ApiError::store)?;
    let Some(svg) = svg else {
        let name = match picture {
            Picture::Review(id) => format!("photo {id}"),
            Picture::Product(id) => format!("picture of product {id}"),
        };
        return Err(ApiError::not_found(format!(
            "{name} not found in data set {tag:08x}"
        )));
    };
    let etag = format!("\"{:016x}\"", crate::hash::bytes(&svg));
    let etag = HeaderValue::from_str(&etag).expect("an ETag is quoted hex");
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| matches_if_none_match(v.as_bytes(), etag.as_bytes()));
    let mut reply = if not_modified {
        reply(StatusCode::NOT_MODIFIED, Bytes::new())
    } else {
        let mut ok = reply(StatusCode::OK, svg);
        ok.headers_mut().insert(header::CONTENT_TYPE, SVG);
        ok
    };
    let h = reply.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, PHOTO_CACHE_CONTROL);
    h.insert(header::CONTENT_SECURITY_POLICY, NO_ACTIVE_CONTENT);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_names_parse() {
        assert_eq!(
            parse("0a1b2c3d", "17.svg").unwrap(),
            (0x0a1b2c3d, Picture::Review(17))
        );
        assert_eq!(
            parse("0a1b2c3d", "p2.svg").unwrap(),
            (0x0a1b2c3d, Picture::Product(2))
        );
        for (tag, file, needle) in [
            (
                "0A1B2C3D",
                "1.svg",
                "photo tag must be 8 lowercase hex digits",
            ),
            ("0a1b2c3", "1.svg", "photo tag must be"),
            (
                "0a1b2c3d",
                "1.jpg",
                "photo must be {photo_id}.svg or p{product_id}.svg",
            ),
            ("0a1b2c3d", "0.svg", "photo_id must be at least 1"),
            ("0a1b2c3d", "x.svg", "photo_id must be a positive integer"),
            ("0a1b2c3d", "p.svg", "product_id must be a positive integer"),
        ] {
            let err = parse(tag, file).unwrap_err();
            assert_eq!(err.status, 400);
            assert!(
                err.message.contains(needle),
                "{tag}/{file}: {}",
                err.message
            );
        }
    }
}
