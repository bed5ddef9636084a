//! The MongoDB change log as the port's follower reads it
//! (`store::mongo::changes`): under a steady write load it fetches about
//! one change-log document per write — never more than five, whatever the
//! window — as the service's own `/metrics` count them; and a write whose
//! commit is held back, its entry's `at` long before the commit (inside
//! the window, and beyond it), still reaches every worker within 1 s of
//! the commit, as does an entry without a position (logged by a version
//! before positions, during a rolling upgrade).
//!
//! Both need a MongoDB deployment (`MONGODB_URI`) and are `#[ignore]`d;
//! `scripts/test.sh` runs them with `--ignored` when it is set, each in a
//! database of its own that it drops afterwards. `WRITES_PER_S=400
//! MONGODB_URI=… cargo test --test change_log steady -- --ignored
//! --nocapture` measures at another rate (the writes go through the
//! service: what the deployment commits is what is measured).

#![cfg(feature = "mongodb")]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{KeepAlive, Proc, meta_total as total, one_connection_per_worker, request};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::ReturnDocument;
use reviews::store::mongo::changes::{bucket_of, position};

/// Change-log documents the follower may fetch per write.
const MOST_PER_WRITE: f64 = 5.0;
/// The write rate of the steady load, unless `WRITES_PER_S` says.
const WRITES_PER_S: u64 = 100;
/// How long the steady load runs before it is measured, and then how long.
const WARM: Duration = Duration::from_secs(3);
const MEASURE: Duration = Duration::from_secs(10);
/// How long a write's commit is held back: under the 2 s a transaction
/// may live on the engine this project tests on.
const HOLD: Duration = Duration::from_millis(1500);
/// The documented bound: every worker shows a write within 1 s of it.
const BOUND: Duration = Duration::from_secs(1);
/// Records the test data sets hold (200 products).
const RECORDS: &str = "2000";

