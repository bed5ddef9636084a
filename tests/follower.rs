//! One change-log follower per port: `reviews --workers 4` as real
//! processes reads the store's change log from one worker only (its own
//! counters say which), every worker still learns of writes made through
//! the others, killing the follower hands the job to another worker with
//! no write missed, and a follower frozen past its lease loses it and steps
//! down when it wakes. On MongoDB (when `MONGODB_URI` is set) the product
//! count is read by one worker too.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{KeepAlive, Proc, meta_total as total, one_connection_per_worker, request};

/// Background reads by (read, worker slot), from `/metrics`.
async fn background_reads(addr: SocketAddr) -> BTreeMap<(String, String), u64> {
    let metrics = request(addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(metrics.status, 200);
    common::background_reads(&String::from_utf8(metrics.body).unwrap())
}

/// The pid and slot of the port's follower, from `/metrics`.
async fn follower(addr: SocketAddr) -> Option<(u32, String)> {
    let metrics = request(addr, "GET", "/metrics", &[], b"").await;
    let text = String::from_utf8(metrics.body).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("reviews_follower_info{"))?;
    let pid = line
        .split("pid=\"")
        .nth(1)?
        .split('"')
        .next()?
        .parse()
        .ok()?;
    let worker = line
        .split("worker=\"")
        .nth(1)
        .and_then(|w| w.split('"').next())
        .unwrap_or_default()
        .to_string();
    Some((pid, worker))
}

/// Workers (slots) that made background reads of `read`.
fn readers(reads: &BTreeMap<(String, String), u64>, read: &str) -> Vec<String> {
    reads
        .iter()
        .filter(|((r, _), n)| r == read && **n > 0)
        .map(|((_, worker), _)| worker.clone())
        .collect()
}

/// The port's change-log polls, all workers together.
fn polls(reads: &BTreeMap<(String, String), u64>) -> u64 {
    reads
        .iter()
        .filter(|((r, _), _)| r == "change_log")
        .map(|(_, n)| n)
        .sum()
}

/// Waits until the port has polled the change log more than `at_least`
/// times in all.
async fn wait_polls(addr: SocketAddr, at_least: u64) -> BTreeMap<(String, String), u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reads = background_reads(addr).await;
        if polls(&reads) > at_least {
            return reads;
        }
        assert!(
            Instant::now() < deadline,
            "the port stopped polling: {reads:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts a review of `product` through `client`'s worker.
async fn write_review(client: &mut KeepAlive, product: u64) {
    let posted = client
        .send(
            "POST",
            &format!("/reviews/{product}"),
            &[("content-type", "application/json")],
            review(product).as_bytes(),
        )
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&posted.body).into_owned();
    assert_eq!(posted.status, 201, "{body}");
}

