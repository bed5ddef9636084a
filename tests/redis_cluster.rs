//! `--redis-url` naming a real Redis Cluster (`redis-server --cluster-enabled
//! yes` nodes joined by `redis-cli --cluster create`): cached views spread
//! over three masters and are read back by another host, a fill lock held by
//! one host keeps the other from the store, views follow their slots when
//! they move to another master (`MOVED`), rate limits hold across two
//! hosts, and with a master killed reads go on while limits fall back to
//! each host's own, as with a single Redis that is lost. With a replica per
//! master, under keep-alive load with L1 off, a master killed costs only its
//! own keys until its replica takes over, no request fails, and the service
//! says so in a few lines, each carrying its worker.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::redis::{Failover, watch_failover};
use common::{
    KeepAlive, Options, Proc, RedisCluster, TestApp, assert_each_host_limits_alone, helpful_votes,
    request,
};

/// Waits until `app` answers `path` from Redis, and returns the body.
async fn from_redis(app: &TestApp, path: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = app.get(path).await;
        assert_eq!(resp.status, 200, "{path}");
        if resp.header("x-cache") == Some("HIT-REDIS") {
            return resp.body;
        }
        assert!(Instant::now() < deadline, "{path} never came from Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_and_fill_locks_go_through_a_three_master_cluster() {
    let cluster = RedisCluster::start();
    // Two hosts (same data set, L1 off): what one fills, the other reads.
    let a = TestApp::start(Options::redis_only(cluster.url())).await;
    let b = TestApp::start(Options::redis_only(cluster.url())).await;
    for product in 1..=40u64 {
        let path = format!("/reviews/{product}/meta");
        let filled = a.get(&path).await;
        assert_eq!(filled.status, 200);
        assert_eq!(filled.header("x-cache"), Some("MISS"));
        let body = from_redis(&b, &path).await;
        assert_eq!(body, filled.body, "{path}");
        let page = format!("/reviews/{product}?count=3&sort=newest");
        let filled = a.get(&page).await;
        assert_eq!(from_redis(&b, &page).await, filled.body, "{page}");
    }
    let per_node = cluster.keys_per_node("reviews:v7:*");
    println!("views per master: {per_node:?}");
    assert_eq!(per_node.iter().sum::<usize>(), 80);
    assert!(per_node.iter().all(|&n| n > 0), "{per_node:?}");

    // A cold view read on both hosts at once: the first takes the fill lock
    // and reads the store (slowly); the second waits for its fill instead.
    a.service.store().set_delay(Duration::from_millis(200));
    b.service.store().set_delay(Duration::from_millis(200));
    let (a_calls, b_calls) = (a.service.store().calls(), b.service.store().calls());
    let path = "/reviews/77/meta";
    let first = tokio::spawn({
        let addr = a.addr;
        async move { request(addr, "GET", path, &[], b"").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = b.get(path).await;
    let first = first.await.unwrap();
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(second.header("x-cache"), Some("HIT-REDIS"));
    assert_eq!(first.body, second.body);
    assert_eq!(
        a.service.store().calls() - a_calls,
        1,
        "the lock holder read the store"
    );
    assert_eq!(b.service.store().calls(), b_calls, "the waiter did not");
    assert_eq!(
        cluster.keys_per_node("{reviews:v7:77:meta}:lock"),
        vec![0, 0, 0]
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_follow_their_slots_to_another_master() {
    let cluster = RedisCluster::start();
    let app = TestApp::start(Options::redis_only(cluster.url())).await;
    let paths: Vec<String> = (1..=60u64).map(|p| format!("/reviews/{p}/meta")).collect();
    let mut bodies = Vec::new();
    for path in &paths {
        app.get(path).await;
        bodies.push(from_redis(&app, path).await);
    }
    let before = cluster.keys_per_node("reviews:v7:*");
    // Every slot of the first master moves to the second, keys and all,
    // under a process that still has the old slot map.
    cluster.move_slots(0, 1);
    let after = cluster.keys_per_node("reviews:v7:*");
    println!("views per master: {before:?}, then {after:?}");
    assert_eq!(after, vec![0, before[0] + before[1], before[2]]);
    let calls = app.service.store().calls();
    for (path, body) in paths.iter().zip(&bodies) {
        let resp = app.get(path).await;
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(
            resp.header("x-cache"),
            Some("HIT-REDIS"),
            "{path}: followed MOVED"
        );
        assert_eq!(&resp.body, body, "{path}");
    }
    assert_eq!(
        app.service.store().calls(),
        calls,
        "no view went to the store"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_hosts_on_a_cluster_and_fall_back_per_host_when_a_master_dies() {
    let mut cluster = RedisCluster::start();
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--workers",
        "1",
        "--redis-url",
        &url,
        "--l1-capacity-mb",
        "0",
        "--vote-burst",
        "8",
        "--vote-per-minute",
        "1",
    ];
    let (_a, host_a) = Proc::serve(dir.path(), &args);
    let (_b, host_b) = Proc::serve(dir.path(), &args);
    let statuses = helpful_votes(&[host_a, host_b], 200..220).await;
    let allowed = statuses.iter().filter(|&&s| s == 204).count();
    println!("two hosts on a cluster (burst 8): {allowed} allowed of 20");
    assert_eq!(allowed, 8, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [204, 429].contains(s)),
        "{statuses:?}"
    );
    // Reads on both hosts fill views over the masters.
    for product in 1..=30u64 {
        for host in [host_a, host_b] {
            let resp = request(host, "GET", &format!("/reviews/{product}/meta"), &[], b"").await;
            assert_eq!(resp.status, 200);
        }
    }

    // The master holding the client's bucket dies mid-test.
    let holder = cluster
        .keys_per_node("reviews:rl:votes:*")
        .iter()
        .position(|&n| n > 0)
        .expect("the bucket is on a master");
    cluster.nodes[holder].kill();
    println!(
        "killed master {holder} (port {})",
        cluster.nodes[holder].port
    );
    // Reads go on, on both hosts, whichever master held their views, and
    // after the cluster as a whole refuses commands.
    for round in 0..2 {
        for product in 1..=30u64 {
            for host in [host_a, host_b] {
                let resp =
                    request(host, "GET", &format!("/reviews/{product}/meta"), &[], b"").await;
                assert_eq!(resp.status, 200, "round {round}, product {product}");
                assert_eq!(resp.json()["product_id"], product);
            }
        }
        if round == 0 {
            cluster.wait_failed();
        }
    }
    // Limits fall back to each host's own buckets; no write fails.
    assert_each_host_limits_alone(&[host_a, host_b], 8, 300..312).await;
}

/// One read of the failover's load.
struct Sample {
    at: Instant,
    product: u64,
    /// The status, 0 for a request that failed on the wire.
    status: u16,
    hit: bool,
    took: Duration,
}

/// Reads in `[from, to)`, and what they say: reads a second, the share
/// answered from Redis, the p99 in ms.
fn window(samples: &[Sample], from: Instant, to: Instant) -> (Vec<&Sample>, f64, f64, f64) {
    let mut inside: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= from && s.at < to)
        .collect();
    inside.sort_by_key(|s| s.took);
    let n = inside.len().max(1) as f64;
    let hits = inside.iter().filter(|s| s.hit).count() as f64;
    let p99 = inside
        .get((inside.len() * 99 / 100).min(inside.len().saturating_sub(1)))
        .map_or(0.0, |s| s.took.as_secs_f64() * 1e3);
    let rate = inside.len() as f64 / (to - from).as_secs_f64();
    (inside, rate, hits / n, p99)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_master_costs_only_its_own_keys_until_its_replica_takes_over() {
    let mut cluster = RedisCluster::start_with_replicas();
    let dir = tempfile::tempdir().unwrap();
    let url = cluster.url();
    let (proc, host) = Proc::serve_on_redis(dir.path(), 2, &url);
    // 3,000 demo reviews: products 1..=300, each meta a view in Redis.
    const PRODUCTS: u64 = 300;
    let path = |p: u64| format!("/reviews/{p}/meta");
    for product in 1..=PRODUCTS {
        assert_eq!(
            request(host, "GET", &path(product), &[], b"").await.status,
            200
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for product in 1..=PRODUCTS {
        while request(host, "GET", &path(product), &[], b"")
            .await
            .header("x-cache")
            != Some("HIT-REDIS")
        {
            assert!(
                Instant::now() < deadline,
                "{} never came from Redis",
                path(product)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let victim = cluster.masters()[0];
    let victim_port = cluster.nodes[victim].port;
    let lost: HashSet<u64> = cluster.nodes[victim]
        .keys("reviews:v7:*:meta")
        .iter()
        .filter_map(|k| k.split(':').nth(2)?.parse().ok())
        .collect();
    println!(
        "master :{victim_port} holds {} of {PRODUCTS} views",
        lost.len()
    );
    assert!(
        !lost.is_empty() && lost.len() < PRODUCTS as usize / 2,
        "{lost:?}"
    );

    // Keep-alive load from 8 clients, each reading the views in turn.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8u64)
        .map(|c| {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut client = KeepAlive::new(host);
                let mut samples = Vec::new();
                let mut i = c * 37;
                while !stop.load(Ordering::Relaxed) {
                    let product = i % PRODUCTS + 1;
                    i += 1;
                    let at = Instant::now();
                    let resp = client.get(&format!("/reviews/{product}/meta")).await;
                    let (status, hit) = match &resp {
                        Ok(r) => (r.status, r.header("x-cache") == Some("HIT-REDIS")),
                        Err(_) => (0, false),
                    };
                    samples.push(Sample {
                        at,
                        product,
                        status,
                        hit,
                        took: at.elapsed(),
                    });
                }
                samples
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log_before = proc.stderr().len();
    let killed = Instant::now();
    cluster.nodes[victim].kill();
    let ports = cluster.live_ports();
    let Failover { failed, promoted } = tokio::task::spawn_blocking(move || {
        watch_failover(&ports, victim_port, Duration::from_secs(30))
    })
    .await
    .unwrap();
    let end = promoted.max(killed + Duration::from_secs(3)) + Duration::from_secs(3);
    tokio::time::sleep_until(end.into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for client in clients {
        samples.extend(client.await.unwrap());
    }

    let failed_requests: Vec<_> = samples.iter().filter(|s| s.status != 200).collect();
    assert!(
        failed_requests.is_empty(),
        "{} requests failed",
        failed_requests.len()
    );
    let windows = [
        ("before", started, killed),
        ("kill -> fail", killed, failed),
        ("fail -> promoted", failed, promoted),
        ("after", promoted, end),
        (
            "3 s after the kill",
            killed,
            killed + Duration::from_secs(3),
        ),
    ];
    for (name, from, to) in windows {
        let (inside, rate, hits, p99) = window(&samples, from, to);
        let own = inside.iter().filter(|s| !lost.contains(&s.product));
        let (own_n, own_hits) = own.fold((0, 0), |(n, h), s| (n + 1, h + usize::from(s.hit)));
        println!(
            "{name:>18}: {:>5.2} s, {rate:>7.0} reads/s, MISS {:>5.1}%, p99 {p99:>6.2} ms; \
             keys of the other masters: {:.1}% HIT-REDIS",
            (to - from).as_secs_f64(),
            100.0 * (1.0 - hits),
            100.0 * own_hits as f64 / own_n.max(1) as f64
        );
    }
    // In the 3 s after the kill, the lost master's keys miss, the others'
    // are still read from Redis.
    let (inside, _, hits, _) = window(&samples, killed, killed + Duration::from_secs(3));
    assert!(
        inside.len() > 100,
        "the load went on: {} reads",
        inside.len()
    );
    assert!(
        1.0 - hits <= 0.5,
        "{:.1}% of reads missed in the 3 s after the kill",
        100.0 * (1.0 - hits)
    );
    let others: Vec<_> = inside
        .iter()
        .filter(|s| !lost.contains(&s.product))
        .collect();
    let others_hit = others.iter().filter(|s| s.hit).count() as f64 / others.len() as f64;
    assert!(
        others_hit >= 0.9,
        "only {:.1}% of the other masters' keys came from Redis",
        100.0 * others_hit
    );
    // Once the replica serves the lost slots, reads come from Redis again.
    let (_, _, hits, _) = window(&samples, promoted, end);
    assert!(
        hits >= 0.95,
        "{:.1}% HIT-REDIS after the promotion",
        100.0 * hits
    );

    // What the service wrote meanwhile: a few lines, each from a worker,
    // saying which node was lost and who serves its slots now.
    let log = proc.stderr();
    let lines: Vec<&str> = log[log_before..].lines().collect();
    println!(
        "{} log lines during the failover:\n{}",
        lines.len(),
        lines.join("\n")
    );
    assert!(lines.len() <= 40, "{} lines", lines.len());
    assert!(lines.iter().all(|l| l.contains("worker{id=")), "{lines:#?}");
    let victim_addr = format!("127.0.0.1:{victim_port}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains(&format!("redis {victim_addr} unreachable"))),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("INFO") && l.contains("masters now")),
        "{lines:#?}"
    );
}
