//! The read-through cache against a real redis-server started by the test:
//! hits per tier, single-flight, Redis dying and coming back (and the one
//! line each worker writes about it), the store failing, and conditional
//! requests.

mod common;

use std::time::{Duration, Instant};

use common::{Options, Proc, RedisServer, TestApp, request};
use reviews::breaker::BreakerState;

fn x_cache(resp: &common::Resp) -> &str {
    resp.header("x-cache").unwrap_or("none")
}

#[tokio::test]
async fn miss_then_l1_hit_serves_the_same_bytes() {
    let app = TestApp::spawn().await;
    let first = app.get("/reviews/5?count=10").await;
    let second = app.get("/reviews/5?count=10").await;
    assert_eq!((first.status, x_cache(&first)), (200, "MISS"));
    assert_eq!((second.status, x_cache(&second)), (200, "HIT-L1"));
    assert_eq!(first.body, second.body);
    assert_eq!(first.header("etag"), second.header("etag"));
    assert_eq!(second.header("cache-control"), Some("public, max-age=10"));
    assert_eq!(second.json()["results"].as_array().unwrap().len(), 10);
    // Other views of the product are other keys.
    assert_eq!(
        x_cache(&app.get("/reviews/5?count=10&sort=newest").await),
        "MISS"
    );
    assert_eq!(x_cache(&app.get("/reviews/5/meta").await), "MISS");
    assert_eq!(x_cache(&app.get("/reviews/5/meta").await), "HIT-L1");
    let stats = app.stats();
    assert_eq!(
        (stats.misses, stats.l1_hits, stats.store_queries),
        (3, 2, 3)
    );
}

#[tokio::test]
async fn with_l1_off_redis_serves_byte_identical_bodies() {
    let redis = RedisServer::start();
    let app = TestApp::start(Options::redis_only(redis.url())).await;
    let uncached = TestApp::start(Options {
        l1_mb: 0,
        ..Options::default()
    })
    .await;
    for path in [
        "/reviews/2?count=25&sort=helpful",
        "/reviews/2/meta",
        "/reviews/1999",
    ] {
        let miss = app.get(path).await;
        assert_eq!(x_cache(&miss), "MISS", "{path}");
        wait_for_fill(&redis, &redis_key(path));
        let hit = app.get(path).await;
        let again = app.get(path).await;
        assert_eq!(x_cache(&hit), "HIT-REDIS", "{path}");
        assert_eq!(x_cache(&again), "HIT-REDIS", "{path}: L1 is off");
        assert_eq!(hit.body, miss.body, "{path}");
        let fresh = uncached.get(path).await;
        assert_eq!(x_cache(&fresh), "MISS");
        assert_eq!(
            hit.body, fresh.body,
            "{path}: cached equals freshly rendered"
        );
        assert_eq!(hit.header("etag"), fresh.header("etag"));
    }
    // One key per view, each with its own TTL.
    for key in ["reviews:v7:2:p1.25.helpful", "reviews:v7:2:meta"] {
        let ttl = redis.command(&["PTTL", key]).unwrap();
        let ms: i64 = ttl.trim_start_matches(':').parse().unwrap();
        assert!((1..=330_000).contains(&ms), "{key}: TTL {ms} ms");
    }
}

/// The Redis key of a read's view (pages as `p{page}.{count}.{sort}`).
fn redis_key(path: &str) -> String {
    let rest = path.strip_prefix("/reviews/").unwrap();
    match rest.split_once('?') {
        Some((product, query)) => {
            let param = |name: &str, default: &str| {
                query
                    .split('&')
                    .find_map(|p| p.strip_prefix(&format!("{name}=")).map(str::to_string))
                    .unwrap_or_else(|| default.to_string())
            };
            format!(
                "reviews:v7:{product}:p{}.{}.{}",
                param("page", "1"),
                param("count", "5"),
                param("sort", "relevant")
            )
        }
        None => match rest.split_once('/') {
            Some((product, "meta")) => format!("reviews:v7:{product}:meta"),
            _ => format!("reviews:v7:{rest}:p1.5.relevant"),
        },
    }
}

/// Waits until the background fill of `key` reached Redis.
fn wait_for_fill(redis: &RedisServer, key: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while redis.command(&["EXISTS", key]).as_deref() != Some(":1") {
        assert!(std::time::Instant::now() < deadline, "{key} never filled");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test]
async fn unknown_products_are_cached_briefly() {
    let redis = RedisServer::start();
    let app = TestApp::start(Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    })
    .await;
    let unknown = app.set.products + 7;
    let first = app.get(&format!("/reviews/{unknown}")).await;
    let key = format!("reviews:v7:{unknown}:p1.5.relevant");
    wait_for_fill(&redis, &key);
    let second = app.get(&format!("/reviews/{unknown}")).await;
    assert_eq!((first.status, x_cache(&first)), (404, "MISS"));
    assert_eq!((second.status, x_cache(&second)), (404, "HIT-L1"));
    assert_eq!(second.error(), format!("product {unknown} not found"));
    // In Redis, it expires within the negative TTL (10 s), not the 300 s TTL.
    let ttl = redis.command(&["PTTL", &key]).unwrap();
    let ms: i64 = ttl.trim_start_matches(':').parse().unwrap();
    assert!((1..=11_000).contains(&ms), "negative entry TTL {ms} ms");
}