/// Waits until `client`'s worker (`pid`) serves `product`'s meta with the
/// one review written since it counted `before`, and never anything else.
async fn wait_total(client: &mut KeepAlive, pid: u32, product: u64, before: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (now, cache) = total(client, product).await;
        if now == before + 1 {
            return;
        }
        assert_eq!(now, before, "worker {pid}");
        assert!(
            Instant::now() < deadline,
            "worker {pid} still serves the old meta ({cache})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A new review of `product`.
fn review(product: u64) -> String {
    serde_json::json!({
        "rating": 5, "summary": "Still great",
        "body": "Held up through a whole season of daily use, and the zipper never caught once.",
        "recommend": true, "name": "Ana", "email": "ana@example.com",
        "characteristics": common::characteristics(product, 3)
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_read_the_change_log_once_and_a_killed_follower_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (proc, addr) = Proc::serve(dir.path(), &["--workers", "4"]);

    // One worker polls; the other three poll nothing.
    let reads = wait_polls(addr, 12).await;
    let polling = readers(&reads, "change_log");
    let (pid, slot) = follower(addr).await.expect("a follower");
    println!("4 workers, {} polls: by workers {polling:?}", polls(&reads));
    assert_eq!(polling, vec![slot.clone()], "{reads:?}");
    assert_eq!(
        reads.keys().filter(|(r, _)| r == "change_log").count(),
        4,
        "a series per worker: {reads:?}"
    );

    // Every worker caches product 7's meta.
    let product = 7;
    let mut clients = one_connection_per_worker(addr, 4).await;
    let mut before = None;
    for client in clients.values_mut() {
        let (first, _) = total(client, product).await;
        let (again, cache) = total(client, product).await;
        assert_eq!(cache, "HIT-L1");
        assert_eq!(first, again);
        assert!(before.is_none_or(|b| b == first));
        before = Some(first);
    }
    let before = before.unwrap();

    // The follower dies; another worker takes over where it stopped.
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    clients.remove(&pid);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (next_pid, next_slot) = loop {
        if let Some((p, s)) = follower(addr).await.filter(|(p, _)| *p != pid) {
            break (p, s);
        }
        assert!(
            Instant::now() < deadline,
            "nobody took over: {}",
            proc.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "follower pid {pid} (worker {slot}) killed; pid {next_pid} (worker {next_slot}) follows"
    );
    // The supervisor frees the dead worker's lease as it reaps it: a
    // surviving worker, or the dead one's replacement, takes over.

    // A review written through one worker reaches every other's cache.
    let writer = *clients.keys().find(|&&p| p != next_pid).unwrap();
    write_review(clients.get_mut(&writer).unwrap(), product).await;
    for (pid, client) in &mut clients {
        wait_total(client, *pid, product, before).await;
    }

    // Still one reader at a time: the old follower's count stopped, the
    // new one's goes on, and no third worker polls.
    let reads = background_reads(addr).await;
    let reads = wait_polls(addr, polls(&reads) + 8).await;
    let polling = readers(&reads, "change_log");
    println!("after the take-over: polls by workers {polling:?}");
    assert!(polling.contains(&next_slot), "{reads:?}");
    assert!(polling.len() <= 2, "{reads:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_follower_loses_its_lease_and_steps_down_when_it_wakes() {
    let dir = tempfile::tempdir().unwrap();
    let (proc, addr) = Proc::serve(dir.path(), &["--workers", "2"]);
    wait_polls(addr, 4).await;
    let mut clients = one_connection_per_worker(addr, 2).await;
    let (stuck, _) = follower(addr).await.expect("a follower");
    let other = *clients.keys().find(|&&p| p != stuck).unwrap();
    let mut other_client = clients.remove(&other).unwrap();
    let metrics_of = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("reviews_follower_info{"))
            .map(str::to_string)
    };
    // Frozen (SIGSTOP), it beats no more: the other worker takes over once
    // the heartbeat is 3 s old, though the stuck one's pid still exists.
    let signal = |sig: &str, pid: u32| {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    signal("STOP", stuck);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let resp = other_client.get("/metrics").await.unwrap();
        let text = String::from_utf8(resp.body).unwrap();
        if metrics_of(&text).is_some_and(|l| l.contains(&format!("pid=\"{other}\""))) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no take-over: {:?}",
            metrics_of(&text)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal("CONT", stuck);
    // Awake again, it finds the lease taken and follows no more.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proc
        .stderr()
        .contains("another process follows the change log now")
    {
        assert!(Instant::now() < deadline, "{}", proc.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = String::from_utf8(other_client.get("/metrics").await.unwrap().body).unwrap();
    assert!(
        metrics_of(&text)
            .unwrap()
            .contains(&format!("pid=\"{other}\""))
    );
    // And a write through the one that was stuck reaches the other.
    let product = 9;
    let (before, _) = total(&mut other_client, product).await;
    let mut stuck_client = clients.remove(&stuck).unwrap();
    write_review(&mut stuck_client, product).await;
    wait_total(&mut other_client, other, product, before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_alone_is_its_own_follower() {
    let dir = tempfile::tempdir().unwrap();
    let (_proc, addr) = Proc::serve(dir.path(), &["--workers", "1"]);
    let reads = wait_polls(addr, 4).await;
    assert_eq!(readers(&reads, "change_log"), vec![String::new()]);
    let (pid, worker) = follower(addr).await.expect("a follower");
    assert_eq!(worker, "");
    let mut client = KeepAlive::new(addr);
    assert_eq!(client.get("/healthz").await.unwrap().answering_pid(), pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mongodb_one_worker_reads_the_change_log_and_the_product_count() {
    if std::env::var("MONGODB_URI").is_err() {
        println!("skipped: MONGODB_URI is not set");
        return;
    }
    let uri = common::mongo::seeded_database_uri("follower", "2000");
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = Proc::serve(dir.path(), &["--workers", "4", "--mongodb-uri", &uri]);
    // Requests on every worker: none of them reads the count itself.
    let mut clients = one_connection_per_worker(addr, 4).await;
    for client in clients.values_mut() {
        for product in [1, 2, 150, 201] {
            let resp = client
                .get(&format!("/reviews/{product}/meta"))
                .await
                .unwrap();
            assert_eq!(resp.status, if product <= 200 { 200 } else { 404 });
        }
    }
    let reads = wait_polls(addr, 12).await;
    let (_, slot) = follower(addr).await.expect("a follower");
    println!("4 workers on MongoDB: {reads:?}");
    assert_eq!(
        readers(&reads, "change_log"),
        vec![slot.clone()],
        "{reads:?}"
    );
    assert_eq!(readers(&reads, "product_count"), vec![slot], "{reads:?}");
    // The servers stop before their database goes.
    drop(server);
    #[cfg(feature = "mongodb")]
    common::mongo::drop_database(&uri).await;
}
