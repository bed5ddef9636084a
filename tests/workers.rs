//! `reviews --workers 2` as real processes under real signals: both workers
//! serve the shared port, a killed worker is replaced, SIGHUP replaces every
//! worker with no failed request, SIGTERM finishes in-flight requests.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::Proc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A supervisor with two workers over a freshly seeded temp store.
fn start_workers(dir: &std::path::Path) -> (Proc, SocketAddr) {
    Proc::serve(dir, &["--workers", "2"])
}

/// The pids of workers the supervisor reported ready, in order.
fn ready_pids(proc: &Proc) -> Vec<u32> {
    proc.stderr()
        .lines()
        .filter(|l| l.contains(") ready"))
        .filter_map(|l| l.split("(pid ").nth(1)?.split(')').next()?.parse().ok())
        .collect()
}

/// Fresh-connection GETs in a loop until stopped: (ok, failed) counts. With
/// `retry`, a request whose connection failed is tried once more on a fresh
/// connection, as a client library would.
struct Load {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr, clients: usize, retry: bool) -> Load {
        let (ok, failed, stop) = (
            Arc::default(),
            Arc::default(),
            Arc::new(AtomicBool::new(false)),
        );
        let tasks = (0..clients)
            .map(|c| {
                let (ok, failed, stop): (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicBool>) =
                    (Arc::clone(&ok), Arc::clone(&failed), Arc::clone(&stop));
                tokio::spawn(async move {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let path = format!("/reviews/{}/meta", 1 + (i + c as u64) % 50);
                        let mut good = try_get(addr, &path).await;
                        if !good && retry {
                            good = try_get(addr, &path).await;
                        }
                        if good { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Load {
            ok,
            failed,
            stop,
            tasks,
        }
    }

    async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// One GET on a fresh connection: true for a complete 200 with a JSON body.
async fn try_get(addr: SocketAddr, path: &str) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await.ok()?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.ok()?;
        let text = String::from_utf8(out).ok()?;
        Some(text.starts_with("HTTP/1.1 200") && text.ends_with('}'))
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_the_port_and_both_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (proc, addr) = start_workers(dir.path());
    let workers: HashSet<u32> = ready_pids(&proc).into_iter().collect();
    assert_eq!(workers.len(), 2, "{}", proc.stderr());
    assert!(
        !workers.contains(&proc.child.id()),
        "workers are separate processes"
    );
    let mut answered = HashSet::new();
    for _ in 0..100 {
        let resp = common::request(addr, "GET", "/reviews/1/meta", &[], b"").await;
        assert_eq!(resp.status, 200);
        assert!(resp.json()["total"].as_u64().unwrap() > 0);
        answered.insert(resp.answering_pid());
    }
    assert_eq!(
        answered, workers,
        "the kernel spreads connections over both workers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_replaced_and_no_retried_request_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (proc, addr) = start_workers(dir.path());
    let victim = ready_pids(&proc)[0];
    let load = Load::start(addr, 4, true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &victim.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let replaced = loop {
        if ready_pids(&proc).len() == 3 {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(5),
            "no replacement: {}",
            proc.stderr()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    eprintln!("replacement ready {replaced:?} after SIGKILL");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ok, failed) = load.finish().await;
    assert!(ok > 50, "load ran: {ok}");
    assert_eq!(failed, 0, "requests lost after a retry ({ok} ok)");
    let pids = ready_pids(&proc);
    let answered = common::request(addr, "GET", "/healthz", &[], b"")
        .await
        .answering_pid();
    assert!(pids[1..].contains(&answered) && answered != victim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_replaces_every_worker_without_a_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let (proc, addr) = start_workers(dir.path());
    let before = ready_pids(&proc);
    let load = Load::start(addr, 4, false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    proc.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready_pids(&proc).len() < 4 {
        assert!(
            Instant::now() < deadline,
            "workers not replaced: {}",
            proc.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ok, failed) = load.finish().await;
    assert!(ok > 50, "load ran: {ok}");
    assert_eq!(failed, 0, "failed requests during SIGHUP ({ok} ok)");
    let after: HashSet<u32> = ready_pids(&proc)[2..].iter().copied().collect();
    assert!(
        before.iter().all(|pid| !after.contains(pid)),
        "every worker is new"
    );
    let mut answered = HashSet::new();
    for _ in 0..40 {
        let resp = common::request(addr, "GET", "/healthz", &[], b"").await;
        answered.insert(resp.answering_pid());
    }
    assert!(answered.is_subset(&after), "only new workers answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (mut proc, addr) = start_workers(dir.path());
    // A request in flight: its head is half sent when SIGTERM arrives.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /reviews/1?count=3 HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    proc.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream
        .write_all(b"Connection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"results\":["));
    let status = proc.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status}: {}", proc.stderr());
    assert!(proc.stderr().contains("all workers stopped"));
    assert!(
        common::request_fails(addr).await,
        "nothing listens after the stop"
    );
}
