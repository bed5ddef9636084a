//! Cached copies are served only at the version of the latest write a
//! process knows of — tested the way the old delete-based design broke: a
//! Redis restored from a snapshot taken before a write, a slow read that a
//! write overtakes, workers reading and writing through Redis at once,
//! clients that give up mid-request, and a crawler asking for every page.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{KeepAlive, Options, Proc, RedisServer, TestApp, request};
use serde_json::json;

fn review(product: u64, n: u64) -> Vec<u8> {
    json!({
        "rating": 4, "summary": format!("Version check {n}"),
        "body": "Arrived on time and works as described; the case feels sturdy enough.",
        "recommend": true, "name": "Ines", "email": "ines@example.com",
        "characteristics": common::characteristics(product, 4)
    })
    .to_string()
    .into_bytes()
}

async fn post(addr: std::net::SocketAddr, product: u64, n: u64) -> u64 {
    let resp = request(
        addr,
        "POST",
        &format!("/reviews/{product}"),
        &[("Content-Type", "application/json")],
        &review(product, n),
    )
    .await;
    assert_eq!(
        resp.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&resp.body)
    );
    resp.json()["review_id"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restored_from_a_snapshot_serves_no_pre_write_page() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let (_proc, addr) = Proc::serve_on_redis(dir.path(), 2, &url);
    let page = "/reviews/3?sort=newest&count=3";
    // Warm Redis from both workers, then snapshot it.
    let mut before = None;
    for _ in 0..10 {
        let resp = request(addr, "GET", page, &[], b"").await;
        assert_eq!(resp.status, 200);
        before.get_or_insert(resp.json()["total"].as_u64().unwrap());
    }
    let before = before.unwrap();
    redis.snapshot();
    let id = post(addr, 3, 1).await;
    // Redis dies and comes back with the pre-write copies.
    redis.kill();
    redis.restart();
    assert!(
        redis.count_keys("reviews:v7:3:*") > 0,
        "the snapshot held copies"
    );
    let mut seen_redis_hit = false;
    for _ in 0..40 {
        let resp = request(addr, "GET", page, &[], b"").await;
        let body = resp.json();
        assert_eq!(body["total"], before + 1, "pre-write page served: {body}");
        assert_eq!(body["results"][0]["review_id"], id);
        seen_redis_hit |= resp.header("x-cache") == Some("HIT-REDIS");
    }
    assert!(
        seen_redis_hit,
        "post-write copies are served from Redis again"
    );
}

