//! The storefront widget's files, compiled into the binary: `/` is the
//! page, `/static/*` its script and style.

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{self, HeaderValue};

use super::reply::{Reply, reply};

/// A file of the widget.
#[derive(Debug)]
pub struct Asset {
    name: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
    body: &'static [u8],
}

static ASSETS: [Asset; 3] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        cache_control: "no-cache",
        body: include_bytes!("../../static/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        cache_control: "public, max-age=300",
        body: include_bytes!("../../static/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        cache_control: "public, max-age=300",
        body: include_bytes!("../../static/app.css"),
    },
];

/// The page itself (`/`).
pub fn index() -> &'static Asset {
    &ASSETS[0]
}

/// The file `/static/{name}`, if the widget has one.
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The reply serving `asset`.
pub fn serve(asset: &Asset) -> Reply {
    let mut reply = reply(StatusCode::OK, Bytes::from_static(asset.body));
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(asset.cache_control),
    );
    reply
}
