//! Products and pictures: the use cases behind `/products` and `/photos`.
//!
//! A product, its search results and every generated picture are pure
//! functions of the data set the store holds (see [`crate::generate`]), so
//! they are rendered here from the generator rather than read from the
//! store: the store is asked only which data set it holds
//! ([`Store::data_set`]), at most once per [`DATA_SET_REFRESH`], and when it
//! fails the last known data set still answers. Both backends therefore
//! serve the same products, with no product records to load or keep.
//!
//! - Product and search bodies are cached in this process, bounded by
//!   bytes, keyed by the data set: they never go stale, so they need
//!   neither invalidation nor Redis; `X-Cache` says `HIT-L1` or `MISS`.
//! - Search runs on a [`Catalog`] built on the first search in each
//!   process, off the async threads (about 12 bytes per product).
//! - Generated photos are stored as paths under `/photos/`; the
//!   [`PhotoBase`] rewrites that prefix when a page is rendered, so a
//!   deployment can serve them from a CDN without re-seeding.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use super::{Lookup, Origin, Service, Store, StoreError, unknown_product};
use crate::cache::Entry;
use crate::generate::catalog::Catalog;
use crate::generate::{DataSet, Generator, photo};

/// How often the data set is asked of the store again (a new load shows
/// within this).
pub const DATA_SET_REFRESH: Duration = Duration::from_secs(1);
/// Largest search page.
pub const MAX_SEARCH_COUNT: u32 = 50;
/// Search page size when the query names none.
pub const DEFAULT_SEARCH_COUNT: u32 = 10;
/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 100;

/// Where generated photos are served from: the service's own `/photos/`
/// (the default), another path on its origin, or an absolute http(s) URL
/// such as a CDN's. Generated reviews store their photos as paths under
/// `/photos/`; a page rewrites that prefix to this base when it is
/// rendered. Photos shoppers post are absolute URLs and are never touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoBase(String);

impl Default for PhotoBase {
    fn default() -> Self {
        PhotoBase(photo::PREFIX.to_string())
    }
}

impl PhotoBase {
    /// Parses `--photo-base-url`: a path starting with `/` or an http(s)
    /// URL, without spaces, quotes or angle brackets, at most 1,024 bytes;
    /// a `/` is added at the end if missing.
    pub fn parse(raw: &str) -> Result<PhotoBase, String> {
        let allowed = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '<' | '>' | '\\');
        let absolute = ["http://", "https://"]
            .iter()
            .any(|scheme| raw.len() > scheme.len() && raw.starts_with(scheme));
        let path = raw.starts_with('/') && !raw.starts_with("//");
        if raw.len() > 1024 || !raw.chars().all(allowed) || !(absolute || path) {
            return Err(format!(
                "expected a path starting with / or an http(s) URL (e.g. https://cdn.example.com/photos/), got {raw:?}"
            ));
        }
        let mut base = raw.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(PhotoBase(base))
    }

    /// The base, ending in `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where a stored photo URL is served: a generated photo's path moved
    /// under the base; any other URL as it is.
    pub fn url(&self, stored: &str) -> String {
        self.moved(stored).unwrap_or_else(|| stored.to_string())
    }

    /// Where a generated photo's path moves under a base other than the
    /// default; `None` when it stays as stored (the default base, or a
    /// URL a shopper posted).
    pub fn moved(&self, stored: &str) -> Option<String> {
        match stored.strip_prefix(photo::PREFIX) {
            Some(rest) if self.0 != photo::PREFIX => Some(format!("{}{rest}", self.0)),
            _ => None,
        }
    }
}

/// A validated product search: `GET /products?query=&page=&count=`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductQuery {
    /// The words to find, as given (at most [`MAX_QUERY_CHARS`]).
    pub query: String,
    /// 1-based page number.
    pub page: u32,
    /// Page size, 1..=[`MAX_SEARCH_COUNT`].
    pub count: u32,
}

/// A generated picture the service serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Picture {
    /// A photo of a generated review, by photo id.
    Review(u64),
    /// A product's picture, by product id.
    Product(u64),
}

/// What a cached product body is of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Product(DataSet, u64),
    Search(DataSet, ProductQuery),
}

/// The data set as last read, and when.
#[derive(Default)]
struct Known {
    set: Option<Option<DataSet>>,
    checked: Option<Instant>,
    refreshing: bool,
}

