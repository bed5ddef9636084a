//! The read API against the real server and the demo data set: what a
//! storefront sees, predicted from the generator.

mod common;

use common::{TestApp, visible_reviews};
use reviews::generate::Scalars;
use reviews::model::UtcDate;
use serde_json::Value;

/// The visible ids of a product in the order a sort must give, computed
/// independently of the server (floating-point score as the spec words it).
fn expected_order(mut reviews: Vec<Scalars>, sort: &str) -> Vec<u64> {
    let score = |s: &Scalars| f64::from(s.helpfulness) + s.date as f64 / 31_536_000.0;
    reviews.sort_by(|a, b| {
        let by = match sort {
            "newest" => b.date.cmp(&a.date),
            "helpful" => b.helpfulness.cmp(&a.helpfulness).then(b.date.cmp(&a.date)),
            _ => score(b).total_cmp(&score(a)),
        };
        by.then(b.review_id.cmp(&a.review_id))
    });
    reviews.iter().map(|s| s.review_id).collect()
}

#[tokio::test]
async fn every_sort_pages_through_a_big_product_in_order() {
    let app = TestApp::spawn().await;
    let g = app.generator();
    let product = 1; // the most reviewed product of the data set
    let visible = visible_reviews(&g, product);
    assert!(visible.len() > 40, "product 1 is large: {}", visible.len());
    for sort in ["relevant", "newest", "helpful"] {
        let expected = expected_order(visible.clone(), sort);
        let mut seen = Vec::new();
        let count = 7;
        let pages = expected.len().div_ceil(count);
        for page in 1..=pages + 1 {
            let resp = app
                .get(&format!(
                    "/reviews/{product}?sort={sort}&page={page}&count={count}"
                ))
                .await;
            assert_eq!(resp.status, 200);
            let body = resp.json();
            assert_eq!(body["product_id"], product);
            assert_eq!(body["page"], page);
            assert_eq!(body["count"], count);
            assert_eq!(body["total"], expected.len());
            let got = common::review_ids(&body);
            let want = if page <= pages {
                count.min(expected.len() - (page - 1) * count)
            } else {
                0
            };
            assert_eq!(got.len(), want, "{sort} page {page}");
            seen.extend(got);
        }
        assert_eq!(seen, expected, "sort {sort}");
    }
    // The default sort is relevant.
    let default = app.get(&format!("/reviews/{product}")).await.json();
    assert_eq!(
        common::review_ids(&default),
        expected_order(visible.clone(), "relevant")[..5]
    );
    assert_eq!(default["count"], 5);
}

#[tokio::test]
async fn a_review_reads_exactly_as_generated() {
    let app = TestApp::spawn().await;
    let g = app.generator();
    // A review with photos and a response, to check every field.
    let record = (1..=common::RECORDS)
        .map(|id| g.record(id))
        .find(|r| !r.reported && !r.photos.is_empty() && r.response.is_some())
        .expect("the data set has such a review");
    let order = expected_order(visible_reviews(&g, record.product_id), "newest");
    let position = order.iter().position(|&id| id == record.review_id).unwrap();
    let page = position + 1; // count=1: page n holds the n-th review
    let body = app
        .get(&format!(
            "/reviews/{}?sort=newest&count=1&page={page}",
            record.product_id
        ))
        .await
        .json();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let got = &results[0];
    let photos: Vec<Value> = record
        .photos
        .iter()
        .map(|p| serde_json::json!({"id": p.id, "url": p.url}))
        .collect();
    let rated: serde_json::Map<String, Value> = record
        .characteristics
        .iter()
        .map(|(kind, value)| (kind.name().to_string(), Value::from(value)))
        .collect();
    assert_eq!(
        rated.len(),
        g_characteristics(&app, record.product_id),
        "a generated review rates each of its product's characteristics"
    );
    let want = serde_json::json!({
        "review_id": record.review_id,
        "rating": record.rating,
        "summary": record.summary,
        "recommend": record.recommend,
        "response": record.response,
        "body": record.body,
        "date": UtcDate(record.date).to_string(),
        "reviewer_name": record.reviewer_name,
        "helpfulness": record.helpfulness,
        "photos": photos,
        "characteristics": rated,
    });
    assert_eq!(got, &want);
    let raw = String::from_utf8(
        app.get(&format!("/reviews/{}?count=100", record.product_id))
            .await
            .body,
    )
    .unwrap();
    assert!(
        !raw.contains(&record.reviewer_email),
        "emails are never returned"
    );
    assert!(!raw.contains("email") && !raw.contains("reported"));
}

