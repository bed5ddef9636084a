//! Filters and searches of `GET /reviews/:product_id` through the real
//! server, over keep-alive connections: what a shopper filtering a large
//! product sees, the 400s a bad filter gets, and how filtered views are
//! cached — at a version, revalidated with ETags, at most 32 per product.
//! (Every filter and order against an oracle, on both stores, is the
//! shared store suite's.)

mod common;

use common::{KeepAlive, Options, RedisServer, TestApp, visible_reviews};
use serde_json::{Value, json};

/// Every result of `path` (a filtered view), paged to the end with
/// `count=50`, and the `total` each page gave.
async fn every_page(client: &mut KeepAlive, path: &str) -> (Vec<Value>, u64) {
    let (mut all, mut total) = (Vec::new(), None);
    for page in 1.. {
        let resp = client
            .get(&format!("{path}&count=50&page={page}"))
            .await
            .unwrap();
        assert_eq!(resp.status, 200, "{path}: {}", resp.error());
        let body = resp.json();
        let this = body["total"].as_u64().unwrap();
        assert_eq!(*total.get_or_insert(this), this, "{path}: total moved");
        let results = body["results"].as_array().unwrap().clone();
        if results.is_empty() {
            return (all, this);
        }
        all.extend(results);
    }
    unreachable!()
}

/// Waits for `n` Redis keys matching `pattern` (fills are written in the
/// background).
async fn filled(redis: &RedisServer, pattern: &str, n: usize) {
    assert_eq!(redis.count_keys_when(pattern, n).await, n, "{pattern}");
}

fn ids(results: &[Value]) -> Vec<u64> {
    results
        .iter()
        .map(|r| r["review_id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_shopper_filters_a_large_product_by_stars_photos_and_words() {
    let app = TestApp::spawn().await;
    let g = app.generator();
    let product = 1;
    let visible = visible_reviews(&g, product);
    assert!(visible.len() > 100, "product 1 is large: {}", visible.len());
    let mut client = KeepAlive::new(app.addr);
    let meta = client
        .get(&format!("/reviews/{product}/meta"))
        .await
        .unwrap()
        .json();

    // Each star: exactly the product's reviews with it, as many as meta
    // counts, newest first.
    for stars in 1..=5u8 {
        let (results, total) = every_page(
            &mut client,
            &format!("/reviews/{product}?rating={stars}&sort=newest"),
        )
        .await;
        assert_eq!(total, meta["ratings"][stars.to_string()].as_u64().unwrap());
        let mut expected: Vec<_> = visible.iter().filter(|s| s.rating == stars).collect();
        expected.sort_by_key(|s| std::cmp::Reverse((s.date, s.review_id)));
        let expected: Vec<u64> = expected.iter().map(|s| s.review_id).collect();
        assert_eq!(ids(&results), expected, "rating={stars}");
    }

    // Several stars with photos, by stars low to high.
    let (results, total) = every_page(
        &mut client,
        &format!("/reviews/{product}?rating=1,2,3&with_photos=true&sort=rating_low"),
    )
    .await;
    let mut expected: Vec<_> = visible
        .iter()
        .filter(|s| s.rating <= 3 && g.photo_count(s.review_id) > 0)
        .collect();
    expected.sort_by_key(|s| (s.rating, std::cmp::Reverse((s.date, s.review_id))));
    assert!(!expected.is_empty());
    assert_eq!(total, expected.len() as u64);
    assert_eq!(
        ids(&results),
        expected.iter().map(|s| s.review_id).collect::<Vec<_>>()
    );
    assert!(
        results
            .iter()
            .all(|r| !r["photos"].as_array().unwrap().is_empty())
    );

    // A word of one review's body, shouted and accented, finds it and only
    // reviews holding that word whole.
    let some = g.record(visible[3].review_id);
    let word = some
        .body
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| w.len() >= 6)
        .unwrap()
        .to_string();
    let shouted = word.to_uppercase().replacen('E', "%C3%89", 1);
    let (results, total) =
        every_page(&mut client, &format!("/reviews/{product}?q={shouted}")).await;
    assert!(ids(&results).contains(&some.review_id), "q={word}");
    assert_eq!(total, results.len() as u64);
    let lower = word.to_lowercase();
    for r in &results {
        let text = format!("{} {}", r["summary"], r["body"]).to_lowercase();
        let whole = text
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == lower);
        assert!(
            whole,
            "{lower} not a whole word of review {}",
            r["review_id"]
        );
    }
    let others = visible.len() as u64 - total;
    assert!(others > 0, "a word every review holds says nothing");
}