/// The state products and pictures are served from.
pub struct Products {
    photos: PhotoBase,
    known: Mutex<Known>,
    /// The search index of one data set, once built.
    catalog: RwLock<Option<(DataSet, Arc<Catalog>)>>,
    /// Held while a catalog is built, so one process builds it once.
    building: tokio::sync::Mutex<()>,
    bodies: Option<moka::sync::Cache<Key, Arc<Entry>>>,
}

impl Default for Products {
    fn default() -> Self {
        Products::new(PhotoBase::default(), 0)
    }
}

impl Products {
    /// Products whose photos are served from `photos`, keeping up to
    /// `cache_bytes` of rendered bodies (0: none).
    pub fn new(photos: PhotoBase, cache_bytes: u64) -> Products {
        let bodies = (cache_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(cache_bytes)
                .weigher(|_: &Key, entry: &Arc<Entry>| entry.weight())
                .build()
        });
        Products {
            photos,
            known: Mutex::new(Known::default()),
            catalog: RwLock::new(None),
            building: tokio::sync::Mutex::new(()),
            bodies,
        }
    }

    /// Where generated photos are served from.
    pub fn photo_base(&self) -> &PhotoBase {
        &self.photos
    }
}

impl<S: Store> Service<S> {
    /// `GET /products/:id`: the product, rendered; an unknown one's answer
    /// has `found: false`.
    pub async fn product(&self, product_id: u64) -> Result<Lookup, StoreError> {
        let set = self.data_set().await?;
        let Some(set) = set else {
            return Ok(fresh(false, unknown(product_id)));
        };
        self.cached(Key::Product(set, product_id), async {
            let g = Generator::new(set);
            Ok(match self.render_product(&g, product_id) {
                Some(body) => (
                    true,
                    serde_json::to_vec(&body).expect("a product serializes"),
                ),
                None => (false, unknown(product_id)),
            })
        })
        .await
    }

    /// `GET /products?query=&page=&count=`: the matching products in id
    /// order (low ids are the most reviewed), one page of them.
    pub async fn search(&self, q: ProductQuery) -> Result<Lookup, StoreError> {
        let Some(set) = self.data_set().await? else {
            let body = SearchBody {
                query: &q.query,
                page: q.page,
                count: q.count,
                total: 0,
                results: Vec::new(),
            };
            return Ok(fresh(true, serde_json::to_vec(&body).expect("JSON")));
        };
        self.cached(Key::Search(set, q.clone()), async {
            let catalog = self.catalog(set).await?;
            let offset = u64::from(q.page - 1) * u64::from(q.count);
            let (query, count) = (q.query.clone(), q.count as usize);
            let hits = tokio::task::spawn_blocking(move || catalog.search(&query, offset, count))
                .await
                .map_err(|e| StoreError::Unavailable(format!("search failed: {e}")))?;
            let g = Generator::new(set);
            let body = SearchBody {
                query: &q.query,
                page: q.page,
                count: q.count,
                total: hits.total,
                results: hits
                    .ids
                    .iter()
                    .filter_map(|&id| self.render_product(&g, id))
                    .collect(),
            };
            Ok((true, serde_json::to_vec(&body).expect("JSON")))
        })
        .await
    }

    /// The SVG of a generated picture of the data set whose tag is `tag`;
    /// `None` when there is no such picture (another data set's included).
    pub async fn picture(&self, tag: &str, picture: Picture) -> Result<Option<Bytes>, StoreError> {
        let Some(set) = self.data_set().await?.filter(|set| set.tag() == tag) else {
            return Ok(None);
        };
        let g = Generator::new(set);
        let svg = match picture {
            Picture::Review(photo_id) => photo::review_photo(&g, photo_id),
            Picture::Product(product_id) => photo::product_image(&g, product_id),
        };
        Ok(svg.map(Bytes::from))
    }

    /// Where generated photos are served from.
    pub fn photo_base(&self) -> &PhotoBase {
        self.products.photo_base()
    }

    fn render_product(&self, g: &Generator, product_id: u64) -> Option<ProductBody> {
        let product = g.product(product_id)?;
        Some(ProductBody {
            product_id,
            name: product.name,
            category: product.category,
            image: self.photo_base().url(&g.product_image_path(product_id)),
        })
    }

