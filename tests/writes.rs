//! Writes against the real server: validation with an unchanged store,
//! read-your-write through the caches, concurrency without lost updates,
//! coherence across worker processes, and Redis failing during a write.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Options, Proc, RedisServer, Resp, TestApp};
use reviews::breaker::BreakerState;
use reviews::model::photo_id;
use serde_json::{Value, json};

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A valid new review of `product`, rating each of its characteristics.
fn new_review(product: u64) -> Value {
    json!({
        "rating": 2,
        "summary": "Zipper broke on day two",
        "body": "The zipper broke on the second day and the seams are coming apart already. Not what I expected.",
        "recommend": false,
        "name": "Łukasz W.",
        "email": "lukasz@example.com",
        "photos": ["https://img.example/a.jpg", "http://img.example/b.png"],
        "characteristics": common::characteristics(product, 2)
    })
}

async fn post(app: &TestApp, path: &str, body: &Value) -> Resp {
    app.request("POST", path, &[JSON], body.to_string().as_bytes())
        .await
}

/// method, path, headers, body, expected status, expected message part.
type BadWrite<'a> = (
    &'a str,
    String,
    Vec<(&'a str, &'a str)>,
    String,
    u16,
    &'a str,
);

#[tokio::test]
async fn bad_writes_get_their_error_and_change_nothing() {
    let app = TestApp::spawn().await;
    let before = app.service.store().fingerprint();
    let unknown_product = app.set.products + 1;
    let unknown_review = app.set.records + 100;
    let big = format!("{{\"body\": \"{}\"}}", "x".repeat(70_000));
    let mut bad_rating = new_review(2);
    bad_rating["rating"] = json!(6);
    let mut long_summary = new_review(2);
    long_summary["summary"] = json!("s".repeat(61));
    let mut extra = new_review(2);
    extra["stars"] = json!(5);
    let mut missing = new_review(2);
    missing.as_object_mut().unwrap().remove("body");
    let valid = new_review(2).to_string();
    // Characteristics: each of the product's rated once from 1 to 5, and
    // nothing else (the ids are product 2's: 5, 6, 7 and maybe 8).
    let ids: Vec<String> = new_review(2)["characteristics"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut unrated = new_review(2);
    unrated["characteristics"]
        .as_object_mut()
        .unwrap()
        .remove(&ids[1]);
    let mut foreign = new_review(2);
    foreign["characteristics"]["1"] = json!(3);
    let mut out_of_range = new_review(2);
    out_of_range["characteristics"][&ids[0]] = json!(6);
    let mut as_string = new_review(2);
    as_string["characteristics"][&ids[0]] = json!("3");
    let mut not_an_id = new_review(2);
    not_an_id["characteristics"]["Fit"] = json!(3);
    let mut none = new_review(2);
    none.as_object_mut().unwrap().remove("characteristics");
    let unrated_message = format!("missing a rating of {}", ids[1]);
    let out_of_range_message = format!("the rating of {} must be an integer from 1 to 5", ids[0]);
    let cases: Vec<BadWrite> = vec![
        (
            "POST",
            "/reviews/abc".into(),
            vec![JSON],
            valid.clone(),
            400,
            "product_id must be a positive integer",
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![],
            valid.clone(),
            415,
            "content type must be application/json",
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![("Content-Type", "text/plain")],
            valid.clone(),
            415,
            "application/json",
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            big,
            413,
            "at most 65536 bytes",
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            "{\"rating\": ".into(),
            400,
            "malformed JSON body",
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            "[]".into(),
            422,
            "the body must be a JSON object",
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            extra.to_string(),
            422,
            "unknown field `stars`",
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            missing.to_string(),
            422,
            "missing field `body`",
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            bad_rating.to_string(),
            422,
            "rating must be an integer from 1 to 5",
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            long_summary.to_string(),
            422,
            "summary must be a string of 1 to 60 characters, got 61",
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            unrated.to_string(),
            422,
            &unrated_message,
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            foreign.to_string(),
            422,
            "characteristics: 1 is not a characteristic of this product",
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            out_of_range.to_string(),
            422,
            &out_of_range_message,
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            as_string.to_string(),
            422,
            &out_of_range_message,
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            not_an_id.to_string(),
            422,
            "characteristics: `Fit` is not a characteristic id",
        ),
        (
            "POST",
            "/reviews/2".into(),
            vec![JSON],
            none.to_string(),
            422,
            "characteristics: missing a rating of",
        ),
        (
            "POST",
            format!("/reviews/{unknown_product}"),
            vec![JSON],
            bad_rating.to_string(),
            422,
            "rating",
        ),
        (
            "POST",
            format!("/reviews/{unknown_product}"),
            vec![JSON],
            valid.clone(),
            404,
            "not found",
        ),
        (
            "PUT",
            "/reviews/0/helpful".into(),
            vec![],
            String::new(),
            400,
            "review_id must be at least 1",
        ),
        (
            "PUT",
            "/reviews/x1/report".into(),
            vec![],
            String::new(),
            400,
            "review_id must be a positive integer",
        ),
        (
            "PUT",
            format!("/reviews/{unknown_review}/helpful"),
            vec![],
            String::new(),
            404,
            "not found",
        ),
        (
            "PUT",
            format!("/reviews/{unknown_review}/report"),
            vec![],
            String::new(),
            404,
            "not found",
        ),
    ];
    for (method, path, headers, body, status, needle) in cases {
        let resp = app.request(method, &path, &headers, body.as_bytes()).await;
        assert_eq!(
            resp.status,
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        let message = resp.error();
        assert!(message.contains(needle), "{method} {path}: {message}");
    }
    assert_eq!(
        app.request(
            "POST",
            &format!("/reviews/{unknown_product}"),
            &[JSON],
            valid.as_bytes()
        )
        .await
        .error(),
        format!("product {unknown_product} not found")
    );
    // A chunked body over the limit is cut off at 64 KiB.
    let mut raw = b"POST /reviews/2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..20 {
        raw.extend_from_slice(format!("{:x}\r\n{}\r\n", 4096, "y".repeat(4096)).as_bytes());
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let resp = common::send_raw(app.addr, &raw).await;
    assert_eq!(resp.status, 413);
    assert_eq!(
        app.service.store().fingerprint(),
        before,
        "no failed write changed the store"
    );
}

#[tokio::test]
async fn a_write_is_read_back_at_once_through_the_caches() {
    let app = TestApp::spawn().await;
    let product = 2;
    let page_path = format!("/reviews/{product}?sort=newest&count=3");
    let meta_path = format!("/reviews/{product}/meta");
    let old_meta = app.get(&meta_path).await.json();
    app.get(&page_path).await;
    assert_eq!(app.get(&page_path).await.header("x-cache"), Some("HIT-L1"));
    assert_eq!(app.get(&meta_path).await.header("x-cache"), Some("HIT-L1"));

    let resp = app
        .request(
            "POST",
            &format!("/reviews/{product}"),
            &[("Content-Type", "application/json; charset=utf-8")],
            new_review(product).to_string().as_bytes(),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", String::from_utf8_lossy(&resp.body));
    let id = resp.json()["review_id"].as_u64().unwrap();
    assert_eq!(
        id,
        app.set.records + 1,
        "ids continue after the seeded ones"
    );

    let page = app.get(&page_path).await;
    assert_eq!(
        page.header("x-cache"),
        Some("MISS"),
        "the write dropped the cached page"
    );
    let page = page.json();
    let newest = &page["results"][0];
    assert_eq!(newest["review_id"], id);
    assert_eq!(newest["rating"], 2);
    assert_eq!(newest["reviewer_name"], "Łukasz W.");
    assert_eq!(newest["helpfulness"], 0);
    assert_eq!(newest["response"], Value::Null);
    assert_eq!(newest["recommend"], false);
    assert_eq!(
        newest["photos"],
        json!([{"id": photo_id(id, 0), "url": "https://img.example/a.jpg"}, {"id": photo_id(id, 1), "url": "http://img.example/b.png"}])
    );
    let date = newest["date"].as_str().unwrap();
    assert!(
        date.len() == 20 && date.ends_with('Z') && date > "2026-01-01",
        "{date}"
    );
    assert!(newest.get("reviewer_email").is_none());

    let meta = app.get(&meta_path).await.json();
    assert_eq!(meta["total"], old_meta["total"].as_u64().unwrap() + 1);
    assert_eq!(
        meta["ratings"]["2"],
        old_meta["ratings"]["2"].as_u64().unwrap() + 1
    );
    assert_eq!(
        meta["recommended"]["false"],
        old_meta["recommended"]["false"].as_u64().unwrap() + 1
    );
    // Each characteristic: rated 2 by the review, by name on the page; its
    // count one more and its average moved toward 2 in the meta.
    let scales = app.generator().characteristics(product);
    assert!(scales.len() >= 3);
    for scale in scales.iter() {
        let name = scale.kind.name();
        assert_eq!(newest["characteristics"][name], 2, "{name}");
        let (old, new) = (
            &old_meta["characteristics"][name],
            &meta["characteristics"][name],
        );
        assert_eq!(new["id"], scale.id);
        assert_eq!(new["count"], old["count"].as_u64().unwrap() + 1);
        let (was, now) = (
            old["average"].as_f64().unwrap(),
            new["average"].as_f64().unwrap(),
        );
        assert!(now < was || was <= 2.0, "{name}: {was} -> {now}");
    }
}

#[tokio::test]
async fn helpful_and_report_update_pages_and_meta() {
    let app = TestApp::spawn().await;
    let product = 3;
    let page_path = format!("/reviews/{product}?sort=newest&count=100");
    let page = app.get(&page_path).await.json();
    let target = page["results"][0].clone();
    let id = target["review_id"].as_u64().unwrap();
    let old_meta = app.get(&format!("/reviews/{product}/meta")).await.json();

    let voted = app
        .request("PUT", &format!("/reviews/{id}/helpful"), &[], b"")
        .await;
    assert_eq!(voted.status, 204);
    assert!(voted.body.is_empty());
    let page = app.get(&page_path).await.json();
    assert_eq!(
        page["results"][0]["helpfulness"],
        target["helpfulness"].as_u64().unwrap() + 1
    );

    let reported = app
        .request("PUT", &format!("/reviews/{id}/report"), &[], b"")
        .await;
    assert_eq!(reported.status, 204);
    let page = app.get(&page_path).await.json();
    assert!(
        !common::review_ids(&page).contains(&id),
        "a reported review is hidden"
    );
    assert_eq!(page["total"], old_meta["total"].as_u64().unwrap() - 1);
    let meta = app.get(&format!("/reviews/{product}/meta")).await.json();
    assert_eq!(meta["total"], old_meta["total"].as_u64().unwrap() - 1);
    let stars = target["rating"].to_string();
    assert_eq!(
        meta["ratings"][&stars],
        old_meta["ratings"][&stars].as_u64().unwrap() - 1
    );

    for action in ["helpful", "report"] {
        let again = app
            .request("PUT", &format!("/reviews/{id}/{action}"), &[], b"")
            .await;
        assert_eq!(again.status, 404, "{action} on a reported review");
        assert_eq!(again.error(), format!("review {id} not found"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_lose_no_update() {
    let app = TestApp::spawn().await;
    let product = 4;
    let page_path = format!("/reviews/{product}?sort=newest&count=1");
    let target = app.get(&page_path).await.json()["results"][0].clone();
    let id = target["review_id"].as_u64().unwrap();
    let total = app.get(&format!("/reviews/{product}/meta")).await.json()["total"]
        .as_u64()
        .unwrap();

    let votes: Vec<_> = (0..100)
        .map(|_| {
            let addr = app.addr;
            tokio::spawn(async move {
                common::request(addr, "PUT", &format!("/reviews/{id}/helpful"), &[], b"")
                    .await
                    .status
            })
        })
        .collect();
    let posts: Vec<_> = (0..50)
        .map(|_| {
            let addr = app.addr;
            let body = new_review(product).to_string();
            tokio::spawn(async move {
                common::request(
                    addr,
                    "POST",
                    &format!("/reviews/{product}"),
                    &[JSON],
                    body.as_bytes(),
                )
                .await
            })
        })
        .collect();
    for vote in votes {
        assert_eq!(vote.await.unwrap(), 204);
    }
    let mut new_ids = HashSet::new();
    for post in posts {
        let resp = post.await.unwrap();
        assert_eq!(resp.status, 201);
        new_ids.insert(resp.json()["review_id"].as_u64().unwrap());
    }
    assert_eq!(new_ids.len(), 50, "50 distinct new ids");
    let meta = app.get(&format!("/reviews/{product}/meta")).await.json();
    assert_eq!(meta["total"], total + 50);
    let all = app
        .get(&format!("/reviews/{product}?sort=helpful&count=100"))
        .await
        .json();
    let voted = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["review_id"] == id)
        .unwrap();
    assert_eq!(
        voted["helpfulness"],
        target["helpfulness"].as_u64().unwrap() + 100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_worker_shows_a_write_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let (mut proc, addr) = Proc::serve(dir.path(), &["--workers", "2"]);
    let meta_path = "/reviews/5/meta";
    // Warm both workers' L1.
    let mut warm = HashSet::new();
    let mut before = 0;
    for _ in 0..60 {
        let resp = common::request(addr, "GET", meta_path, &[], b"").await;
        before = resp.json()["total"].as_u64().unwrap();
        if resp.header("x-cache") == Some("HIT-L1") {
            warm.insert(resp.answering_pid());
        }
    }
    assert_eq!(warm.len(), 2, "both workers hold the meta in L1");

    let posted = common::request(
        addr,
        "POST",
        "/reviews/5",
        &[JSON],
        new_review(5).to_string().as_bytes(),
    )
    .await;
    assert_eq!(posted.status, 201);
    let written = Instant::now();
    tokio::time::sleep(Duration::from_secs(1).saturating_sub(written.elapsed())).await;
    let mut seen = HashSet::new();
    for _ in 0..60 {
        let resp = common::request(addr, "GET", meta_path, &[], b"").await;
        assert_eq!(
            resp.json()["total"],
            before + 1,
            "a worker still shows the old meta 1 s after the write"
        );
        seen.insert(resp.answering_pid());
    }
    assert_eq!(seen.len(), 2, "both workers were sampled");
    proc.signal("TERM");
    assert!(proc.wait_exit(Duration::from_secs(20)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_while_redis_hangs_succeeds_and_leaves_no_stale_copy() {
    let redis = RedisServer::start();
    let app = TestApp::start(Options::redis_only(redis.url())).await;
    let path = "/reviews/6?sort=newest&count=5";
    let old = app.get(path).await;
    // The fill reaches Redis in the background, off the response's path.
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.get(path).await.header("x-cache") != Some("HIT-REDIS") {
        assert!(Instant::now() < deadline, "the page never reached Redis");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    redis.pause();
    // Reads time out on Redis until the breaker opens; from then on the
    // write's DEL is not even sent, so Redis keeps the pre-write page.
    while app.service.cache().breaker_state() != Some(BreakerState::Open) {
        assert_eq!(app.get("/reviews/7").await.status, 200);
    }
    let posted = post(&app, "/reviews/6", &new_review(6)).await;
    assert_eq!(posted.status, 201, "the write does not need Redis");
    let id = posted.json()["review_id"].as_u64().unwrap();
    let during = app.get(path).await;
    assert_eq!(during.status, 200);
    assert_eq!(common::review_ids(&during.json())[0], id);
    redis.resume();

    // Redis still holds the pre-write page; it must never be served again.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let resp = app.get(path).await;
        assert_eq!(resp.status, 200);
        assert!(resp.body != old.body, "a stale pre-write copy was served");
        assert_eq!(common::review_ids(&resp.json())[0], id);
        if resp.header("x-cache") == Some("HIT-REDIS") {
            break;
        }
        assert!(Instant::now() < deadline, "Redis hits never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes that fail — as they do waiting on a product another host's lost
/// transaction holds — never turn reads away: the store breaker opens on
/// failed reads, not on failed writes, so a cold read still reaches the
/// store.
#[tokio::test]
async fn failing_writes_do_not_open_the_store_breaker_for_reads() {
    let app = TestApp::spawn().await;
    app.service.store().set_writes_failing(true);
    for _ in 0..6 {
        let resp = post(&app, "/reviews/3", &new_review(3)).await;
        assert_eq!(resp.status, 503, "{}", String::from_utf8_lossy(&resp.body));
    }
    assert_eq!(app.service.store_breaker(), BreakerState::Closed);
    let cold = app.get("/reviews/9/meta").await;
    assert_eq!(cold.status, 200, "{}", String::from_utf8_lossy(&cold.body));
    assert_eq!(cold.header("x-cache"), Some("MISS"));
    assert_eq!(cold.json()["product_id"], 9);
    app.service.store().set_writes_failing(false);
    let written = post(&app, "/reviews/3", &new_review(3)).await;
    assert_eq!(written.status, 201);
    let version = written
        .header("x-reviews-version")
        .expect("a write's version");
    assert!(version.starts_with("3:"), "{version}");
}
