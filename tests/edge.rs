//! The edge under hostile clients, restarts and operator mistakes, tested
//! the way each was broken: keep-alive clients through SIGHUP and SIGTERM,
//! slow heads and bodies, connection floods, requests hyper cannot parse,
//! a low open-file limit, and what the logs say.

mod common;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{KeepAlive, Options, Proc, TestApp, parse_response, send_raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Keep-alive clients reading meta pages in a loop until stopped; each
/// response is checked for content. Counts answered requests, failed ones
/// (a socket closed or reset under a request, a wrong answer), and
/// connects refused once the server stopped listening (not a failure of a
/// sent request).
struct KeepAliveLoad {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<u64>>,
}

impl KeepAliveLoad {
    fn start(addr: SocketAddr, clients: usize) -> KeepAliveLoad {
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..clients as u64)
            .map(|c| {
                let (ok, failed, refused, stop) = (
                    Arc::clone(&ok),
                    Arc::clone(&failed),
                    Arc::clone(&refused),
                    Arc::clone(&stop),
                );
                tokio::spawn(async move {
                    let mut client = KeepAlive::new(addr);
                    let mut i = c;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let product = 1 + i % 50;
                        let was_open = client.is_open();
                        match client.get(&format!("/reviews/{product}/meta")).await {
                            Ok(resp)
                                if resp.status == 200 && resp.json()["product_id"] == product =>
                            {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e)
                                if !was_open
                                    && e.kind() == std::io::ErrorKind::ConnectionRefused =>
                            {
                                refused.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            other => {
                                eprintln!("client {c}: request {i} failed: {other:?}");
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    client.connects
                })
            })
            .collect();
        KeepAliveLoad {
            ok,
            failed,
            refused,
            stop,
            tasks,
        }
    }

    /// Stops the clients: (answered, failed, refused, connections opened).
    async fn finish(self) -> (u64, u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let mut connects = 0;
        for task in self.tasks {
            connects += task.await.unwrap();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            connects,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_under_keep_alive_load_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let (proc, addr) = Proc::serve(dir.path(), &["--workers", "2"]);
    let load = KeepAliveLoad::start(addr, 16);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..2 {
        proc.signal("HUP");
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    let (ok, failed, _, connects) = load.finish().await;
    assert_eq!(
        failed, 0,
        "failed requests across two SIGHUPs ({ok} answered)"
    );
    assert!(ok > 200, "the load ran: {ok} answered");
    assert!(
        connects > 16,
        "drained workers closed kept-alive connections with Connection: close \
         ({connects} connections opened)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_keep_alive_clients_then_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (mut proc, addr) = Proc::serve(dir.path(), &["--workers", "1"]);
    let load = KeepAliveLoad::start(addr, 16);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    proc.signal("TERM");
    let status = proc.wait_exit(Duration::from_secs(15));
    let (ok, failed, refused, _) = load.finish().await;
    assert!(status.success(), "exit 0 after the drain: {status}");
    assert_eq!(
        failed, 0,
        "no sent request was cut ({ok} answered, {refused} refused)"
    );
    assert!(ok > 50, "{ok}");
    assert!(common::request_fails(addr).await, "the port is closed");
}

#[tokio::test]
async fn slow_bodies_neither_count_in_flight_nor_stay_open() {
    let app = TestApp::start(Options {
        max_in_flight: 8,
        client_timeout_ms: 1000,
        ..Options::default()
    })
    .await;
    // Forty clients announce a 64 KiB review and send one byte of it.
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let head = "POST /reviews/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                    Content-Length: 65536\r\n\r\n{";
        stream.write_all(head.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let page = app.get("/reviews/1").await;
    assert_eq!(page.status, 200, "reads are served: {:?}", page.error());
    assert_eq!(app.get("/readyz").await.status, 200);
    // Past the client timeout each slow body gets a 408 and its connection closes.
    let started = Instant::now();
    for mut stream in slow {
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
            .await
            .expect("the server closes a slow body")
            .unwrap();
        let resp = parse_response(&out);
        assert_eq!(resp.status, 408);
        assert!(
            resp.error().contains("did not arrive within 1000 ms"),
            "{}",
            resp.error()
        );
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_head_dripped_byte_by_byte_is_closed_at_the_client_timeout() {
    let app = TestApp::start(Options {
        client_timeout_ms: 1000,
        ..Options::default()
    })
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET /reviews/1 HTTP/1.1\r\nHost: x\r\nX-Drip: ")
        .await
        .unwrap();
    let started = Instant::now();
    let closed = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stream.write_all(b"a").await.is_err() {
            break started.elapsed();
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await
        {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never closed");
    };
    assert!(
        closed >= Duration::from_millis(900),
        "closed after {closed:?}"
    );
    assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
}

#[tokio::test]
async fn an_idle_connection_flood_leaves_healthz_reachable() {
    let app = TestApp::start(Options {
        max_connections: 50,
        ..Options::default()
    })
    .await;
    let mut idle = Vec::new();
    for i in 0..120 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        if i % 2 == 0 {
            stream
                .write_all(b"GET /reviews/1 HTTP/1.1\r\n")
                .await
                .unwrap();
        }
        idle.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status, 200);
    let page = app.get("/reviews/2").await;
    assert_eq!(page.status, 200);
    let mut closed = 0;
    for stream in &mut idle {
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(20), stream.read(&mut probe)).await
        {
            closed += 1;
        }
    }
    assert!(
        closed >= 70,
        "the oldest idle connections made room: {closed} closed"
    );
}

/// Sends `raw` and returns the JSON error the server answered with.
async fn protocol_error(addr: SocketAddr, raw: &[u8], status: u16) -> String {
    let resp = send_raw(addr, raw).await;
    assert_eq!(
        resp.status,
        status,
        "{:?}",
        String::from_utf8_lossy(&raw[..60.min(raw.len())])
    );
    assert!(resp.header("x-request-id").is_some_and(|id| !id.is_empty()));
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    resp.error()
}

#[tokio::test]
async fn requests_hyper_cannot_parse_get_json_errors() {
    let app = TestApp::spawn().await;
    let addr = app.addr;
    let with =
        |line: &str, headers: &str| format!("{line}\r\nHost: x\r\n{headers}\r\n").into_bytes();
    let space = protocol_error(addr, &with("GET /reviews/1 2 HTTP/1.1", ""), 400).await;
    assert!(space.starts_with("malformed request"), "{space}");
    let mut utf8 = b"GET /reviews/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    assert!(
        protocol_error(addr, &utf8, 400)
            .await
            .starts_with("malformed")
    );
    utf8.clear();
    let long = format!("GET /reviews/1?q={} HTTP/1.1", "a".repeat(100_000));
    let err = protocol_error(addr, &with(&long, ""), 431).await;
    assert!(err.contains("too large"), "{err}");
    let many: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    let err = protocol_error(addr, &with("GET /reviews/1 HTTP/1.1", &many), 431).await;
    assert!(err.contains("100 headers"), "{err}");
    let huge = format!("X-Big: {}\r\n", "b".repeat(300_000));
    protocol_error(addr, &with("GET /reviews/1 HTTP/1.1", &huge), 431).await;
    let bad_length = with("POST /reviews/1 HTTP/1.1", "Content-Length: abc\r\n");
    assert!(
        protocol_error(addr, &bad_length, 400)
            .await
            .starts_with("malformed")
    );
    let both = with(
        "POST /reviews/1 HTTP/1.1",
        "Content-Length: 3\r\nTransfer-Encoding: gzip\r\n",
    );
    assert!(
        protocol_error(addr, &both, 400)
            .await
            .starts_with("malformed")
    );
    // The service is fine afterwards.
    assert_eq!(app.get("/reviews/1").await.status, 200);
}

#[tokio::test]
async fn the_open_file_soft_limit_is_raised_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_reviews"));
    common::process::without_service_env(&mut command)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--demo-records",
            "1000",
        ])
        .arg("--data-dir")
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .stderr(log);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            limit.rlim_cur = 256.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let limits_file = format!("/proc/{}/limits", child.id());
    let read_limits = || {
        let text = std::fs::read_to_string(&limits_file).unwrap_or_default();
        let line = text
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .map(str::to_string)
            .unwrap_or_default();
        let fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        (fields.get(3).cloned(), fields.get(4).cloned())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let (soft, hard) = loop {
        let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
        if stderr.contains("listening on") {
            break read_limits();
        }
        assert!(Instant::now() < deadline, "not listening: {stderr}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(soft.is_some(), "read the limits");
    assert_eq!(soft, hard, "the soft limit was raised to the hard one");
}

#[tokio::test]
async fn logs_are_plain_text_with_request_and_worker_ids() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut proc = Proc::start_with_log(
        env!("CARGO_BIN_EXE_reviews"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--demo-records",
            "1000",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        dir.path(),
        "info,reviews::access=info",
    );
    let addr = proc.wait_listening(Duration::from_secs(60));
    let answered = common::request(
        addr,
        "GET",
        "/reviews/3",
        &[("X-Request-Id", "trace-42")],
        b"",
    )
    .await;
    assert_eq!(answered.status, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let text = proc.stderr();
        if let Some(line) = text.lines().find(|l| l.contains("trace-42")) {
            break line.to_string();
        }
        assert!(Instant::now() < deadline, "no access line: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let text = proc.stderr();
    assert!(
        !text.contains('\u{1b}'),
        "no ANSI escapes in a log file: {text}"
    );
    assert!(line.contains("request_id=trace-42"), "{line}");
    assert!(!line.contains("Some("), "{line}");
    assert!(
        line.contains("worker=0") || line.contains("worker=1"),
        "{line}"
    );
}
