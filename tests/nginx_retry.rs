//! Retries through the real nginx with `deploy/nginx.conf`: a write whose
//! answer is slower than nginx's read timeout is never sent a second time
//! by nginx (a POST never was; a PUT was, before write safety), and the
//! client's own retry with the same `Idempotency-Key` gets the first answer
//! and writes nothing.
//!
//! Between nginx and the service sit two "slow links": TCP relays that,
//! while switched on, hold every byte of the service's answers for longer
//! than nginx waits. The request reaches the service and is written at
//! once; only its answer is late, as with a slow network or a store that
//! commits just after the proxy gave up.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Proc, Resp, request};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How late a slow link delivers an answer: past the test's nginx read
/// timeout (1 s).
const LATE: Duration = Duration::from_millis(2500);

/// A TCP relay to `upstream` that holds the upstream's bytes for [`LATE`]
/// while `slow` is set.
async fn slow_link(upstream: SocketAddr, slow: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let slow = Arc::clone(&slow);
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    let _ = server_write.shutdown().await;
                });
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if slow.load(Ordering::SeqCst) {
                        tokio::time::sleep(LATE).await;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// nginx with `deploy/nginx.conf`, its hosts replaced by `hosts`, listening
/// on a free loopback port, its read timeout cut to 1 s.
struct Nginx {
    child: Child,
    addr: SocketAddr,
}

impl Nginx {
    fn start(dir: &Path, hosts: &[SocketAddr]) -> Nginx {
        let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("this test needs nginx: apt-get install nginx");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let deploy = include_str!("../deploy/nginx.conf");
        let mut conf = String::new();
        // As root, nginx's workers would switch to `nobody`, who cannot
        // write the temp dir.
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            conf.push_str("user root;\n");
        }
        conf.push_str(&format!(
            "pid {0}/nginx.pid;\nerror_log {0}/error.log warn;\n",
            dir.display()
        ));
        let mut in_servers = false;
        for line in deploy.lines() {
            let trimmed = line.trim();
            if trimmed == "# BEGIN upstream servers" {
                in_servers = true;
                conf.push_str(line);
                conf.push('\n');
                for host in hosts {
                    conf.push_str(&format!("        server {host} max_fails=0;\n"));
                }
                continue;
            }
            if trimmed == "# END upstream servers" {
                in_servers = false;
            }
            if in_servers {
                continue;
            }
            let line = match trimmed {
                "listen 8080 reuseport;" => format!("        listen 127.0.0.1:{port};"),
                "proxy_read_timeout 3s;" => "            proxy_read_timeout 1s;".to_string(),
                "worker_processes auto;" => "worker_processes 1;".to_string(),
                // The test's own log, not the system's.
                t if t.starts_with("access_log /var/log/nginx/") => format!(
                    "    access_log {}/access.log{}",
                    dir.display(),
                    t.trim_start_matches("access_log /var/log/nginx/access.log")
                ),
                _ => line.to_string(),
            };
            conf.push_str(&line);
            conf.push('\n');
            if trimmed == "http {" {
                for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
                    conf.push_str(&format!("    {temp}_temp_path {}/{temp};\n", dir.display()));
                }
            }
        }
        assert!(
            conf.contains("proxy_read_timeout 1s"),
            "the read timeout is set"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { child, addr }
    }
}