#[tokio::test]
async fn the_writers_next_read_never_joins_a_read_the_write_overtook() {
    let app = TestApp::start(Options {
        l1_mb: 16,
        ..Options::default()
    })
    .await;
    let page = "/reviews/5?sort=newest&count=2";
    // A read takes its snapshot now and answers 400 ms later.
    app.service
        .store()
        .set_late_answers(Duration::from_millis(400));
    let addr = app.addr;
    let slow = tokio::spawn(async move { request(addr, "GET", page, &[], b"").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.service.store().set_late_answers(Duration::ZERO);
    let id = post(app.addr, 5, 2).await;
    let mine = app.get(page).await;
    assert_eq!(
        mine.json()["results"][0]["review_id"],
        id,
        "the writer sees its write"
    );
    let old = slow.await.unwrap();
    assert_ne!(
        old.json()["results"][0]["review_id"],
        id,
        "the slow read predates it"
    );
    // The overtaken read was not cached either.
    let again = app.get(page).await;
    assert_eq!(again.json()["results"][0]["review_id"], id);
}

/// A product's acknowledged writes: (ms since the start, count by then).
type Acked = Vec<(u64, u64)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_and_redis_never_show_a_write_older_than_a_second() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let (_proc, addr) = Proc::serve(dir.path(), &["--workers", "2", "--redis-url", &url]);
    let products = [11u64, 12, 13];
    let mut base = Vec::new();
    for p in products {
        let meta = request(addr, "GET", &format!("/reviews/{p}/meta"), &[], b"").await;
        base.push(meta.json()["total"].as_u64().unwrap());
    }
    let epoch = Instant::now();
    // acked[i]: (ms since epoch, reviews of product i acknowledged by then).
    let acked: Arc<std::sync::Mutex<Vec<Acked>>> =
        Arc::new(std::sync::Mutex::new(vec![Vec::new(); products.len()]));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop) = (Arc::clone(&acked), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let i = (n % products.len() as u64) as usize;
                post(addr, products[i], n).await;
                n += 1;
                {
                    let mut acked = acked.lock().unwrap();
                    let count = acked[i].last().map_or(0, |&(_, c)| c) + 1;
                    acked[i].push((epoch.elapsed().as_millis() as u64, count));
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };
    let stale = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let (acked, stop, stale, reads, base) = (
                Arc::clone(&acked),
                Arc::clone(&stop),
                Arc::clone(&stale),
                Arc::clone(&reads),
                base.clone(),
            );
            tokio::spawn(async move {
                let mut k = r;
                while !stop.load(Ordering::Relaxed) {
                    k += 1;
                    let i = k % products.len();
                    let started = epoch.elapsed().as_millis() as u64;
                    let path = if k % 2 == 0 {
                        format!("/reviews/{}/meta", products[i])
                    } else {
                        format!("/reviews/{}?sort=newest&count=1", products[i])
                    };
                    let resp = request(addr, "GET", &path, &[], b"").await;
                    let total = resp.json()["total"].as_u64().unwrap();
                    // Every write acknowledged a second before this read began.
                    let must = acked.lock().unwrap()[i]
                        .iter()
                        .filter(|&&(at, _)| at + 1000 <= started)
                        .map(|&(_, c)| c)
                        .max()
                        .unwrap_or(0);
                    reads.fetch_add(1, Ordering::Relaxed);
                    if total < base[i] + must {
                        eprintln!("{path}: total {total} < {} at {started} ms", base[i] + must);
                        stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(20)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    for reader in readers {
        reader.await.unwrap();
    }
    let reads = reads.load(Ordering::Relaxed);
    assert!(reads > 500, "{reads} reads");
    assert_eq!(
        stale.load(Ordering::Relaxed),
        0,
        "stale reads among {reads}"
    );
}

#[tokio::test]
async fn requests_abandoned_mid_read_leave_no_flight_behind() {
    let app = TestApp::spawn().await;
    app.service.store().set_delay(Duration::from_millis(300));
    let mut clients = Vec::new();
    for page in 1..=30 {
        let addr = app.addr;
        clients.push(tokio::spawn(async move {
            let path = format!("/reviews/7?page={page}&count=3");
            // The client gives up after 50 ms and closes its connection.
            let _ = tokio::time::timeout(
                Duration::from_millis(50),
                request(addr, "GET", &path, &[], b""),
            )
            .await;
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.service.cache().flights() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} flights left behind",
            app.service.cache().flights()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_crawled_product_keeps_a_bounded_redis_footprint() {
    let redis = RedisServer::start();
    let app = TestApp::start(Options::redis_only(redis.url())).await;
    let mut client = common::KeepAlive::new(app.addr);
    for page in 1..=10_000u32 {
        let resp = client
            .get(&format!("/reviews/2?page={page}&count=1&sort=newest"))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let keys = redis.count_keys("reviews:v7:2:*");
    assert!(
        (1..=20).contains(&keys),
        "{keys} Redis keys for one crawled product"
    );
}

/// Two separate servers on one store, as two hosts behind a load balancer:
/// a shopper writes through one (keep-alive) and reads through the other,
/// whose L1 holds the pre-write copies and which has not polled the
/// change log yet. Carrying the write's `X-Reviews-Version` as
/// `min_version`, every read shows the write at once.
async fn a_write_is_read_through_another_server_at_once(a: SocketAddr, b: SocketAddr) {
    let product = 4;
    let meta = format!("/reviews/{product}/meta");
    let page = format!("/reviews/{product}?sort=newest&count=3");
    let mut through_a = KeepAlive::new(a);
    let mut through_b = KeepAlive::new(b);
    for round in 0..2 {
        for client in [&mut through_a, &mut through_b] {
            let resp = client.get(&meta).await.unwrap();
            client.get(&page).await.unwrap();
            if round == 1 {
                assert_eq!(resp.header("x-cache"), Some("HIT-L1"), "both hold copies");
            }
        }
    }
    let before = through_b.get(&meta).await.unwrap().json()["total"]
        .as_u64()
        .unwrap();

    // Several rounds, each a fresh write: any one would catch a copy
    // served from B's L1 while its follower lags.
    for n in 0..5 {
        let posted = through_a
            .send(
                "POST",
                &format!("/reviews/{product}"),
                &[("Content-Type", "application/json")],
                &review(product, 100 + n),
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
        let token = posted
            .header("x-reviews-version")
            .expect("a write's version")
            .to_string();
        let (named, version) = token.split_once(':').expect("product:version");
        assert_eq!(named, product.to_string());
        assert!(version.parse::<u64>().is_ok(), "{token}");

        let ask = |path: &str| {
            format!(
                "{path}{}min_version={token}",
                if path.contains('?') { "&" } else { "?" }
            )
        };
        // The writer's own next read, without asking: its process knows.
        let own = through_a.get(&meta).await.unwrap();
        assert_eq!(
            own.json()["total"],
            before + n + 1,
            "meta through A, round {n}"
        );
        let shown = through_b.get(&ask(&meta)).await.unwrap();
        assert_eq!(shown.status, 200);
        assert_eq!(
            shown.json()["total"],
            before + n + 1,
            "meta through B, round {n}"
        );
        let shown = through_b.get(&ask(&page)).await.unwrap();
        assert_eq!(
            shown.json()["results"][0]["review_id"],
            id,
            "page through B, round {n}"
        );

        // A vote through A: its version is newer still, and shows through B.
        let voted = through_a
            .send("PUT", &format!("/reviews/{id}/helpful"), &[], b"")
            .await
            .unwrap();
        assert_eq!(voted.status, 204);
        let vote_token = voted
            .header("x-reviews-version")
            .expect("a vote's version")
            .to_string();
        let vote_version: u64 = vote_token.split_once(':').unwrap().1.parse().unwrap();
        assert!(
            vote_version > version.parse().unwrap(),
            "{vote_token} after {token}"
        );
        let shown = through_b
            .get(&format!("{page}&min_version={vote_token}"))
            .await
            .unwrap();
        assert_eq!(
            shown.json()["results"][0]["helpfulness"],
            1,
            "vote through B, round {n}"
        );
    }

    // Another product's version says nothing of this one; a malformed one
    // is a 400.
    let other = through_b
        .get(&format!("/reviews/5/meta?min_version={product}:999999999"))
        .await
        .unwrap();
    assert_eq!(other.status, 200);
    let wrong = through_b
        .get("/reviews/5/meta?min_version=5:x")
        .await
        .unwrap();
    assert_eq!(wrong.status, 400);
    assert!(wrong.error().contains("min_version"), "{}", wrong.error());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_shows_through_another_server_when_the_reader_carries_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let (_a, a) = Proc::serve(dir.path(), &["--workers", "1"]);
    // The second server opens the store the first one seeded.
    let (_b, b) = Proc::serve(dir.path(), &["--workers", "1"]);
    a_write_is_read_through_another_server_at_once(a, b).await;
}

#[cfg(feature = "mongodb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (a MongoDB replica set, standalone or mongos)"]
async fn on_mongodb_a_write_shows_through_another_server_when_the_reader_carries_its_version() {
    let uri = common::mongo::fresh_database_uri("versions");
    let seeded = std::process::Command::new(env!("CARGO_BIN_EXE_seed"))
        .args(["--mongodb-uri", &uri, "--records", "3000", "--drop"])
        .status()
        .expect("seed runs");
    assert!(seeded.success(), "seed into {uri}");
    let dir = tempfile::tempdir().unwrap();
    let args = ["--workers", "1", "--mongodb-uri", uri.as_str()];
    let (_a, a) = Proc::serve(dir.path(), &args);
    let (_b, b) = Proc::serve(dir.path(), &args);
    a_write_is_read_through_another_server_at_once(a, b).await;
    // The servers stop before their database goes.
    drop((_a, _b));
    common::mongo::drop_database(&uri).await;
}

/// Versions a process has not heard of — a write made elsewhere, or
/// numbers a client makes up — are read from the store by looks that take
/// turns per key: a hundred concurrent reads, each asking a different
/// invented version, cost a handful of store reads, not a hundred (each of
/// which, on MongoDB, would go to the primary).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_versions_cost_a_few_store_reads_not_one_each() {
    let app = TestApp::spawn().await;
    let store = app.service.store();
    // Every store read takes a while, as a remote store's does.
    store.set_delay(Duration::from_millis(50));
    let expected = app.get("/reviews/7/meta").await.json();
    let before = store.calls();
    let mut reads = tokio::task::JoinSet::new();
    for n in 0..100u64 {
        let addr = app.addr;
        reads.spawn(async move {
            let path = format!("/reviews/7/meta?min_version=7:{}", 1_000_000_000_000 + n);
            request(addr, "GET", &path, &[], b"").await
        });
    }
    for resp in reads.join_all().await {
        assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
        assert_eq!(resp.json(), expected, "the newest the store has");
    }
    let used = store.calls() - before;
    store.set_delay(Duration::ZERO);
    assert!(used <= 10, "{used} store reads for 100 made-up versions");
    // A real write elsewhere is still read at once: the turn's next look
    // began after the request.
    let id = post(app.addr, 7, 77).await;
    let shown = app
        .get(&format!(
            "/reviews/7?sort=newest&count=1&min_version=7:{}",
            u64::MAX / 2
        ))
        .await;
    assert_eq!(shown.json()["results"][0]["review_id"], id);
}

/// What a flood of made-up versions did: reads answered, in how long, and
/// the store reads `/metrics` counted meanwhile (all, and looks).
struct Flood {
    answered: u64,
    seconds: f64,
    queries: u64,
    looks: u64,
}

impl Flood {
    /// Looks begin at least 50 ms apart: at most this many in the flood.
    fn bound(&self) -> u64 {
        (self.seconds * 20.0).ceil() as u64 + 1
    }
}

/// `reviews_store_queries_total` and `reviews_store_unheard_reads_total`.
async fn store_reads(addr: SocketAddr) -> (u64, u64) {
    let text = request(addr, "GET", "/metrics", &[], b"").await.body;
    let text = String::from_utf8_lossy(&text);
    let series = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} in /metrics"))
            .parse()
            .unwrap()
    };
    (
        series("reviews_store_queries_total"),
        series("reviews_store_unheard_reads_total"),
    )
}

/// Floods `product` of the server at `addr` for 2 s from 16 kept-alive
/// clients, each read a new made-up version, pages and meta in turn; every
/// answer must be the newest copy the store has (what the server answers
/// without a version), and a shopper's reads without one meanwhile are L1
/// hits.
async fn flood_made_up_versions(addr: SocketAddr, product: u64) -> Flood {
    let meta = format!("/reviews/{product}/meta");
    let page = format!("/reviews/{product}?sort=newest&count=2");
    let expected_meta = request(addr, "GET", &meta, &[], b"").await.json();
    let expected_page = request(addr, "GET", &page, &[], b"").await.json();
    let (queries_before, looks_before) = store_reads(addr).await;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut flood = tokio::task::JoinSet::new();
    for client in 0..16u64 {
        let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
        let (meta, page) = (meta.clone(), page.clone());
        let (expected_meta, expected_page) = (expected_meta.clone(), expected_page.clone());
        flood.spawn(async move {
            let mut conn = KeepAlive::new(addr);
            let mut n = client * 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let version = 1_000_000_000 + n;
                let (path, expected) = if n % 2 == 0 {
                    (
                        format!("{meta}?min_version={product}:{version}"),
                        &expected_meta,
                    )
                } else {
                    (format!("{page}&min_version={version}"), &expected_page)
                };
                let resp = conn.get(&path).await.unwrap();
                assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
                assert_eq!(&resp.json(), expected, "the newest copy the store has");
                answered.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(conn.connects, 1, "one kept-alive connection");
        });
    }
    let mut shopper = KeepAlive::new(addr);
    while started.elapsed() < Duration::from_secs(2) {
        let resp = shopper.get(&meta).await.unwrap();
        assert_eq!(resp.header("x-cache"), Some("HIT-L1"), "a shopper's read");
    }
    stop.store(true, Ordering::Relaxed);
    flood.join_all().await;
    let seconds = started.elapsed().as_secs_f64();
    let (queries_after, looks_after) = store_reads(addr).await;
    let flood = Flood {
        answered: answered.load(Ordering::Relaxed),
        seconds,
        queries: queries_after - queries_before,
        looks: looks_after - looks_before,
    };
    println!(
        "{} made-up reads in {seconds:.2} s: {} store reads, {} looks",
        flood.answered, flood.queries, flood.looks
    );
    assert!(
        flood.answered >= 200,
        "the flood ran: {} reads",
        flood.answered
    );
    assert!(
        flood.looks <= flood.bound(),
        "{} looks in {seconds:.2} s (at most {})",
        flood.looks,
        flood.bound()
    );
    // Each look reads one view; the other view is answered from the copy
    // the look's version allows: one more read per version the store has.
    assert!(
        flood.queries <= flood.bound() + 2,
        "{} store reads in {seconds:.2} s",
        flood.queries
    );
    flood
}

/// A flood of reads asking for versions no one wrote, from many kept-alive
/// clients at once, each a new number, over pages and meta of one product:
/// the store is read at most 20 times a second for them (one look per
/// 50 ms), counted by the store itself and by `/metrics`, while every
/// answer is the newest copy the store has. Reads without a version go on
/// being served from L1 meanwhile (how fast: `scripts/bench-versions.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_versions_costs_at_most_20_store_reads_a_second() {
    let app = TestApp::spawn().await;
    let store = app.service.store();
    app.get("/reviews/8/meta").await;
    let before = store.calls();
    let flood = flood_made_up_versions(app.addr, 8).await;
    let reads = store.calls() - before;
    // The store's own count: the two expected answers read before, and the
    // flood's reads.
    assert!(reads <= flood.queries + 2, "{reads} store calls");
}

/// The same flood on MongoDB: the bound is the cache's, whatever the store.
#[cfg(feature = "mongodb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (a MongoDB replica set, standalone or mongos)"]
async fn on_mongodb_a_flood_of_made_up_versions_costs_at_most_20_store_reads_a_second() {
    let uri = common::mongo::fresh_database_uri("flood");
    let seeded = std::process::Command::new(env!("CARGO_BIN_EXE_seed"))
        .args(["--mongodb-uri", &uri, "--records", "3000", "--drop"])
        .status()
        .expect("seed runs");
    assert!(seeded.success(), "seed into {uri}");
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = Proc::serve(dir.path(), &["--workers", "1", "--mongodb-uri", &uri]);
    flood_made_up_versions(addr, 8).await;
    drop(server);
    common::mongo::drop_database(&uri).await;
}
