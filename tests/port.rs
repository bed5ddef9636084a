//! One port, one service: a second `reviews` on a taken port exits with one
//! line instead of joining the first's SO_REUSEPORT group, two started at
//! once leave exactly one serving, and `GET /metrics` gives the same totals
//! whichever worker answers, before and after SIGHUP.
//!
//! The two services in a test serve different demo data sets (3,000 and
//! 2,000 reviews, so 300 and 200 products): product 250 exists only in the
//! larger, which tells which one answered a read.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{KeepAlive, Proc};
use reviews::generate::{DataSet, Generator};
use reviews::startup::DEMO_SEED;

const REVIEWS: &str = env!("CARGO_BIN_EXE_reviews");
/// A product of the 3,000-review data set that the 2,000-review one lacks.
const ONLY_IN_LARGER: u64 = 250;

/// `reviews --workers 2` on `listen` over a fresh store of `records` reviews.
fn supervisor(dir: &Path, listen: &str, records: u64) -> Proc {
    let data = dir.join("data");
    let records = records.to_string();
    let args = [
        "--listen",
        listen,
        "--workers",
        "2",
        "--data-dir",
        data.to_str().unwrap(),
        "--demo-records",
        &records,
    ];
    Proc::start(REVIEWS, &args, dir)
}

/// The `total` of product [`ONLY_IN_LARGER`] in the 3,000-review data set.
fn expected_total() -> u64 {
    let generator = Generator::new(DataSet::new(DEMO_SEED, 3000, None));
    common::visible_reviews(&generator, ONLY_IN_LARGER).len() as u64
}

