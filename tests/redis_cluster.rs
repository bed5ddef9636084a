//! `--redis-url` naming a real 3-master Redis Cluster (three `redis-server
//! --cluster-enabled yes` joined by `redis-cli --cluster create`): cached
//! views spread over the masters and are read back by another host, a fill
//! lock held by one host keeps the other from the store, rate limits hold
//! across two hosts, and with a master killed reads go on while limits fall
//! back to each host's own, as with a single Redis that is lost.

mod common;

use std::time::{Duration, Instant};

use common::{
    Options, Proc, RedisCluster, TestApp, assert_each_host_limits_alone, helpful_votes, request,
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
    let per_node = cluster.keys_per_node("reviews:v6:*");
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
        cluster.keys_per_node("{reviews:v6:77:meta}:lock"),
        vec![0, 0, 0]
    );
    a.stop().await;
    b.stop().await;
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