    /// The data set the store holds, asked again at most once per
    /// [`DATA_SET_REFRESH`] (by one caller; the others use what is known);
    /// the last known one when the store fails.
    async fn data_set(&self) -> Result<Option<DataSet>, StoreError> {
        let known = {
            let mut known = self.products.known.lock().expect("data set lock");
            let fresh = known
                .checked
                .is_some_and(|at| at.elapsed() < DATA_SET_REFRESH);
            match known.set {
                Some(set) if fresh || known.refreshing => return Ok(set),
                _ => {}
            }
            known.refreshing = true;
            known.set
        };
        let read = self.read(self.store.data_set()).await;
        let mut state = self.products.known.lock().expect("data set lock");
        state.refreshing = false;
        match read {
            Ok(set) => {
                state.set = Some(set);
                state.checked = Some(Instant::now());
                Ok(set)
            }
            Err(e) => match known.flatten() {
                Some(set) => Ok(Some(set)),
                None => Err(e),
            },
        }
    }

    /// The search index of `set`, built on first use off the async threads.
    async fn catalog(&self, set: DataSet) -> Result<Arc<Catalog>, StoreError> {
        let built = |slot: &Option<(DataSet, Arc<Catalog>)>| match slot {
            Some((s, catalog)) if *s == set => Some(Arc::clone(catalog)),
            _ => None,
        };
        if let Some(catalog) = built(&self.products.catalog.read().expect("catalog lock")) {
            return Ok(catalog);
        }
        let _building = self.products.building.lock().await;
        if let Some(catalog) = built(&self.products.catalog.read().expect("catalog lock")) {
            return Ok(catalog);
        }
        let started = Instant::now();
        let catalog = tokio::task::spawn_blocking(move || Catalog::build(&Generator::new(set)))
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("building the product index failed: {e}"))
            })?;
        tracing::info!(
            "product index of {} products built in {:.0} ms ({:.1} MiB)",
            catalog.products(),
            started.elapsed().as_secs_f64() * 1e3,
            catalog.heap_bytes() as f64 / f64::from(1 << 20)
        );
        let catalog = Arc::new(catalog);
        *self.products.catalog.write().expect("catalog lock") = Some((set, Arc::clone(&catalog)));
        Ok(catalog)
    }

    /// The body for `key` from this process's cache, or rendered by `render`
    /// (found, body) and kept.
    async fn cached(
        &self,
        key: Key,
        render: impl Future<Output = Result<(bool, Vec<u8>), StoreError>>,
    ) -> Result<Lookup, StoreError> {
        let bodies = &self.products.bodies;
        if let Some(entry) = bodies.as_ref().and_then(|b| b.get(&key)) {
            return Ok(Lookup {
                entry,
                origin: Origin::L1,
            });
        }
        let (found, body) = render.await?;
        let lookup = fresh(found, body);
        if let Some(bodies) = bodies {
            bodies.insert(key, Arc::clone(&lookup.entry));
        }
        Ok(lookup)
    }
}

/// A body just rendered, as a cache entry that never goes stale.
fn fresh(found: bool, body: Vec<u8>) -> Lookup {
    Lookup {
        entry: Arc::new(Entry::new(found, Bytes::from(body), u64::MAX, 0, 0)),
        origin: Origin::Store,
    }
}

fn unknown(product_id: u64) -> Vec<u8> {
    super::render::error(&unknown_product(product_id))
}

/// The body of `GET /products/:id`, and an item of a search.
#[derive(Serialize)]
struct ProductBody {
    product_id: u64,
    name: String,
    category: &'static str,
    image: String,
}

/// The body of `GET /products`.
#[derive(Serialize)]
struct SearchBody<'a> {
    query: &'a str,
    page: u32,
    count: u32,
    total: u64,
    results: Vec<ProductBody>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_bases_parse_and_rewrite_only_generated_photos() {
        assert_eq!(PhotoBase::default().as_str(), "/photos/");
        let cdn = PhotoBase::parse("https://cdn.example.com/p").unwrap();
        assert_eq!(cdn.as_str(), "https://cdn.example.com/p/");
        assert_eq!(
            cdn.url("/photos/0a1b2c3d/7.svg"),
            "https://cdn.example.com/p/0a1b2c3d/7.svg"
        );
        assert_eq!(
            cdn.url("https://img.example/1.jpg"),
            "https://img.example/1.jpg"
        );
        assert_eq!(
            PhotoBase::parse("/img").unwrap().url("/photos/x/1.svg"),
            "/img/x/1.svg"
        );
        for bad in [
            "",
            "cdn.example.com",
            "ftp://x/",
            "//cdn.example.com/",
            "/a b",
            "https://",
            "/\"x",
        ] {
            assert!(PhotoBase::parse(bad).is_err(), "{bad:?}");
        }
    }
}