#[tokio::test]
async fn reported_reviews_never_appear() {
    let app = TestApp::spawn().await;
    let g = app.generator();
    let reported = (1..=common::RECORDS)
        .map(|id| g.scalars(id))
        .find(|s| s.reported)
        .unwrap();
    let all = app
        .get(&format!(
            "/reviews/{}?count=100&sort=newest",
            reported.product_id
        ))
        .await
        .json();
    let mut seen = common::review_ids(&all);
    let total = all["total"].as_u64().unwrap() as usize;
    for page in 2..=total.div_ceil(100) {
        let more = app
            .get(&format!(
                "/reviews/{}?count=100&sort=newest&page={page}",
                reported.product_id
            ))
            .await;
        seen.extend(common::review_ids(&more.json()));
    }
    assert_eq!(seen.len(), total);
    assert!(!seen.contains(&reported.review_id));
    assert_eq!(total, visible_reviews(&g, reported.product_id).len());
}

#[tokio::test]
async fn page_edges() {
    let app = TestApp::spawn().await;
    let g = app.generator();
    let product = 3;
    let expected = expected_order(visible_reviews(&g, product), "relevant");
    let n = expected.len();
    assert!(n >= 3, "product 3 has several reviews");

    let one = app.get(&format!("/reviews/{product}?count=1")).await.json();
    assert_eq!(common::review_ids(&one), [expected[0]]);
    let last = app
        .get(&format!("/reviews/{product}?count=1&page={n}"))
        .await
        .json();
    assert_eq!(common::review_ids(&last), [expected[n - 1]]);
    let hundred = app
        .get(&format!("/reviews/{product}?count=100"))
        .await
        .json();
    assert_eq!(common::review_ids(&hundred), expected[..n.min(100)]);
    assert_eq!(
        hundred["count"], 100,
        "count echoes the page size asked for"
    );

    let past = app
        .get(&format!("/reviews/{product}?count=100&page=1000000"))
        .await;
    assert_eq!(past.status, 200);
    let past = past.json();
    assert_eq!(past["results"], serde_json::json!([]));
    assert_eq!(past["total"], n);

    // `index` is an alias of `page`; `page` wins when both are given;
    // unknown parameters are ignored.
    let via_index = app
        .get(&format!("/reviews/{product}?count=1&index=2&utm=x"))
        .await
        .json();
    assert_eq!(common::review_ids(&via_index), [expected[1]]);
    let both = app
        .get(&format!("/reviews/{product}?count=1&index=2&page=3"))
        .await
        .json();
    assert_eq!(common::review_ids(&both), [expected[2]]);
}

#[tokio::test]
async fn meta_matches_a_brute_force_count() {
    let app = TestApp::spawn().await;
    let g = app.generator();
    for product in [1, 2, 17, 500, 1999] {
        let visible = visible_reviews(&g, product);
        let mut ratings = [0u64; 5];
        let mut yes = 0;
        for s in &visible {
            ratings[usize::from(s.rating - 1)] += 1;
            yes += u64::from(s.recommend);
        }
        let total = visible.len() as u64;
        let meta = app.get(&format!("/reviews/{product}/meta")).await;
        assert_eq!(meta.status, 200);
        let meta = meta.json();
        assert_eq!(meta["product_id"], product);
        assert_eq!(meta["total"], total);
        for (stars, n) in ratings.iter().enumerate() {
            assert_eq!(
                meta["ratings"][(stars + 1).to_string()],
                *n,
                "product {product}"
            );
        }
        assert_eq!(meta["recommended"]["true"], yes);
        assert_eq!(meta["recommended"]["false"], total - yes);
        if total > 0 {
            let sum: u64 = ratings
                .iter()
                .enumerate()
                .map(|(i, n)| (i as u64 + 1) * n)
                .sum();
            let average = (sum as f64 / total as f64 * 100.0).round() / 100.0;
            assert_eq!(meta["average"].as_f64().unwrap(), average);
        }
    }
}