#[tokio::test]
async fn a_bad_filter_is_a_400_naming_it_before_the_product_is_looked_up() {
    let app = TestApp::spawn().await;
    let mut client = KeepAlive::new(app.addr);
    for (query, needle) in [
        ("rating=0", "rating must be"),
        ("rating=6", "rating must be"),
        ("rating=4%2C", "rating must be"),
        ("rating=", "rating must be"),
        ("rating=5&rating=4", "rating is given more than once"),
        ("with_photos=yes", "with_photos must be true or false"),
        ("q=a+fit", "q words must be 2 to 32"),
        ("q=aa+bb+cc+dd+ee+ff+gg+hh+ii", "q may hold at most 8"),
        ("q=%01%02", "q must not contain control characters"),
        ("q=%C3%9F+fit", "q words must be 2 to 32"),
        ("sort=rating", "sort must be one of"),
    ] {
        for product in [2, 999_999_999] {
            let resp = client
                .get(&format!("/reviews/{product}?{query}"))
                .await
                .unwrap();
            assert_eq!(resp.status, 400, "{query} on {product}");
            assert!(resp.error().contains(needle), "{query}: {}", resp.error());
        }
    }
    // The connection served them all.
    assert_eq!(client.connects, 1);
}

#[tokio::test]
async fn filtered_views_are_cached_at_their_version_and_bounded_per_product() {
    let redis = RedisServer::start();
    let app = TestApp::start(Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    })
    .await;
    let mut client = KeepAlive::new(app.addr);
    let product = 2;
    let path = format!("/reviews/{product}?rating=5&sort=newest&count=3");

    let first = client.get(&path).await.unwrap();
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let again = client.get(&path).await.unwrap();
    assert_eq!(again.header("x-cache"), Some("HIT-L1"));
    assert_eq!(again.body, first.body);
    let etag = first.header("etag").unwrap().to_string();
    let revalidated = client
        .send("GET", &path, &[("If-None-Match", &etag)], b"")
        .await
        .unwrap();
    assert_eq!(revalidated.status, 304);
    // One spelling, one entry: the same stars in another order hit it.
    let respelled = client
        .get(&format!("/reviews/{product}?count=3&sort=newest&rating=5"))
        .await
        .unwrap();
    assert_eq!(respelled.header("x-cache"), Some("HIT-L1"));
    filled(&redis, &format!("reviews:v7:{product}:p1.3.newest.r16"), 1).await;

    // A 5-star review: the writer's next filtered read shows it.
    let review = json!({
        "rating": 5, "summary": "Fits like a glove", "recommend": true,
        "body": "Sizing runs true, the stitching is tidy and it still looks new after a month.",
        "name": "Ana", "email": "ana@example.com", "photos": ["https://img.example/x.jpg"],
        "characteristics": common::characteristics(product, 3)
    });
    let posted = client
        .send(
            "POST",
            &format!("/reviews/{product}"),
            &[("Content-Type", "application/json")],
            review.to_string().as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(posted.status, 201);
    let id = posted.json()["review_id"].as_u64().unwrap();
    let after = client.get(&path).await.unwrap();
    assert_ne!(after.header("x-cache"), Some("HIT-L1"));
    let body = after.json();
    assert_eq!(body["results"][0]["review_id"], id);
    assert_eq!(body["total"], first.json()["total"].as_u64().unwrap() + 1);
    let stale = client
        .send("GET", &path, &[("If-None-Match", &etag)], b"")
        .await
        .unwrap();
    assert_eq!(stale.status, 200, "the old ETag no longer matches");
    let found = client
        .get(&format!(
            "/reviews/{product}?q=glove+SIZING&with_photos=true"
        ))
        .await
        .unwrap()
        .json();
    assert_eq!(ids(found["results"].as_array().unwrap()), [id]);

    // Searches a client makes up: the product's first 32 filtered views
    // (this test made two so far) are cached; past them, a search is
    // answered from the store and cached nowhere, in L1 or Redis.
    let search = |n: usize| format!("/reviews/{product}?q=word{n}");
    for n in 0..30 {
        let resp = client.get(&search(n)).await.unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-cache"), Some("MISS"), "search {n}");
        let hit = client.get(&search(n)).await.unwrap();
        assert_eq!(hit.header("x-cache"), Some("HIT-L1"), "search {n} again");
    }
    for _ in 0..2 {
        let past = client.get(&search(30)).await.unwrap();
        assert_eq!(past.status, 200);
        assert_eq!(past.json()["total"], 0);
        assert_eq!(past.header("x-cache"), Some("MISS"), "the 33rd view");
    }
    filled(&redis, &format!("reviews:v7:{product}:*.qword29"), 1).await;
    assert_eq!(
        redis.count_keys(&format!("reviews:v7:{product}:*.qword30")),
        0
    );
    // Other products, and unfiltered views, are not held back.
    for path in [format!("/reviews/{product}"), "/reviews/3?q=word30".into()] {
        client.get(&path).await.unwrap();
        let hit = client.get(&path).await.unwrap();
        assert_eq!(hit.header("x-cache"), Some("HIT-L1"), "{path}");
    }
    assert_eq!(client.connects, 1);
}
