//! What a cached response is of: a product, one of its views, and the
//! wire format it is rendered in.

use std::fmt::Write as _;

use crate::model::{Filter, PageQuery, Sort};

/// What a cached response is of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The product.
    pub product_id: u64,
    /// Which of its responses.
    pub view: View,
    /// The wire format of the body: `""` for the native API's, another
    /// name for a dialect the edge speaks. Each format's bodies are kept
    /// apart; a product's write makes every format's copies older alike.
    pub format: &'static str,
}

/// One response of a product.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum View {
    /// The product's meta.
    Meta,
    /// One page of its reviews.
    Page {
        /// Page number.
        page: u32,
        /// Page size.
        count: u32,
        /// Order.
        sort: Sort,
        /// Which reviews.
        filter: Filter,
    },
}

impl CacheKey {
    /// The key of a page query.
    pub fn page(q: &PageQuery) -> CacheKey {
        let view = View::Page {
            page: q.page,
            count: q.count,
            sort: q.sort,
            filter: q.filter.clone(),
        };
        CacheKey {
            product_id: q.product_id,
            view,
            format: "",
        }
    }

    /// The key of a product's meta.
    pub fn meta(product_id: u64) -> CacheKey {
        CacheKey {
            product_id,
            view: View::Meta,
            format: "",
        }
    }

    /// The same view rendered in `format` (see [`CacheKey::format`]).
    pub fn in_format(self, format: &'static str) -> CacheKey {
        CacheKey { format, ..self }
    }

    /// Whether this is a filtered page (see [`Filter`]).
    pub fn is_filtered(&self) -> bool {
        matches!(&self.view, View::Page { filter, .. } if !filter.is_none())
    }

    /// The Redis key holding this view. A filter's parts follow the
    /// page's: `.r<star bits>`, `.photos`, `.q<words>` (normalized, so one
    /// search has one key); a dialect's name ends it: `.@<format>`.
    pub fn redis_key(&self) -> String {
        let mut key = match &self.view {
            View::Meta => format!("reviews:v7:{}:meta", self.product_id),
            View::Page {
                page,
                count,
                sort,
                filter,
            } => {
                let mut key = format!("reviews:v7:{}:p{page}.{count}.{sort}", self.product_id);
                let stars = filter.star_bits();
                if stars != 0 {
                    let _ = write!(key, ".r{stars}");
                }
                if filter.with_photos {
                    key.push_str(".photos");
                }
                if let Some(words) = &filter.words {
                    let _ = write!(key, ".q{words}");
                }
                key
            }
        };
        if !self.format.is_empty() {
            let _ = write!(key, ".@{}", self.format);
        }
        key
    }

    /// The Redis key of this view's fill lock, `{<view's key>}:lock`: the
    /// view's key is its hash tag, so on a Redis Cluster the lock lives in
    /// its view's slot (a view's key holds no braces) and a fill sets the
    /// view and frees the lock in one pipeline to one master.
    pub fn redis_lock(&self) -> String {
        format!("{{{}}}:lock", self.redis_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_conn::slot::key_slot;

    #[test]
    fn a_fill_lock_shares_its_views_slot() {
        let words = crate::text::Words::parse("Zipper sizing").unwrap();
        let filter = Filter {
            stars: 0b1_1000,
            with_photos: true,
            words,
        };
        let keys = [
            CacheKey::meta(2),
            CacheKey::meta(100_001),
            CacheKey {
                product_id: 7,
                view: View::Page {
                    page: 3,
                    count: 5,
                    sort: Sort::Newest,
                    filter,
                },
                format: "",
            },
            CacheKey::meta(3).in_format("atelier"),
        ];
        for key in keys {
            let (view, lock) = (key.redis_key(), key.redis_lock());
            assert!(!view.contains(['{', '}']), "{view}");
            assert_eq!(lock, format!("{{{view}}}:lock"));
            assert_eq!(
                key_slot(lock.as_bytes()),
                key_slot(view.as_bytes()),
                "{view}"
            );
        }
    }
}
