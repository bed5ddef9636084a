//! Products and generated photos: what `/products` and `/photos` answer,
//! against the generator. The service-level suite runs over every store
//! backend (the embedded store always; MongoDB `#[ignore]`d, run with
//! `--ignored` against `MONGODB_URI`), since products are rendered from the
//! data set each store names; the HTTP tests run the real application.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Options, TestApp};
use reviews::cache::{CacheConfig, ReadThrough};
use reviews::generate::catalog::words;
use reviews::generate::{DataSet, Generator};
use reviews::metrics::Metrics;
use reviews::model::photo_id;
use reviews::seeding::Silent;
use reviews::service::products::{PhotoBase, Picture, ProductQuery, Products};
use reviews::service::{Lookup, Service};
use reviews::store::Store;
use reviews::store::embedded::EmbeddedStore;
use reviews::store::load::LoadOptions;
#[cfg(feature = "mongodb")]
use reviews::store::mongo::{MongoConfig, MongoStore};
use serde_json::{Value, json};

const SET: DataSet = DataSet {
    seed: 5,
    records: 4000,
    products: 400,
};

fn service<S: Store>(store: S) -> Service<S> {
    let cache = ReadThrough::new(&CacheConfig {
        l1_bytes: 1 << 20,
        redis_url: None,
        ttl: Duration::from_secs(60),
        redis_timeout: Duration::from_millis(100),
    })
    .unwrap();
    Service::new(store, cache, Arc::new(Metrics::new(None)))
        .with_products(Products::new(PhotoBase::default(), 1 << 20))
}

fn body(lookup: &Lookup) -> Value {
    serde_json::from_slice(&lookup.entry.body).unwrap()
}

/// Product `id` as the API must show it.
fn expected_product(g: &Generator, id: u64) -> Value {
    let p = g.product(id).unwrap();
    json!({
        "product_id": id,
        "name": p.name,
        "category": p.category,
        "image": g.product_image_path(id),
    })
}

/// The ids of products whose name or category has a word starting with
/// every word of `query`, by brute force.
fn matching(g: &Generator, query: &str) -> Vec<u64> {
    let wanted = words(query);
    (1..=g.data_set().products)
        .filter(|&id| {
            let p = g.product(id).unwrap();
            let have = words(&format!("{} {}", p.name, p.category));
            wanted
                .iter()
                .all(|w| have.iter().any(|h| h.starts_with(w.as_str())))
        })
        .collect()
}

/// The same answers over every backend: products by id, search pages,
/// pictures, from the data set the store names.
async fn products_suite<S: Store>(service: &Service<S>) {
    assert_eq!(service.store().data_set().await.unwrap(), Some(SET));
    let g = Generator::new(SET);
    for id in [1, 2, 77, SET.products] {
        let lookup = service.product(id).await.unwrap();
        assert!(lookup.entry.found);
        assert_eq!(body(&lookup), expected_product(&g, id));
    }
    for unknown in [0, SET.products + 1, u64::MAX] {
        let lookup = service.product(unknown).await.unwrap();
        assert!(!lookup.entry.found, "product {unknown}");
        assert_eq!(
            body(&lookup),
            json!({"error": format!("product {unknown} not found")})
        );
    }
    let name = g.product(123).unwrap().name;
    for query in ["", "shoes", "kes", "run sho", "zzz", name.as_str()] {
        let expected = matching(&g, query);
        for (page, count) in [(1, 10), (2, 3), (1000, 50)] {
            let q = ProductQuery {
                query: query.to_string(),
                page,
                count,
            };
            let got = body(&service.search(q).await.unwrap());
            let window: Vec<Value> = expected
                .iter()
                .skip(((page - 1) * count) as usize)
                .take(count as usize)
                .map(|&id| expected_product(&g, id))
                .collect();
            assert_eq!(
                got,
                json!({"query": query, "page": page, "count": count,
                       "total": expected.len(), "results": window}),
                "{query:?} page {page}"
            );
        }
    }
    let with_photos = (1..=SET.records).find(|&id| g.photo_count(id) > 1).unwrap();
    let tag = SET.tag();
    let first = Picture::Review(photo_id(with_photos, 0));
    let svg = service.picture(&tag, first).await.unwrap().unwrap();
    assert!(svg.starts_with(b"<svg "));
    let missing = Picture::Review(photo_id(with_photos, g.photo_count(with_photos)));
    assert_eq!(service.picture(&tag, missing).await.unwrap(), None);
    assert_eq!(service.picture("00000000", first).await.unwrap(), None);
    let picture = Picture::Product(SET.products);
    assert!(service.picture(&tag, picture).await.unwrap().is_some());
    let beyond = Picture::Product(SET.products + 1);
    assert_eq!(service.picture(&tag, beyond).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_serves_products() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.data_set().await.unwrap(), None, "nothing loaded yet");
    let empty = service(store.clone());
    assert!(!empty.product(1).await.unwrap().entry.found);
    store
        .load(SET, LoadOptions::default(), &mut Silent)
        .unwrap();
    products_suite(&service(store)).await;
}