/// A fresh database of `purpose` seeded with [`RECORDS`] records, served
/// by `reviews --workers 2`; returns once the port's follower has looked
/// at the change log.
async fn serve_seeded(purpose: &str, dir: &std::path::Path) -> (String, Proc, SocketAddr) {
    let uri = common::mongo::seeded_database_uri(purpose, RECORDS);
    let (proc, addr) = Proc::serve(dir, &["--workers", "2", "--mongodb-uri", &uri]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while background(addr).await.0 == 0 {
        assert!(Instant::now() < deadline, "no poll: {}", proc.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (uri, proc, addr)
}

/// The port's change-log polls and the change-log documents they fetched,
/// every worker's together.
async fn background(addr: SocketAddr) -> (u64, u64) {
    let metrics = request(addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    let change_log = |series: std::collections::BTreeMap<(String, String), u64>| {
        series
            .iter()
            .filter(|((read, _), _)| read == "change_log")
            .map(|(_, n)| n)
            .sum()
    };
    (
        change_log(common::background_reads(&text)),
        change_log(common::background_documents(&text)),
    )
}

/// A new review of `product`, rating each of its characteristics.
fn review(product: u64) -> String {
    serde_json::json!({
        "rating": 4, "summary": "Steady",
        "body": "Held up through a whole season of daily use; the zipper never caught once.",
        "recommend": true, "name": "Ana", "email": "ana@example.com",
        "characteristics": common::characteristics(product, 4)
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (a MongoDB replica set, standalone or mongos)"]
async fn steady_writes_cost_the_follower_about_one_document_each() {
    let dir = tempfile::tempdir().unwrap();
    let (uri, _proc, addr) = serve_seeded("changelog", dir.path()).await;
    let rate: u64 = std::env::var("WRITES_PER_S")
        .map(|r| r.parse().expect("WRITES_PER_S is a number"))
        .unwrap_or(WRITES_PER_S);
    let products = RECORDS.parse::<u64>().unwrap() / 10;
    // Open loop: a review every 1/rate s, whatever the answers; counted
    // as they are answered 201.
    let written = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let load = {
        let (written, failed) = (Arc::clone(&written), Arc::clone(&failed));
        tokio::spawn(async move {
            let started = Instant::now();
            let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut tasks = Vec::new();
            while started.elapsed() < WARM + MEASURE + Duration::from_secs(1) {
                ticks.tick().await;
                let (written, failed) = (Arc::clone(&written), Arc::clone(&failed));
                let product = 1 + fastrand::u64(0..products);
                tasks.push(tokio::spawn(async move {
                    let headers = [("content-type", "application/json")];
                    let path = format!("/reviews/{product}");
                    let body = review(product);
                    let posted = request(addr, "POST", &path, &headers, body.as_bytes()).await;
                    let counter = if posted.status == 201 {
                        written
                    } else {
                        failed
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        })
    };
    tokio::time::sleep(WARM).await;
    let (polls_before, fetched_before) = background(addr).await;
    let writes_before = written.load(Ordering::Relaxed);
    let began = Instant::now();
    tokio::time::sleep(MEASURE).await;
    let (polls_after, fetched_after) = background(addr).await;
    let writes = written.load(Ordering::Relaxed) - writes_before;
    let secs = began.elapsed().as_secs_f64();
    load.await.unwrap();
    let fetched = fetched_after - fetched_before;
    let per_write = fetched as f64 / writes.max(1) as f64;
    println!(
        "{rate} writes/s asked, {:.0} committed ({} failed): the follower fetched {:.0} \
         change-log documents/s in {:.1} polls/s = {per_write:.2} per write",
        writes as f64 / secs,
        failed.load(Ordering::Relaxed),
        fetched as f64 / secs,
        (polls_after - polls_before) as f64 / secs,
    );
    assert!(
        writes >= 20,
        "only {writes} writes in {secs:.0} s: too few to measure"
    );
    assert!(
        per_write <= MOST_PER_WRITE,
        "{fetched} change-log documents fetched for {writes} writes"
    );
    // It reads what was written: a follower that stopped fetching would
    // pass the bound above.
    assert!(
        fetched as f64 >= 0.8 * writes as f64,
        "{fetched} change-log documents fetched for {writes} writes"
    );
    common::mongo::drop_database(&uri).await;
}

/// Does to `product` what a write does to its meta and to the change log —
/// a review counted in, the version advanced, the next number of its
/// bucket taken and the entry logged at it — in one transaction held open
/// for [`HOLD`] before it commits; the entry's `at` is `age` before now,
/// as for a commit that came that long after it. When the commit was
/// acknowledged.
async fn held_write(db: &mongodb::Database, product: u64, age: Duration) -> Instant {
    let meta = db.collection::<Document>("meta");
    let buckets = db.collection::<Document>("change_buckets");
    let log = db.collection::<Document>("changes");
    let mut session = db.client().start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let counted = doc! { "$inc": { "r4": 1_i64, "rec_true": 1_i64, "v": 1_i64 } };
    let version = meta
        .find_one_and_update(doc! { "_id": product as i64 }, counted)
        .return_document(ReturnDocument::After)
        .session(&mut session)
        .await
        .unwrap()
        .expect("a seeded product")
        .get_i64("v")
        .unwrap();
    let bucket = bucket_of(product);
    let number = buckets
        .find_one_and_update(
            doc! { "_id": bucket as i64 },
            doc! { "$inc": { "n": 1_i64 } },
        )
        .upsert(true)
        .return_document(ReturnDocument::After)
        .session(&mut session)
        .await
        .unwrap()
        .unwrap()
        .get_i64("n")
        .unwrap();
    let at = DateTime::from_millis(DateTime::now().timestamp_millis() - age.as_millis() as i64);
    let entry = doc! {
        "_id": ObjectId::new(), "at": at, "product_id": product as i64, "v": version,
        "pos": position(bucket, number as u64),
    };
    log.insert_one(entry).session(&mut session).await.unwrap();
    tokio::time::sleep(HOLD).await;
    session.commit_transaction().await.unwrap();
    Instant::now()
}

/// Every worker serves `product`'s meta from its own L1: the total then.
async fn cached_everywhere(
    clients: &mut std::collections::HashMap<u32, KeepAlive>,
    product: u64,
) -> u64 {
    let mut totals = Vec::new();
    for client in clients.values_mut() {
        total(client, product).await;
        let (again, cache) = total(client, product).await;
        assert_eq!(cache, "HIT-L1");
        totals.push(again);
    }
    totals.dedup();
    assert_eq!(totals.len(), 1, "{totals:?}");
    totals[0]
}

/// Every worker serves `product`'s total as `expected` within [`BOUND`]
/// of `committed`.
async fn seen_everywhere(
    clients: &mut std::collections::HashMap<u32, KeepAlive>,
    product: u64,
    expected: u64,
    committed: Instant,
    what: &str,
) {
    for (pid, client) in clients.iter_mut() {
        loop {
            let (now, cache) = total(client, product).await;
            if now == expected {
                break;
            }
            assert!(
                committed.elapsed() < BOUND,
                "{what}: worker {pid} still serves total {now} ({cache}) {:?} after the commit",
                committed.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!(
        "{what}: every worker shows it {:?} after the commit",
        committed.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (a MongoDB replica set, standalone or mongos)"]
async fn a_write_committed_late_reaches_every_worker_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let (uri, _proc, addr) = serve_seeded("late", dir.path()).await;
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let db = client.default_database().unwrap();
    let mut clients = one_connection_per_worker(addr, 2).await;
    // Committed 9 s after its `at` (inside the window a first look reads
    // back), then 60 s after (beyond it).
    for (product, age) in [(7, Duration::from_secs(9)), (8, Duration::from_secs(60))] {
        let before = cached_everywhere(&mut clients, product).await;
        let committed = held_write(&db, product, age).await;
        let what = format!("a commit held {HOLD:?}, {age:?} after its entry's `at`");
        seen_everywhere(&mut clients, product, before + 1, committed, &what).await;
    }
    // An entry without a position, as a version before positions logs it
    // (a host not yet upgraded), 5 s after its `at`.
    let product = 9;
    let before = cached_everywhere(&mut clients, product).await;
    let counted = doc! { "$inc": { "r4": 1_i64, "rec_true": 1_i64, "v": 1_i64 } };
    let meta = db.collection::<Document>("meta");
    let version = meta
        .find_one_and_update(doc! { "_id": product as i64 }, counted)
        .return_document(ReturnDocument::After)
        .await
        .unwrap()
        .unwrap()
        .get_i64("v")
        .unwrap();
    let at = DateTime::from_millis(DateTime::now().timestamp_millis() - 5_000);
    let entry =
        doc! { "_id": ObjectId::new(), "at": at, "product_id": product as i64, "v": version };
    db.collection::<Document>("changes")
        .insert_one(entry)
        .await
        .unwrap();
    let what = "an entry without a position";
    seen_everywhere(&mut clients, product, before + 1, Instant::now(), what).await;
    common::mongo::drop_database(&uri).await;
}