#[tokio::test]
async fn a_cold_key_stampede_makes_one_store_query() {
    let app = TestApp::spawn().await;
    // A slow store, so the 200 requests really overlap the one in flight.
    app.service.store().set_delay(Duration::from_millis(300));
    let before = app.stats().store_queries;
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let addr = app.addr;
            tokio::spawn(async move {
                common::request(addr, "GET", "/reviews/1?count=50", &[], b"").await
            })
        })
        .collect();
    let mut bodies = Vec::new();
    for task in tasks {
        let resp = task.await.unwrap();
        assert_eq!(resp.status, 200);
        bodies.push(resp.body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "everyone got the same page"
    );
    assert_eq!(app.stats().store_queries - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_dying_never_fails_a_read_and_the_breaker_recovers() {
    let mut redis = RedisServer::start();
    let app = TestApp::start(Options::redis_only(redis.url())).await;
    assert_eq!(x_cache(&app.get("/reviews/3").await), "MISS");
    assert_eq!(x_cache(&app.get("/reviews/3").await), "HIT-REDIS");
    let expected = app.get("/reviews/3").await.body;

    redis.kill();
    let before = app.stats();
    for i in 0..60 {
        let resp = app.get(&format!("/reviews/{}", 3 + i % 5)).await;
        assert_eq!(resp.status, 200, "read {i} with Redis down");
        if i % 5 == 0 {
            assert_eq!(resp.body, expected);
        }
    }
    let after = app.stats();
    let errors = after.redis_errors - before.redis_errors;
    let skipped = after.redis_skipped - before.redis_skipped;
    // A few calls fail and open the breaker; the rest skip Redis instead of
    // waiting on it (60 reads make 120 Redis calls: a get and a fill).
    assert!((3..=10).contains(&errors), "failed Redis calls: {errors}");
    assert!(skipped >= 100, "calls that skipped Redis: {skipped}");
    assert_eq!(
        app.service.cache().breaker_state(),
        Some(BreakerState::Open)
    );

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let resp = app.get("/reviews/3").await;
        assert_eq!(resp.status, 200);
        if x_cache(&resp) == "HIT-REDIS" {
            assert_eq!(resp.body, expected);
            break;
        }
        assert!(Instant::now() < deadline, "Redis hits never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.service.cache().breaker_state(),
        Some(BreakerState::Closed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_redis_is_one_warning_per_worker_and_its_return_one_line() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let (proc, addr) = Proc::serve_on_redis(dir.path(), 2, &url);
    let read = |i: u64| async move {
        let resp = request(
            addr,
            "GET",
            &format!("/reviews/{}/meta", 1 + i % 20),
            &[],
            b"",
        )
        .await;
        assert_eq!(resp.status, 200);
        resp
    };
    for i in 0..40 {
        read(i).await;
    }
    redis.kill();
    for i in 0..200 {
        read(i).await;
    }
    redis.restart();
    // Back when every worker reads from Redis again (each has its breaker).
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut back = std::collections::HashSet::new();
    let mut i = 0;
    while back.len() < 2 {
        let resp = read(i).await;
        if x_cache(&resp) == "HIT-REDIS" {
            back.insert(resp.answering_pid());
        }
        i += 1;
        assert!(Instant::now() < deadline, "Redis hits never came back");
    }
    let log = proc.stderr();
    let addr = format!("127.0.0.1:{}", redis.port);
    let lost: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("redis {addr} unreachable")))
        .collect();
    let returned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("redis {addr} is back")))
        .collect();
    for worker in ["0", "1"] {
        let mine = |lines: &[&str]| {
            lines
                .iter()
                .filter(|l| l.contains(&format!("worker{{id=\"{worker}\"}}")))
                .count()
        };
        assert!(mine(&lost) <= 1 && mine(&returned) == mine(&lost), "{log}");
    }
    assert!(
        !lost.is_empty() && lost.iter().all(|l| l.contains("WARN")),
        "{log}"
    );
    assert!(returned.iter().all(|l| l.contains("INFO")), "{log}");
    assert!(
        log.lines()
            .all(|l| !l.contains("redis") || l.contains("worker{id=")),
        "{log}"
    );
}

#[tokio::test]
async fn a_failing_store_serves_stale_copies_or_a_fast_503() {
    let app = TestApp::start(Options {
        ttl: 1,
        ..Options::default()
    })
    .await;
    let warm = app.get("/reviews/4?count=3").await;
    assert_eq!(x_cache(&warm), "MISS");
    tokio::time::sleep(Duration::from_millis(1300)).await; // past the 1 s TTL (+10% jitter)

    app.set_store_failing(true);
    let stale = app.get("/reviews/4?count=3").await;
    assert_eq!((stale.status, x_cache(&stale)), (200, "STALE"));
    assert_eq!(stale.body, warm.body);
    let cold = app.get("/reviews/4?count=4").await;
    assert_eq!(cold.status, 503);
    assert_eq!(cold.header("retry-after"), Some("1"));
    assert!(cold.error().contains("injected fault"), "{}", cold.error());
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert_eq!(app.get("/healthz").await.status, 200, "alive, if not ready");
    assert_eq!(app.stats().stale, 1);

    app.set_store_failing(false);
    let back = app.get("/reviews/4?count=3").await;
    assert_eq!((back.status, x_cache(&back)), (200, "MISS"));
    assert_eq!(app.get("/readyz").await.status, 200);
}