impl Drop for Nginx {
    /// Stops nginx as an operator would: SIGTERM to the master, which stops
    /// its workers and exits (SIGKILL would leave the worker behind,
    /// listening, as an orphan); killed only if it does not exit.
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child this struct owns.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many requests of `route` the service answered with `status`.
async fn answered(service: SocketAddr, route: &str, status: u16) -> u64 {
    let metrics = request(service, "GET", "/metrics", &[], b"").await;
    let text = String::from_utf8(metrics.body).unwrap();
    let series = format!("reviews_http_requests_total{{route=\"{route}\",status=\"{status}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |n| n.parse().unwrap())
}

async fn meta_total(addr: SocketAddr, product: u64) -> u64 {
    let meta = request(addr, "GET", &format!("/reviews/{product}/meta"), &[], b"").await;
    meta.json()["total"].as_u64().unwrap()
}

fn replayed(resp: &Resp) -> bool {
    resp.header("idempotent-replayed") == Some("true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_times_out_behind_nginx_is_written_once_and_its_retry_gets_the_first_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (_service, service) = Proc::serve(dir.path(), &["--workers", "1"]);
    let slow = Arc::new(AtomicBool::new(false));
    let links = [
        slow_link(service, Arc::clone(&slow)).await,
        slow_link(service, Arc::clone(&slow)).await,
    ];
    let nginx_dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(nginx_dir.path(), &links);
    let proxy = nginx.addr;
    let product = 5;
    let before = meta_total(proxy, product).await;

    // A POST whose answer is late: nginx gives up after 1 s (504), the
    // review is written all the same, once.
    let body = json!({
        "rating": 5, "summary": "Arrived a day early",
        "body": "Packed well, works as described, and the battery lasts the whole weekend.",
        "recommend": true, "name": "Theo", "email": "theo@example.com",
        "characteristics": common::characteristics(product, 5)
    })
    .to_string();
    let key = ("Idempotency-Key", "nginx-post-7f3c");
    let headers = [("Content-Type", "application/json"), key];
    let path = format!("/reviews/{product}");
    slow.store(true, Ordering::SeqCst);
    let timed_out = request(proxy, "POST", &path, &headers, body.as_bytes()).await;
    assert_eq!(timed_out.status, 504, "nginx's read timeout");
    tokio::time::sleep(LATE).await;
    assert_eq!(answered(service, "post_review", 201).await, 1, "sent once");
    assert_eq!(meta_total(service, product).await, before + 1);

    // The client retries with the same key: the first answer, no new review.
    slow.store(false, Ordering::SeqCst);
    let retry = request(proxy, "POST", &path, &headers, body.as_bytes()).await;
    assert_eq!(retry.status, 201, "{retry:?}");
    assert!(replayed(&retry));
    let id = retry.json()["review_id"].as_u64().unwrap();
    let newest = request(
        service,
        "GET",
        &format!("/reviews/{product}?sort=newest&count=2"),
        &[],
        b"",
    )
    .await
    .json();
    assert_eq!(common::review_ids(&newest)[0], id, "the timed-out write");
    assert_ne!(
        newest["results"][1]["summary"], "Arrived a day early",
        "one copy only"
    );
    assert_eq!(meta_total(proxy, product).await, before + 1);

    // A PUT whose answer is late: nginx must not send it to the next host.
    let voted = common::review_ids(&newest)[1];
    let votes = |page: serde_json::Value| page["results"][1]["helpfulness"].as_u64().unwrap();
    let start = votes(newest);
    let vote_path = format!("/reviews/{voted}/helpful");
    let vote_key = [("Idempotency-Key", "nginx-vote-7f3c")];
    slow.store(true, Ordering::SeqCst);
    let timed_out = request(proxy, "PUT", &vote_path, &vote_key, b"").await;
    assert_eq!(timed_out.status, 504);
    // Time for any second attempt on the other host to land.
    tokio::time::sleep(LATE * 2).await;
    assert_eq!(
        answered(service, "helpful", 204).await,
        1,
        "nginx sent the timed-out PUT to another host"
    );
    slow.store(false, Ordering::SeqCst);
    let retry = request(proxy, "PUT", &vote_path, &vote_key, b"").await;
    assert_eq!(retry.status, 204);
    assert!(replayed(&retry));
    let page = request(
        service,
        "GET",
        &format!("/reviews/{product}?sort=newest&count=2"),
        &[],
        b"",
    )
    .await
    .json();
    assert_eq!(votes(page), start + 1, "the vote counted once");
    drop(nginx);
}