#[tokio::test]
async fn a_product_without_reviews_is_empty_not_missing() {
    let app = TestApp::spawn().await;
    let g = app.generator();
    let products = app.set.products;
    let empty = (1..=products)
        .rev()
        .find(|&p| visible_reviews(&g, p).is_empty())
        .expect("some product has no visible reviews");
    let page = app.get(&format!("/reviews/{empty}")).await;
    assert_eq!(page.status, 200);
    let page = page.json();
    assert_eq!(
        (page["total"].clone(), page["results"].clone()),
        (0.into(), serde_json::json!([]))
    );
    let meta = app.get(&format!("/reviews/{empty}/meta")).await.json();
    let scales: serde_json::Map<String, Value> = g
        .characteristics(empty)
        .iter()
        .map(|s| {
            let scale = serde_json::json!({"id": s.id, "average": null, "count": 0});
            (s.kind.name().to_string(), scale)
        })
        .collect();
    assert_eq!(
        meta,
        serde_json::json!({"product_id": empty, "total": 0, "average": null,
            "ratings": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
            "recommended": {"true": 0, "false": 0}, "characteristics": scales})
    );
    // Outside the store: 404 on both routes.
    let unknown = products + 1;
    for path in [
        format!("/reviews/{unknown}"),
        format!("/reviews/{unknown}/meta"),
    ] {
        let resp = app.get(&path).await;
        assert_eq!(resp.status, 404);
        assert_eq!(resp.error(), format!("product {unknown} not found"));
    }
}

#[tokio::test]
async fn head_options_health_and_request_ids() {
    let app = TestApp::spawn().await;
    let get = app.get("/reviews/2").await;
    let head = app.request("HEAD", "/reviews/2", &[], b"").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(get.body.len().to_string().as_str())
    );

    let preflight = app
        .request(
            "OPTIONS",
            "/reviews/2",
            &[
                ("Origin", "https://shop.example"),
                ("Access-Control-Request-Method", "GET"),
            ],
            b"",
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(
        preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("GET")
    );
    // CORS headers only for a browser's cross-origin call (it sends Origin);
    // the head says it varies by Origin either way.
    assert_eq!(get.header("access-control-allow-origin"), None);
    assert_eq!(get.header("access-control-expose-headers"), None);
    assert_eq!(get.header("vary"), Some("accept-encoding, origin"));
    let cross = app
        .request(
            "GET",
            "/reviews/2",
            &[("Origin", "https://shop.example")],
            b"",
        )
        .await;
    assert_eq!(cross.header("access-control-allow-origin"), Some("*"));
    assert!(
        cross
            .header("access-control-expose-headers")
            .is_some_and(|h| h.contains("x-reviews-version") && h.contains("etag"))
    );
    assert_eq!(cross.header("vary"), Some("accept-encoding, origin"));
    assert_eq!(cross.body, get.body);
    let document = app.get("/openapi.json").await;
    assert_eq!(document.header("vary"), Some("origin"));
    assert_eq!(document.header("access-control-allow-origin"), None);

    let health = app.get("/healthz").await;
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = app.get("/readyz").await;
    assert_eq!(
        (ready.status, ready.json()["status"].as_str()),
        (200, Some("ready"))
    );

    let echoed = app
        .request(
            "GET",
            "/reviews/2/meta",
            &[("X-Request-Id", "abc-123")],
            b"",
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), Some("abc-123"));
    let a = app.get("/healthz").await;
    let b = app.get("/healthz").await;
    assert_ne!(
        a.header("x-request-id"),
        b.header("x-request-id"),
        "assigned ids are unique"
    );
    app.stop().await;
}

/// How many characteristics the generator gives `product`.
fn g_characteristics(app: &TestApp, product: u64) -> usize {
    app.generator().characteristics(product).len()
}