#[cfg(feature = "mongodb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (a MongoDB replica set, standalone or mongos)"]
async fn mongodb_store_serves_products() {
    let config = MongoConfig {
        uri: common::mongo::fresh_database_uri("products"),
        read_preference: "secondaryPreferred".into(),
        pool_size: 8,
        timeout: Duration::from_secs(10),
    };
    let store = MongoStore::connect(&config)
        .await
        .expect("MongoDB reachable");
    assert_eq!(store.data_set().await.unwrap(), None, "nothing loaded yet");
    let options = LoadOptions {
        batch: 500,
        threads: 2,
    };
    store.load(SET, options, &mut Silent).await.unwrap();
    let service = service(store);
    products_suite(&service).await;
    service.store().drop_all().await.unwrap();
}

#[tokio::test]
async fn products_over_http_are_cached_reads() {
    let app = TestApp::spawn().await;
    let g = app.generator();
    let first = app.get("/products/2").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.json(), expected_product(&g, 2));
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(first.header("cache-control"), Some("public, max-age=300"));
    let again = app.get("/products/2").await;
    assert_eq!(again.header("x-cache"), Some("HIT-L1"));
    assert_eq!(again.body, first.body);
    let etag = first.header("etag").unwrap();
    let revalidated = app
        .request("GET", "/products/2", &[("If-None-Match", etag)], b"")
        .await;
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());
    let head = app.request("HEAD", "/products/2", &[], b"").await;
    assert_eq!((head.status, head.body.len()), (200, 0));

    let unknown = app
        .get(&format!("/products/{}", app.set.products + 1))
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.error(),
        format!("product {} not found", app.set.products + 1)
    );
    for (path, message) in [
        ("/products/abc", "product_id must be a positive integer"),
        ("/products/0", "product_id must be at least 1"),
        (
            "/products?count=51",
            "count must be an integer from 1 to 50",
        ),
        ("/products?page=0", "page must be an integer from 1 to"),
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status, 400, "{path}");
        assert!(
            resp.error().starts_with(message),
            "{path}: {}",
            resp.error()
        );
    }
    let post = app.request("POST", "/products/2", &[], b"").await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD, OPTIONS"));

    let name = g.product(7).unwrap().name;
    let query = name.split(", ").next().unwrap();
    let path = format!("/products?query={}&count=5", query.replace(' ', "+"));
    let found = app.get(&path).await.json();
    let expected = matching(&g, query);
    assert_eq!(found["total"], json!(expected.len()));
    assert_eq!(found["results"][0], expected_product(&g, expected[0]));
    assert!(expected.contains(&7));
}