#[tokio::test]
async fn etags_give_304_on_if_none_match() {
    let app = TestApp::spawn().await;
    let first = app.get("/reviews/6/meta").await;
    let etag = first.header("etag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let not_modified = app
        .request("GET", "/reviews/6/meta", &[("If-None-Match", &etag)], b"")
        .await;
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    let listed = format!("\"abc\", W/{etag}");
    let weak = app
        .request("GET", "/reviews/6/meta", &[("If-None-Match", &listed)], b"")
        .await;
    assert_eq!(weak.status, 304);
    let other = app
        .request(
            "GET",
            "/reviews/6/meta",
            &[("If-None-Match", "\"0123\"")],
            b"",
        )
        .await;
    assert_eq!(other.status, 200);
    assert_eq!(other.body, first.body);
    let head = app
        .request("HEAD", "/reviews/6/meta", &[("If-None-Match", &etag)], b"")
        .await;
    assert_eq!(head.status, 304);
    // Different content, different validator.
    let page = app.get("/reviews/6").await;
    assert_ne!(page.header("etag"), Some(etag.as_str()));
}

#[tokio::test]
async fn a_down_store_is_not_asked_again_until_it_recovers() {
    let app = TestApp::spawn().await;
    let store = app.service.store();
    store.set_failing(true);
    let before = store.calls();
    for product in 1..=20 {
        let cold = app.get(&format!("/reviews/{product}?count=7")).await;
        assert_eq!(cold.status, 503);
        assert_eq!(cold.header("retry-after"), Some("1"));
    }
    let asked = store.calls() - before;
    assert!(
        asked <= 3,
        "the breaker opened after 3 failures: the store was asked {asked} times for 20 reads"
    );
    let err = app.get("/reviews/21").await.error();
    assert!(err.contains("not asked again until it recovers"), "{err}");
    // /readyz asks the store itself, so it stays honest.
    let asked = store.calls();
    assert_eq!(app.get("/readyz").await.status, 503);
    assert_eq!(store.calls(), asked + 1);

    store.set_failing(false);
    assert_eq!(
        app.get("/readyz").await.status,
        200,
        "a ready store closes the breaker"
    );
    let back = app.get("/reviews/1?count=7").await;
    assert_eq!((back.status, x_cache(&back)), (200, "MISS"));
}

#[tokio::test]
async fn a_slow_store_read_ends_at_the_read_deadline() {
    let app = TestApp::start(Options {
        read_deadline_ms: 200,
        ..Options::default()
    })
    .await;
    let warm = app.get("/reviews/9/meta").await;
    assert_eq!(warm.status, 200);
    app.service.store().set_delay(Duration::from_secs(3));
    let cold = app.get("/reviews/10/meta").await;
    assert_eq!(cold.status, 503);
    assert!(
        cold.error().contains("did not answer within 200 ms"),
        "{}",
        cold.error()
    );
}

#[tokio::test]
async fn gzip_is_served_from_the_cached_compressed_body_with_its_own_etag() {
    use std::io::Read;
    let redis = RedisServer::start();
    let app = TestApp::start(Options::redis_only(redis.url())).await;
    let path = "/reviews/2?count=20&sort=newest";
    let plain = app.get(path).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("accept-encoding, origin"));
    wait_for_fill(&redis, &redis_key(path));
    let gzip = [("Accept-Encoding", "br, gzip;q=0.9")];
    let zipped = app.request("GET", path, &gzip, b"").await;
    assert_eq!(
        x_cache(&zipped),
        "HIT-REDIS",
        "the compressed form is cached too"
    );
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(zipped.header("vary"), Some("accept-encoding, origin"));
    // A page of generated reviews shrinks about 3x at gzip's fastest level.
    assert!(zipped.body.len() * 2 < plain.body.len(), "compressed");
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&zipped.body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain.body, "the same JSON");
    let (plain_tag, zipped_tag) = (
        plain.header("etag").unwrap(),
        zipped.header("etag").unwrap(),
    );
    assert_ne!(plain_tag, zipped_tag, "one ETag per form");
    // A validator matches only the form it names.
    let revalidate = [("Accept-Encoding", "gzip"), ("If-None-Match", zipped_tag)];
    assert_eq!(app.request("GET", path, &revalidate, b"").await.status, 304);
    let other_form = [("If-None-Match", zipped_tag)];
    assert_eq!(app.request("GET", path, &other_form, b"").await.status, 200);
    let refused = [("Accept-Encoding", "gzip;q=0")];
    let identity = app.request("GET", path, &refused, b"").await;
    assert_eq!(identity.header("content-encoding"), None);
    assert_eq!(identity.body, plain.body);
}
