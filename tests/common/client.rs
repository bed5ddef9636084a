//! A raw HTTP/1.1 client: requests written by hand, responses parsed by
//! hand, so tests see exactly what went over the wire.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response as the client saw it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The body parsed as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The pid of the process that answered: request ids it assigns start
    /// with its pid in hex followed by five hex digits.
    pub fn answering_pid(&self) -> u32 {
        let id = self.header("x-request-id").expect("request id");
        let prefix = &id[..id.find('-').expect("assigned id")];
        u32::from_str_radix(&prefix[..prefix.len() - 5], 16).expect("hex pid")
    }

    /// The `error` message of a JSON error body, after checking its form.
    pub fn error(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        let json = self.json();
        let obj = json.as_object().expect("error body is an object");
        assert_eq!(obj.len(), 1, "error body has only `error`: {json}");
        obj["error"]
            .as_str()
            .expect("error is a string")
            .to_string()
    }
}

/// One helpful vote on each review of `reviews`, sent to `hosts` in turn,
/// each on a fresh connection: the statuses, in order (what one client's
/// votes spread over hosts behind a balancer meet).
pub async fn helpful_votes(hosts: &[SocketAddr], reviews: std::ops::Range<u64>) -> Vec<u16> {
    let mut statuses = Vec::new();
    for (n, review) in reviews.enumerate() {
        let host = hosts[n % hosts.len()];
        let path = format!("/reviews/{review}/helpful");
        statuses.push(request(host, "PUT", &path, &[], b"").await.status);
    }
    statuses
}

/// Each of `hosts` limits on its own (its shared limits store is gone):
/// one client's votes on `reviews` sent to each host alone are answered
/// 204 for the host's `burst` and 429 after, none failing.
pub async fn assert_each_host_limits_alone(
    hosts: &[SocketAddr],
    burst: usize,
    reviews: std::ops::Range<u64>,
) {
    for host in hosts {
        let statuses = helpful_votes(&[*host], reviews.clone()).await;
        let allowed = statuses.iter().filter(|&&s| s == 204).count();
        println!(
            "host {host} alone (burst {burst}): {allowed} allowed of {}",
            statuses.len()
        );
        assert!(
            statuses.iter().all(|s| [204, 429].contains(s)),
            "{statuses:?}"
        );
        assert_eq!(allowed, burst, "host {host}: {statuses:?}");
    }
}

/// The store's background reads in a `/metrics` text, by (read, worker):
/// `reviews_store_background_reads_total{read="change_log",worker="2"} 9`
/// is `("change_log", "2") → 9` (worker `""` for a process alone).
pub fn background_reads(metrics: &str) -> std::collections::BTreeMap<(String, String), u64> {
    background("reviews_store_background_reads_total", metrics)
}

/// The documents those background reads fetched, by (read, worker), from
/// `reviews_store_background_documents_total`.
pub fn background_documents(metrics: &str) -> std::collections::BTreeMap<(String, String), u64> {
    background("reviews_store_background_documents_total", metrics)
}

/// The series of `family` in a `/metrics` text, by (read, worker).
fn background(family: &str, metrics: &str) -> std::collections::BTreeMap<(String, String), u64> {
    metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(family)?.strip_prefix('{')?;
            let (labels, value) = rest.split_once("} ")?;
            let label = |name: &str| {
                labels
                    .split(',')
                    .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
                    .map(|v| v.trim_end_matches('"').to_string())
                    .unwrap_or_default()
            };
            Some(((label("read"), label("worker")), value.parse().ok()?))
        })
        .collect()
}

/// Sends one HTTP/1.1 request with `Connection: close` and reads the whole response.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    send_raw(addr, &encode(addr, method, path, &all, body)).await
}

/// The bytes of one request: the head (with `Host`, and `Content-Length`
/// on writes) and the body.
fn encode(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// Writes `raw` bytes to a fresh connection and parses what comes back.
pub async fn send_raw(addr: SocketAddr, raw: &[u8]) -> Resp {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw).await.expect("write request");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("response within 10 s")
        .expect("read response");
    parse_response(&out)
}

/// Parses a whole response (head and body) as read off the wire.
pub fn parse_response(out: &[u8]) -> Resp {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(out)));
    let head = std::str::from_utf8(&out[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: out[split + 4..].to_vec(),
    }
}

/// Whether connecting to `addr` now fails (nothing listens).
pub async fn request_fails(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_err()
}

/// One kept-alive HTTP/1.1 connection, used the way a client library uses
/// it: requests go one after another on the same socket; when the server
/// says `Connection: close`, the next request opens a new one. A request
/// that meets a closed or reset socket before its response is a failure,
/// as it would be for the user.
pub struct KeepAlive {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// Connections this client opened.
    pub connects: u64,
}

impl KeepAlive {
    /// A client for `addr`; connects on the first request.
    pub fn new(addr: SocketAddr) -> KeepAlive {
        KeepAlive {
            addr,
            stream: None,
            buf: Vec::new(),
            connects: 0,
        }
    }

    /// Whether the client holds an open connection.
    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// Sends `GET path` and reads its response.
    pub async fn get(&mut self, path: &str) -> std::io::Result<Resp> {
        self.send("GET", path, &[], b"").await
    }

    /// Sends one request on the open connection (opening one if none is)
    /// and reads its whole response.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Resp> {
        if self.stream.is_none() {
            self.stream = Some(TcpStream::connect(self.addr).await?);
            self.buf.clear();
            self.connects += 1;
        }
        let raw = encode(self.addr, method, path, headers, body);
        let result = tokio::time::timeout(Duration::from_secs(10), self.exchange(&raw, method))
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()));
        match &result {
            Ok(resp)
                if !resp
                    .header("connection")
                    .is_some_and(|c| c.eq_ignore_ascii_case("close")) => {}
            _ => self.stream = None,
        }
        result
    }

    async fn exchange(&mut self, raw: &[u8], method: &str) -> std::io::Result<Resp> {
        let stream = self.stream.as_mut().expect("connected");
        stream.write_all(raw).await?;
        let eof = || {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the response",
            )
        };
        let head_end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(eof());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = parse_response(&self.buf[..head_end]);
        let bodiless = method == "HEAD" || matches!(head.status, 204 | 304) || head.status < 200;
        let length: usize = if bodiless {
            0
        } else {
            head.header("content-length")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| std::io::Error::other("response without Content-Length"))?
        };
        while self.buf.len() < head_end + length {
            let mut chunk = [0u8; 16 * 1024];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(eof());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        Ok(Resp { body, ..head })
    }
}

/// One keep-alive connection to each of `n` workers of the port at `addr`, by pid.
pub async fn one_connection_per_worker(
    addr: SocketAddr,
    n: usize,
) -> std::collections::HashMap<u32, KeepAlive> {
    let mut clients = std::collections::HashMap::new();
    for _ in 0..400 {
        if clients.len() == n {
            return clients;
        }
        let mut client = KeepAlive::new(addr);
        let pid = client.get("/healthz").await.unwrap().answering_pid();
        clients.entry(pid).or_insert(client);
    }
    panic!("reached {} of {n} workers", clients.len());
}

/// The `total` of `product`'s meta as `client`'s worker serves it, and
/// where the answer came from.
pub async fn meta_total(client: &mut KeepAlive, product: u64) -> (u64, String) {
    let resp = client
        .get(&format!("/reviews/{product}/meta"))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let cache = resp.header("x-cache").unwrap_or_default().to_string();
    (resp.json()["total"].as_u64().unwrap(), cache)
}
