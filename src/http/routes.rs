//! The route table: one parse of the path gives both what it names and the
//! `route` label it is counted under, so a malformed id still counts under
//! its route. Malformed ids are 400, unknown paths 404.

use hyper::Method;

use super::assets::{self, Asset};
use super::error::ApiError;
use super::photos;
use super::query::parse_id;
use crate::metrics::RouteLabel;
use crate::service::Vote;
use crate::service::products::Picture;

/// What a path names.
#[derive(Debug, Clone, Copy)]
pub enum Route {
    /// The widget's page or one of its files.
    Asset(&'static Asset),
    /// `/healthz`.
    Health,
    /// `/readyz`.
    Ready,
    /// `/metrics`.
    Metrics,
    /// `/openapi.json`.
    OpenApi,
    /// `/reviews/:product_id`.
    Reviews(u64),
    /// `/reviews/:product_id/meta`.
    Meta(u64),
    /// `/reviews/:review_id/helpful` and `/report`.
    Vote(u64, Vote),
    /// `/products`: search by name.
    Products,
    /// `/products/:product_id`.
    Product(u64),
    /// `/photos/:tag/:name.svg`: a generated picture.
    Photo(u32, Picture),
    /// `/widget.json`: what the widget may take as its API.
    Widget,
    /// `/admin/reported`.
    AdminReported,
    /// `/admin/reviews/:review_id/restore`.
    AdminRestore(u64),
    /// `/admin/reviews/:review_id/response`: the seller's answer.
    AdminRespond(u64),
    /// `/reviews?product_id=` (also `/reviews/`): the Atelier dialect's
    /// list and its new review (see [`super::atelier`]).
    AtelierReviews,
    /// `/reviews/meta?product_id=` (also `/reviews/meta/`): the Atelier
    /// dialect's meta.
    AtelierMeta,
}

/// A request's place in the route table.
pub struct Routed {
    /// What the path names, or why it names nothing.
    pub route: Result<Route, ApiError>,
    /// What `/metrics` counts the request under.
    pub label: RouteLabel,
}

/// Looks `path` up (the method only picks the label of `/reviews/:id`).
pub fn route(path: &str, method: &Method) -> Routed {
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    let parts: [Option<&str>; 5] = std::array::from_fn(|_| segments.next());
    let (label, route) = match parts {
        [Some(""), None, ..] => (RouteLabel::Ops, Ok(Route::Asset(assets::index()))),
        [Some("static"), Some(name), None, ..] => (
            RouteLabel::Ops,
            assets::find(name)
                .map(Route::Asset)
                .ok_or_else(|| no_such_path(path)),
        ),
        [Some("healthz"), None, ..] => (RouteLabel::Healthz, Ok(Route::Health)),
        [Some("readyz"), None, ..] => (RouteLabel::Readyz, Ok(Route::Ready)),
        [Some("metrics"), None, ..] => (RouteLabel::Ops, Ok(Route::Metrics)),
        [Some("openapi.json"), None, ..] => (RouteLabel::Ops, Ok(Route::OpenApi)),
        [Some("widget.json"), None, ..] => (RouteLabel::Ops, Ok(Route::Widget)),
        [Some("admin"), Some("reported"), None, ..] => (RouteLabel::Ops, Ok(Route::AdminReported)),
        [
            Some("admin"),
            Some("reviews"),
            Some(id),
            Some("restore"),
            None,
        ] => (
            RouteLabel::Ops,
            parse_id("review_id", id).map(Route::AdminRestore),
        ),
        [
            Some("admin"),
            Some("reviews"),
            Some(id),
            Some("response"),
            None,
        ] => (
            RouteLabel::Ops,
            parse_id("review_id", id).map(Route::AdminRespond),
        ),
        // The Atelier dialect: the product in the query (or a POST's body).
        [Some("reviews"), None | Some(""), None, ..] => {
            let label = if method == Method::POST {
                RouteLabel::PostReview
            } else {
                RouteLabel::Reviews
            };
            (label, Ok(Route::AtelierReviews))
        }
        [Some("reviews"), Some("meta"), None | Some(""), None, _] => {
            (RouteLabel::Meta, Ok(Route::AtelierMeta))
        }
        [Some("reviews"), Some(id), None, ..] => {
            let label = if method == Method::POST {
                RouteLabel::PostReview
            } else {
                RouteLabel::Reviews
            };
            (label, parse_id("product_id", id).map(Route::Reviews))
        }
        [Some("reviews"), Some(id), Some("meta"), None, _] => (
            RouteLabel::Meta,
            parse_id("product_id", id).map(Route::Meta),
        ),
        [Some("reviews"), Some(id), Some("helpful"), None, _] => (
            RouteLabel::Helpful,
            parse_id("review_id", id).map(|id| Route::Vote(id, Vote::Helpful)),
        ),
        [Some("reviews"), Some(id), Some("report"), None, _] => (
            RouteLabel::Report,
            parse_id("review_id", id).map(|id| Route::Vote(id, Vote::Report)),
        ),
        [Some("products"), None, ..] => (RouteLabel::Products, Ok(Route::Products)),
        [Some("products"), Some(id), None, ..] => (
            RouteLabel::Products,
            parse_id("product_id", id).map(Route::Product),
        ),
        [Some("photos"), Some(tag), Some(name), None, _] => (
            RouteLabel::Photos,
            photos::parse(tag, name).map(|(tag, picture)| Route::Photo(tag, picture)),
        ),
        _ => (RouteLabel::Unknown, Err(no_such_path(path))),
    };
    Routed { route, label }
}

impl Route {
    /// The methods the path takes (`Allow`).
    pub fn allow(self) -> &'static str {
        match self {
            Route::Asset(_)
            | Route::Health
            | Route::Ready
            | Route::Metrics
            | Route::OpenApi
            | Route::Meta(_)
            | Route::Products
            | Route::Product(_)
            | Route::Photo(..)
            | Route::Widget
            | Route::AdminReported
            | Route::AtelierMeta => "GET, HEAD, OPTIONS",
            Route::Reviews(_) | Route::AtelierReviews => "GET, HEAD, POST, OPTIONS",
            Route::Vote(..) | Route::AdminRestore(_) | Route::AdminRespond(_) => "PUT, OPTIONS",
        }
    }

    /// Whether the path is a moderator's (behind the admin token).
    pub fn is_admin(self) -> bool {
        matches!(
            self,
            Route::AdminReported | Route::AdminRestore(_) | Route::AdminRespond(_)
        )
    }

    /// Whether the path takes writes (or is an admin's): CORS then depends
    /// on the origin for anything but reads.
    pub fn takes_writes(self) -> bool {
        matches!(
            self,
            Route::Reviews(_) | Route::Vote(..) | Route::AtelierReviews
        ) || self.is_admin()
    }

    /// Whether the route answers even when the process sheds load.
    pub fn exempt_from_shedding(self) -> bool {
        matches!(self, Route::Health | Route::Ready | Route::Metrics)
    }
}

/// The 404 of a path that names nothing.
pub fn no_such_path(path: &str) -> ApiError {
    let shown = match path.char_indices().nth(100) {
        Some((cut, _)) => &path[..cut],
        None => path,
    };
    ApiError::not_found(format!("no such path: {shown}"))
}
