//! The Atelier dialect against the real server, as Atelier front ends call
//! it: every spelling of its routes, its shapes against the Atelier
//! documentation's examples and the rules its clients rely on, the same
//! answers as the native routes for the same product, its own cached
//! bodies kept coherent with the native ones through writes, and the same
//! errors and write safety. Also the seller's response, through every
//! cache tier.

mod common;

use common::{ADMIN_TOKEN, KeepAlive, Options, RedisServer, TestApp};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// The fields of an Atelier review, as its documentation lists them.
const REVIEW_FIELDS: [&str; 10] = [
    "body",
    "date",
    "helpfulness",
    "photos",
    "rating",
    "recommend",
    "response",
    "review_id",
    "reviewer_name",
    "summary",
];

fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

/// Each review of an Atelier page has the documented fields, typed as its
/// clients use them, and says what the native page says of it.
fn same_reviews(atelier: &Value, native: &Value) {
    let (a, n) = (
        atelier["results"].as_array().unwrap(),
        native["results"].as_array().unwrap(),
    );
    assert_eq!(a.len(), n.len());
    for (a, n) in a.iter().zip(n) {
        assert_eq!(keys(a), REVIEW_FIELDS, "{a}");
        for field in ["review_id", "rating", "summary", "recommend", "response"] {
            assert_eq!(a[field], n[field], "{field}");
        }
        for field in ["body", "reviewer_name", "helpfulness", "photos"] {
            assert_eq!(a[field], n[field], "{field}");
        }
        assert!(a["rating"].is_u64() && a["helpfulness"].is_u64());
        assert!(a["summary"].is_string() && a["body"].is_string());
        assert!(a["response"].is_null() || a["response"].is_string());
        // 2024-11-19T07:06:40Z → 2024-11-19T07:06:40.000Z
        let date = n["date"].as_str().unwrap();
        assert_eq!(
            a["date"],
            format!("{}.000Z", date.trim_end_matches('Z')),
            "ISO 8601 with milliseconds"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_have_the_atelier_shape_under_every_spelling() {
    let app = TestApp::spawn().await;
    let mut client = KeepAlive::new(app.addr);
    let list = client.get("/reviews/?product_id=2").await.unwrap();
    assert_eq!(list.status, 200, "{}", String::from_utf8_lossy(&list.body));
    let body = list.json();
    assert_eq!(keys(&body), ["count", "page", "product", "results"]);
    assert_eq!(
        (&body["product"], &body["page"], &body["count"]),
        (&json!("2"), &json!(0), &json!(5)),
        "the documented example's shape: the product as a string, page 0 for the first page"
    );
    let native = client.get("/reviews/2").await.unwrap().json();
    same_reviews(&body, &native);

    // Every spelling answers the same bytes; unknown parameters are
    // ignored (one client sends `count` to meta, others tracking tags).
    for spelling in [
        "/reviews?product_id=2",
        "/reviews/?product_id=2&utm_source=x",
        "/reviews/?sort=relevant&product_id=2",
        "/reviews/?sort=relevance&product_id=2&page=1&count=5",
    ] {
        let again = client.get(spelling).await.unwrap();
        assert_eq!(again.status, 200, "{spelling}");
        assert_eq!(again.body, list.body, "{spelling}");
    }

    // Paged and sorted as the native routes page and sort.
    for sort in ["newest", "helpful", "relevant"] {
        for page in [1, 2, 3] {
            let a = client
                .get(&format!(
                    "/reviews?product_id=2&sort={sort}&page={page}&count=7"
                ))
                .await
                .unwrap()
                .json();
            let n = client
                .get(&format!("/reviews/2?sort={sort}&page={page}&count=7"))
                .await
                .unwrap()
                .json();
            assert_eq!(a["page"], page - 1, "{sort} {page}");
            same_reviews(&a, &n);
        }
    }

    // A storefront fetching a product's whole list to sort it itself: one
    // page of up to 10,000, cached like any other.
    let largest = client.get("/reviews/1/meta").await.unwrap().json()["total"]
        .as_u64()
        .unwrap();
    assert!(largest > 100, "product 1 is the largest");
    let path = "/reviews/?product_id=1&count=1000&sort=newest";
    let whole = client.get(path).await.unwrap();
    assert_eq!(whole.header("x-cache"), Some("MISS"));
    let whole_json = whole.json();
    let ids = common::review_ids(&whole_json);
    assert_eq!(ids.len() as u64, largest.min(1000));
    let photos: Vec<&Value> = whole_json["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["photos"].as_array().unwrap())
        .collect();
    assert!(!photos.is_empty());
    assert!(
        photos.iter().all(|p| keys(p) == ["id", "url"]),
        "photos are [{{id, url}}]"
    );
    let mut expected = Vec::new();
    for page in 1..=ids.len().div_ceil(100) {
        let native = client
            .get(&format!("/reviews/1?sort=newest&count=100&page={page}"))
            .await
            .unwrap()
            .json();
        expected.extend(common::review_ids(&native));
    }
    expected.truncate(ids.len());
    assert_eq!(ids, expected);
    let again = client.get(path).await.unwrap();
    assert_eq!(again.header("x-cache"), Some("HIT-L1"));
    assert_eq!(again.body, whole.body);
    let past = client
        .get("/reviews/?product_id=1&count=10000&page=2")
        .await
        .unwrap();
    assert_eq!(past.json()["results"], json!([]), "a page past the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_has_every_key_as_strings_and_the_characteristics() {
    let app = TestApp::spawn().await;
    let mut client = KeepAlive::new(app.addr);
    let g = app.generator();
    let meta = client.get("/reviews/meta?product_id=2").await.unwrap();
    assert_eq!(meta.status, 200);
    let body = meta.json();
    assert_eq!(
        keys(&body),
        ["characteristics", "product_id", "ratings", "recommended"]
    );
    assert_eq!(body["product_id"], "2");
    let native = client.get("/reviews/2/meta").await.unwrap().json();
    for stars in ["1", "2", "3", "4", "5"] {
        assert_eq!(
            body["ratings"][stars],
            native["ratings"][stars].to_string(),
            "ratings[{stars}] as a string"
        );
    }
    assert_eq!(keys(&body["recommended"]), ["false", "true"]);
    for side in ["true", "false"] {
        assert_eq!(
            body["recommended"][side],
            native["recommended"][side].to_string()
        );
    }
    let scales = g.characteristics(2);
    assert_eq!(
        body["characteristics"].as_object().unwrap().len(),
        scales.len()
    );
    for scale in scales.iter() {
        let (a, n) = (
            &body["characteristics"][scale.kind.name()],
            &native["characteristics"][scale.kind.name()],
        );
        assert_eq!(keys(a), ["id", "value"]);
        assert_eq!((&a["id"], &n["id"]), (&json!(scale.id), &json!(scale.id)));
        let value = a["value"]
            .as_str()
            .expect("a string, as the live API answers");
        let (whole, decimals) = value.split_once('.').unwrap();
        assert_eq!((whole.len(), decimals.len()), (1, 16), "{value}");
        let average: f64 = value.parse().unwrap();
        assert!(
            (average - n["average"].as_f64().unwrap()).abs() <= 0.005,
            "{value} against the native {}",
            n["average"]
        );
    }
    // Every spelling, and unknown parameters, answer the same.
    for spelling in [
        "/reviews/meta/?product_id=2",
        "/reviews/meta?product_id=2&count=100",
    ] {
        assert_eq!(client.get(spelling).await.unwrap().body, meta.body);
    }

    // A product with no reviews: zeros, both recommended keys, and its
    // characteristics with no value yet.
    let empty = (1..=app.set.products)
        .find(|&p| common::visible_reviews(&g, p).is_empty())
        .unwrap();
    let zero = client
        .get(&format!("/reviews/meta?product_id={empty}"))
        .await
        .unwrap()
        .json();
    assert_eq!(
        zero["ratings"],
        json!({"1": "0", "2": "0", "3": "0", "4": "0", "5": "0"})
    );
    assert_eq!(zero["recommended"], json!({"false": "0", "true": "0"}));
    let scale = g.characteristics(empty);
    let first = scale.iter().next().unwrap();
    assert_eq!(
        zero["characteristics"][first.kind.name()],
        json!({"id": first.id, "value": null})
    );
}

/// An Atelier review of `product` as a front end posts it.
fn atelier_review(product: Value, summary: Value) -> Value {
    let id = product.as_u64().or_else(|| product.as_str()?.parse().ok());
    let rated: serde_json::Map<String, Value> = common::characteristics(id.unwrap_or(3), 3)
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), json!("3")))
        .collect();
    json!({
        "product_id": product, "rating": 5, "summary": summary,
        "body": "Comfortable and practical. I wear them every day and they still look new.",
        "recommend": true, "name": "shortandsweeet", "email": "first.last@gmail.com",
        "photos": ["https://img.example/atelier.jpg"], "characteristics": rated
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_atelier_client_flow_writes_once_and_reads_its_write_in_both_dialects() {
    let app = TestApp::spawn().await;
    let mut client = KeepAlive::new(app.addr);
    let product = 3;
    let list = format!("/reviews/?product_id={product}&sort=newest&count=3");
    let meta = format!("/reviews/meta?product_id={product}");
    let native_meta = format!("/reviews/{product}/meta");
    // Warm every copy: the Atelier bodies and the native ones.
    for path in [&list, &meta, &native_meta] {
        client.get(path).await.unwrap();
        assert_eq!(
            client.get(path).await.unwrap().header("x-cache"),
            Some("HIT-L1")
        );
    }
    let before = client.get(&meta).await.unwrap().json();
    let native_before = client.get(&native_meta).await.unwrap().json();

    // product_id a string, summary null, ratings as numeric strings.
    let posted = client
        .send(
            "POST",
            "/reviews",
            &[JSON, ("Idempotency-Key", "atelier-flow-1")],
            atelier_review(json!(product.to_string()), Value::Null)
                .to_string()
                .as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        posted.status,
        201,
        "{}",
        String::from_utf8_lossy(&posted.body)
    );
    let id = posted.json()["review_id"].as_u64().unwrap();
    assert!(posted.header("x-reviews-version").is_some());
    // A retry with the same key is the first answer; nothing more written.
    let retry = client
        .send(
            "POST",
            "/reviews/",
            &[JSON, ("Idempotency-Key", "atelier-flow-1")],
            atelier_review(json!(product.to_string()), Value::Null)
                .to_string()
                .as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(retry.status, 201);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.json()["review_id"], id);

    // The writer's next reads show it, in both dialects, shown without a
    // summary; the meta counts it once, and each characteristic rated 3.
    let newest = client.get(&list).await.unwrap();
    assert_eq!(newest.header("x-cache"), Some("MISS"));
    let newest = newest.json();
    assert_eq!(newest["results"][0]["review_id"], id);
    assert_eq!(newest["results"][0]["summary"], "");
    assert_eq!(newest["results"][0]["response"], Value::Null);
    let native = client
        .get(&format!("/reviews/{product}?sort=newest&count=1"))
        .await
        .unwrap()
        .json();
    assert_eq!(native["results"][0]["review_id"], id);
    let after = client.get(&meta).await.unwrap().json();
    let count = |m: &Value| m["ratings"]["5"].as_str().unwrap().parse::<u64>().unwrap();
    assert_eq!(count(&after), count(&before) + 1);
    let native_after = client.get(&native_meta).await.unwrap().json();
    for scale in app.generator().characteristics(product).iter() {
        let name = scale.kind.name();
        assert_eq!(native["results"][0]["characteristics"][name], 3);
        let counted = |m: &Value| m["characteristics"][name]["count"].as_u64().unwrap();
        assert_eq!(
            counted(&native_after),
            counted(&native_before) + 1,
            "{name}"
        );
        assert_eq!(after["characteristics"][name]["id"], scale.id);
    }

    // The product in the query when the body has none; a number too.
    let mut in_query = atelier_review(json!(product), json!(""));
    in_query.as_object_mut().unwrap().remove("product_id");
    let posted = client
        .send(
            "POST",
            &format!("/reviews?product_id={product}"),
            &[JSON],
            in_query.to_string().as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        posted.status,
        201,
        "{}",
        String::from_utf8_lossy(&posted.body)
    );

    // Helpful and report with the small bodies clients send: counted once.
    let helpful = format!("/reviews/{id}/helpful");
    let voted = client
        .send("PUT", &helpful, &[JSON], br#"{"helpfulness": 6}"#)
        .await
        .unwrap();
    assert_eq!(voted.status, 204);
    let newest = client.get(&list).await.unwrap().json();
    let ours = newest["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["review_id"] == id)
        .unwrap();
    assert_eq!(ours["helpfulness"], 1, "one vote, whatever the body said");
    let report = format!("/reviews/{id}/report");
    let reported = client
        .send(
            "PUT",
            &report,
            &[JSON],
            format!(r#"{{"review_id": {id}}}"#).as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(reported.status, 204);
    let newest = client.get(&list).await.unwrap().json();
    assert!(
        !common::review_ids(&newest).contains(&id),
        "reported: hidden"
    );
    assert_eq!(
        count(&client.get(&meta).await.unwrap().json()),
        count(&before) + 1
    );
}

#[tokio::test]
async fn the_dialect_answers_the_native_errors() {
    let app = TestApp::spawn().await;
    let unknown = app.set.products + 1;
    for (path, status, needle) in [
        ("/reviews", 400, "product_id is required"),
        (
            "/reviews/?product_id=abc",
            400,
            "product_id must be a positive integer",
        ),
        ("/reviews/?product_id=02", 400, "without leading zeros"),
        (
            "/reviews/?product_id=2&count=0",
            400,
            "count must be an integer from 1 to 10000",
        ),
        ("/reviews/?product_id=2&count=10001", 400, "count must be"),
        ("/reviews/?product_id=2&page=0", 400, "page must be"),
        (
            "/reviews/?product_id=2&sort=best",
            400,
            "sort must be one of relevant (or relevance)",
        ),
        (
            "/reviews/?product_id=2&product_id=3",
            400,
            "given more than once",
        ),
        ("/reviews/meta", 400, "product_id is required"),
        ("/reviews/meta/?product_id=-1", 400, "product_id must be"),
        (
            "/reviews/?product_id=2&min_version=x",
            400,
            "min_version must be",
        ),
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status, status, "{path}");
        assert!(resp.error().contains(needle), "{path}: {}", resp.error());
    }
    for path in [
        format!("/reviews?product_id={unknown}"),
        format!("/reviews/meta/?product_id={unknown}"),
    ] {
        let resp = app.get(&path).await;
        assert_eq!(resp.status, 404, "{path}");
        assert_eq!(resp.error(), format!("product {unknown} not found"));
    }
    let wrong = app.request("POST", "/reviews/meta", &[JSON], b"{}").await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("GET, HEAD, OPTIONS"));
    let put = app.request("PUT", "/reviews/", &[JSON], b"{}").await;
    assert_eq!(put.header("allow"), Some("GET, HEAD, POST, OPTIONS"));

    let before = app.service.store().fingerprint();
    let good = atelier_review(json!(2), json!("Great"));
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body.to_string()
    };
    let mut without_product = good.clone();
    without_product
        .as_object_mut()
        .unwrap()
        .remove("product_id");
    let mut unrated = good.clone();
    unrated["characteristics"] = json!({});
    for (body, headers, status, needle) in [
        (
            with("rating", json!(6)),
            vec![JSON],
            422,
            "rating must be an integer from 1 to 5",
        ),
        (
            with("rating", json!("five")),
            vec![JSON],
            422,
            "rating must be",
        ),
        (
            with("product_id", json!("two")),
            vec![JSON],
            422,
            "product_id must be a positive integer",
        ),
        (
            without_product.to_string(),
            vec![JSON],
            422,
            "missing field `product_id`",
        ),
        (
            with("body", json!("Too short.")),
            vec![JSON],
            422,
            "body must be a string of 50",
        ),
        (
            with("email", json!("nope")),
            vec![JSON],
            422,
            "email must be",
        ),
        (
            with("stars", json!(5)),
            vec![JSON],
            422,
            "unknown field `stars`",
        ),
        (
            unrated.to_string(),
            vec![JSON],
            422,
            "characteristics: missing a rating of",
        ),
        (
            with("product_id", json!(unknown)),
            vec![JSON],
            404,
            "not found",
        ),
        (
            "{\"rating\": ".into(),
            vec![JSON],
            400,
            "malformed JSON body",
        ),
        (
            good.to_string(),
            vec![("Content-Type", "text/plain")],
            415,
            "application/json",
        ),
    ] {
        let resp = app
            .request("POST", "/reviews", &headers, body.as_bytes())
            .await;
        assert_eq!(resp.status, status, "{body}");
        assert!(resp.error().contains(needle), "{body}: {}", resp.error());
    }
    assert_eq!(app.service.store().fingerprint(), before, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atelier_bodies_are_cached_apart_and_dropped_with_the_native_ones() {
    let redis = RedisServer::start();
    let app = TestApp::start(Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    })
    .await;
    // Another process on the same Redis (it trusts no copy rendered
    // before it started, so it starts first).
    let other = TestApp::start(Options::redis_only(redis.url())).await;
    let mut client = KeepAlive::new(app.addr);
    let product = 4;
    let list = format!("/reviews/?product_id={product}&count=3");
    let first = client.get(&list).await.unwrap();
    assert_eq!(first.header("x-cache"), Some("MISS"));
    // A browser revalidates it each time: an Atelier front end re-reads a
    // list right after posting, with no version to ask for.
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    let etag = first.header("etag").unwrap().to_string();
    let hit = client.get(&list).await.unwrap();
    assert_eq!(hit.header("x-cache"), Some("HIT-L1"));
    assert_eq!(hit.body, first.body);
    let not_modified = client
        .send("GET", &list, &[("If-None-Match", &etag)], b"")
        .await
        .unwrap();
    assert_eq!(not_modified.status, 304);
    // Its own bodies, under its own Redis keys, beside the native ones.
    let native = client
        .get(&format!("/reviews/{product}?count=3"))
        .await
        .unwrap();
    assert_eq!(native.header("x-cache"), Some("MISS"), "cached apart");
    assert_ne!(native.body, first.body);
    assert_eq!(
        redis
            .count_keys_when(&format!("reviews:v7:{product}:p1.3.relevant.@atelier"), 1)
            .await,
        1
    );
    assert_eq!(
        redis
            .count_keys_when(&format!("reviews:v7:{product}:p1.3.relevant"), 1)
            .await,
        1
    );
    // The other process reads the Atelier body from Redis.
    let from_redis = other.get(&list).await;
    assert_eq!(from_redis.header("x-cache"), Some("HIT-REDIS"));
    assert_eq!(from_redis.body, first.body);

    // A native write makes every copy older, the Atelier ones included.
    let newest = format!("/reviews?product_id={product}&sort=newest&count=1");
    let newest_etag = client
        .get(&newest)
        .await
        .unwrap()
        .header("etag")
        .unwrap()
        .to_string();
    let posted = client
        .send(
            "POST",
            &format!("/reviews/{product}"),
            &[JSON],
            json!({
                "rating": 1, "summary": "Fell apart", "recommend": false,
                "body": "The seams split within a week and the color ran in the first wash.",
                "name": "Ola", "email": "ola@example.com",
                "characteristics": common::characteristics(product, 1)
            })
            .to_string()
            .as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(posted.status, 201);
    let version = posted.header("x-reviews-version").unwrap().to_string();
    let id = posted.json()["review_id"].as_u64().unwrap();
    let stale = client
        .send("GET", &newest, &[("If-None-Match", &newest_etag)], b"")
        .await
        .unwrap();
    assert_eq!(stale.status, 200, "the old ETag no longer matches");
    assert_eq!(stale.json()["results"][0]["review_id"], id);
    // The other process, asked for the write's version, is at least that new.
    let read = other
        .get(&format!("{newest}&min_version={version}"))
        .await
        .json();
    assert_eq!(read["results"][0]["review_id"], id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seller_responses_are_set_and_cleared_through_every_cache_tier() {
    let redis = RedisServer::start();
    let app = TestApp::start(Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    })
    .await;
    let other = TestApp::start(Options::redis_only(redis.url())).await;
    let mut client = KeepAlive::new(app.addr);
    let product = 5;
    let page = format!("/reviews/{product}?sort=newest&count=1");
    let atelier = format!("/reviews?product_id={product}&sort=newest&count=1");
    let id = client.get(&page).await.unwrap().json()["results"][0]["review_id"]
        .as_u64()
        .unwrap();
    for path in [&page, &atelier] {
        client.get(path).await.unwrap();
        assert_eq!(
            client.get(path).await.unwrap().header("x-cache"),
            Some("HIT-L1")
        );
    }
    let path = format!("/admin/reviews/{id}/response");
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let auth = ("Authorization", bearer.as_str());
    let unauthorized = client
        .send("PUT", &path, &[JSON], br#"{"response": "Hi"}"#)
        .await
        .unwrap();
    assert_eq!(unauthorized.status, 401);
    for text in [
        json!("Thank you! A replacement strap is on its way."),
        Value::Null,
    ] {
        let set = client
            .send(
                "PUT",
                &path,
                &[JSON, auth],
                json!({ "response": text }).to_string().as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(set.status, 204, "{}", String::from_utf8_lossy(&set.body));
        let version = set.header("x-reviews-version").unwrap().to_string();
        for read in [&page, &atelier] {
            let shown = client.get(read).await.unwrap();
            assert_eq!(shown.header("x-cache"), Some("MISS"), "{read}");
            assert_eq!(shown.json()["results"][0]["response"], text, "{read}");
            // Through Redis in another process, with the write's version.
            let elsewhere = other.get(&format!("{read}&min_version={version}")).await;
            assert_eq!(elsewhere.json()["results"][0]["response"], text, "{read}");
        }
    }
    for (body, status, needle) in [
        (r#"{"response": "   "}"#, 422, "send null to clear it"),
        (r#"{"response": 7}"#, 422, "response must be a string"),
        (r#"{"reply": "x"}"#, 422, "unknown field `reply`"),
        (r#"{"response": "x"#, 400, "malformed JSON body"),
    ] {
        let resp = client
            .send("PUT", &path, &[JSON, auth], body.as_bytes())
            .await
            .unwrap();
        assert_eq!(resp.status, status, "{body}");
        assert!(resp.error().contains(needle), "{body}: {}", resp.error());
    }
    let unknown = format!("/admin/reviews/{}/response", app.set.records + 1000);
    let resp = client
        .send("PUT", &unknown, &[JSON, auth], br#"{"response": "Hi"}"#)
        .await
        .unwrap();
    assert_eq!(resp.status, 404);
}