#[tokio::test]
async fn generated_photos_load_and_stay_cached_for_a_year() {
    let app = TestApp::spawn().await;
    let g = app.generator();
    let review = (1..=app.set.records)
        .map(|id| g.record(id))
        .find(|r| r.photos.len() >= 2 && !r.reported)
        .unwrap();
    let page = app
        .get(&format!(
            "/reviews/{}?count=100&sort=newest",
            review.product_id
        ))
        .await
        .json();
    let shown = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["review_id"] == json!(review.review_id))
        .expect("the review is on the product's first page");
    let urls: Vec<&str> = shown["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["url"].as_str().unwrap())
        .collect();
    let tag = app.set.tag();
    assert_eq!(urls.len(), review.photos.len());
    for (k, url) in urls.iter().enumerate() {
        let id = photo_id(review.review_id, k as u64);
        assert_eq!(*url, format!("/photos/{tag}/{id}.svg"));
        let photo = app.get(url).await;
        assert_eq!(photo.status, 200, "{url}");
        assert_eq!(photo.header("content-type"), Some("image/svg+xml"));
        assert_eq!(
            photo.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(photo.header("x-content-type-options"), Some("nosniff"));
        assert!(photo.body.starts_with(b"<svg "));
        let etag = photo.header("etag").unwrap();
        let again = app
            .request("GET", url, &[("If-None-Match", etag)], b"")
            .await;
        assert_eq!(again.status, 304);
    }
    let product = app.get("/products/3").await.json();
    let picture = app.get(product["image"].as_str().unwrap()).await;
    assert_eq!(picture.status, 200);
    for (path, status) in [
        (
            format!(
                "/photos/{tag}/{}.svg",
                photo_id(review.review_id, review.photos.len() as u64)
            ),
            404,
        ),
        ("/photos/00000000/1.svg".to_string(), 404),
        (format!("/photos/{tag}/p{}.svg", app.set.products + 1), 404),
        (format!("/photos/{tag}/1.png"), 400),
        ("/photos/XYZ/1.svg".to_string(), 400),
    ] {
        assert_eq!(app.get(&path).await.status, status, "{path}");
    }
}

#[tokio::test]
async fn a_photo_base_moves_generated_photos_but_not_shoppers_photos() {
    let cdn = "https://cdn.example.com/reviews-photos/";
    let app = TestApp::start(Options {
        photo_base: PhotoBase::parse(cdn).unwrap(),
        ..Options::default()
    })
    .await;
    let g = app.generator();
    let review = (1..=app.set.records)
        .map(|id| g.record(id))
        .find(|r| !r.photos.is_empty() && !r.reported)
        .unwrap();
    let page = app
        .get(&format!(
            "/reviews/{}?count=100&sort=newest",
            review.product_id
        ))
        .await
        .json();
    let urls: Vec<String> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["photos"].as_array().unwrap().clone())
        .map(|p| p["url"].as_str().unwrap().to_string())
        .collect();
    let expected = format!("{cdn}{}/{}.svg", app.set.tag(), review.photos[0].id);
    assert!(urls.contains(&expected), "{expected} in {urls:?}");
    assert!(urls.iter().all(|u| u.starts_with(cdn)));
    let product = app.get("/products/2").await.json();
    assert_eq!(
        product["image"],
        json!(format!("{cdn}{}/p2.svg", app.set.tag()))
    );

    let mine = "https://img.example/photos/mine.jpg";
    let new = json!({"rating": 4, "summary": "Nice", "body": "b".repeat(60), "recommend": true,
        "name": "Ava", "email": "ava@example.com", "photos": [mine],
        "characteristics": common::characteristics(2, 4)});
    let posted = app
        .request(
            "POST",
            "/reviews/2",
            &[("Content-Type", "application/json")],
            new.to_string().as_bytes(),
        )
        .await;
    assert_eq!(posted.status, 201);
    let newest = app.get("/reviews/2?count=1&sort=newest").await.json();
    assert_eq!(newest["results"][0]["photos"][0]["url"], json!(mine));
}