/// Twenty reads of [`ONLY_IN_LARGER`]'s meta on fresh connections: the
/// statuses seen, with how many times each.
async fn twenty_reads(addr: SocketAddr) -> HashMap<u16, usize> {
    let mut seen = HashMap::new();
    let path = format!("/reviews/{ONLY_IN_LARGER}/meta");
    for _ in 0..20 {
        let resp = common::request(addr, "GET", &path, &[], b"").await;
        if resp.status == 200 {
            assert_eq!(resp.json()["total"].as_u64(), Some(expected_total()));
        }
        *seen.entry(resp.status).or_default() += 1;
    }
    seen
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_supervisor_on_a_taken_port_exits_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (first, addr) = Proc::serve(dir.path(), &["--workers", "2"]);
    let other = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut second = supervisor(other.path(), &addr.to_string(), 2000);
    let status = second.wait_exit(Duration::from_secs(10));
    let err = second.stderr();
    assert!(!status.success(), "{status}: {err}");
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("reviews: cannot listen on {addr}")),
        "{err}"
    );
    assert_eq!(
        twenty_reads(addr).await,
        HashMap::from([(200, 20)]),
        "every read comes from the first data set"
    );
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_supervisors_started_at_once_leave_exactly_one_serving() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let listen = format!("127.0.0.1:{}", free_port());
    let mut a = supervisor(dir_a.path(), &listen, 3000);
    let mut b = supervisor(dir_b.path(), &listen, 2000);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (loser, mut winner, winner_is_a) = loop {
        if let Some(status) = a.child.try_wait().unwrap() {
            break ((a.stderr(), status), b, false);
        }
        if let Some(status) = b.child.try_wait().unwrap() {
            break ((b.stderr(), status), a, true);
        }
        assert!(
            Instant::now() < deadline,
            "both serve the same port:\n{}\n{}",
            a.stderr(),
            b.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (err, status) = loser;
    assert!(!status.success(), "{status}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("reviews: cannot listen on {listen}")),
        "{err}"
    );
    let addr = winner.wait_listening(Duration::from_secs(60));
    let expected = if winner_is_a { 200 } else { 404 };
    assert_eq!(
        twenty_reads(addr).await,
        HashMap::from([(expected, 20)]),
        "every read comes from the survivor's data set"
    );
    assert!(winner.child.try_wait().unwrap().is_none(), "still serving");
}

/// Prometheus text as `series{labels} -> value`.
fn parse(body: &[u8]) -> HashMap<String, f64> {
    std::str::from_utf8(body)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}

/// The series one test looks at, with their exact expected values.
struct Expect {
    meta_ok: f64,
    unknown: f64,
    scrapes_before: f64,
}

/// Checks one scrape against what the test has sent so far.
fn check(m: &HashMap<String, f64>, expect: &Expect) {
    let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
    assert_eq!(
        get("reviews_http_requests_total{route=\"meta\",status=\"200\"}"),
        expect.meta_ok
    );
    assert_eq!(
        get("reviews_http_requests_total{route=\"unknown\",status=\"404\"}"),
        expect.unknown
    );
    assert_eq!(
        get("reviews_http_requests_total{route=\"ops\",status=\"200\"}"),
        expect.scrapes_before,
        "every earlier scrape is counted, by whichever worker answered it"
    );
    assert_eq!(
        get("reviews_http_request_duration_seconds_count{route=\"meta\"}"),
        expect.meta_ok
    );
    assert_eq!(
        get("reviews_cache_lookups_total{result=\"hit_l1\"}")
            + get("reviews_cache_lookups_total{result=\"miss\"}"),
        expect.meta_ok,
        "the cache counters of every worker"
    );
    assert_eq!(get("reviews_http_in_flight"), 1.0, "the scrape itself");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    for worker in ["0", "1", "supervisor"] {
        let cpu = format!("process_cpu_seconds_total{{worker=\"{worker}\"}}");
        assert!(m.contains_key(&cpu), "{cpu} missing");
        let fds = get(&format!("process_open_fds{{worker=\"{worker}\"}}"));
        assert!(fds >= 3.0, "worker {worker}: {fds} open fds");
        let rss = get(&format!(
            "process_resident_memory_bytes{{worker=\"{worker}\"}}"
        ));
        assert!(rss > 1e6, "worker {worker}: {rss} bytes resident");
        let start = get(&format!(
            "process_start_time_seconds{{worker=\"{worker}\"}}"
        ));
        let age = now.as_secs_f64() - start;
        assert!(
            (-2.0..600.0).contains(&age),
            "worker {worker} started {age} s ago"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_one_view_of_the_port_across_workers_and_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (proc, addr) = Proc::serve(dir.path(), &["--workers", "2"]);
    let mut kept = KeepAlive::new(addr);
    for i in 0..20 {
        let path = format!("/reviews/{}/meta", 1 + i % 4);
        assert_eq!(
            common::request(addr, "GET", &path, &[], b"").await.status,
            200
        );
    }
    for _ in 0..10 {
        assert_eq!(kept.get("/nowhere").await.unwrap().status, 404);
    }
    let mut expect = Expect {
        meta_ok: 20.0,
        unknown: 10.0,
        scrapes_before: 0.0,
    };
    // Scrapes on fresh connections (spread by the kernel) and on one kept-
    // alive connection (always the same worker), until both workers answered.
    let mut answered = HashSet::new();
    let mut last = HashMap::new();
    while answered.len() < 2 || expect.scrapes_before < 10.0 {
        assert!(
            expect.scrapes_before < 60.0,
            "one worker answers every scrape"
        );
        let resp = common::request(addr, "GET", "/metrics", &[], b"").await;
        answered.insert(resp.answering_pid());
        let m = parse(&resp.body);
        check(&m, &expect);
        expect.scrapes_before += 1.0;
        let resp = kept.get("/metrics").await.unwrap();
        assert_eq!(resp.status, 200);
        last = parse(&resp.body);
        check(&last, &expect);
        expect.scrapes_before += 1.0;
    }

    assert_eq!(kept.connects, 1, "one connection kept alive throughout");
    drop(kept);
    proc.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(30);
    while proc.stderr().matches(") ready").count() < 4 {
        assert!(Instant::now() < deadline, "not replaced: {}", proc.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..5 {
        let resp = common::request(addr, "GET", "/reviews/1/meta", &[], b"").await;
        assert_eq!(resp.status, 200);
    }
    expect.meta_ok += 5.0;
    for _ in 0..10 {
        let resp = common::request(addr, "GET", "/metrics", &[], b"").await;
        let m = parse(&resp.body);
        check(&m, &expect);
        expect.scrapes_before += 1.0;
        for (series, before) in &last {
            let counter = series.contains("_total") && !series.starts_with("process_cpu");
            if counter || series.contains("_bucket") || series.contains("_count") {
                let now = m.get(series).copied().unwrap_or(0.0);
                assert!(now >= *before, "{series} went from {before} to {now}");
            }
        }
        last = m;
    }
}
