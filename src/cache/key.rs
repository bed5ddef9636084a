//! What a cached response is of: a product and one of its views.

use crate::model::{PageQuery, Sort};

/// What a cached response is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The product.
    pub product_id: u64,
    /// Which of its responses.
    pub view: View,
}

/// One response of a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    },
}

impl CacheKey {
    /// The key of a page query.
    pub fn page(q: &PageQuery) -> CacheKey {
        let view = View::Page {
            page: q.page,
            count: q.count,
            sort: q.sort,
        };
        CacheKey {
            product_id: q.product_id,
            view,
        }
    }

    /// The key of a product's meta.
    pub fn meta(product_id: u64) -> CacheKey {
        CacheKey {
            product_id,
            view: View::Meta,
        }
    }

    /// The Redis key holding this view.
    pub fn redis_key(&self) -> String {
        match self.view {
            View::Meta => format!("reviews:v5:{}:meta", self.product_id),
            View::Page { page, count, sort } => {
                format!("reviews:v5:{}:p{page}.{count}.{sort}", self.product_id)
            }
        }
    }

    /// The Redis key of this view's fill lock.
    pub fn redis_lock(&self) -> String {
        format!("{}:lock", self.redis_key())
    }
}
