//! The load of `scripts/redis-failover.sh`: keep-alive clients reading
//! random products' views (meta and first page, in turn) for a while,
//! each read recorded with when it was sent, its status and `X-Cache`, and
//! how long it took; then the reads cut into the windows of a failover:
//!
//! ```text
//! failover_load ADDR PRODUCTS CONNECTIONS SECONDS [MARKS]
//! failover_load ADDR PRODUCTS CONNECTIONS every
//! ```
//!
//! `every` reads each view once (a warm-up that leaves every view cached).
//!
//! MARKS is a file of `name unix_microseconds` lines written while the load
//! ran: `kill` (a master was killed), `fail` (the cluster marked it
//! failed), `promoted` (its replica took its slots). With it, a Markdown
//! table of the windows before, kill → fail, fail → promoted, after, and
//! the 3 s after the kill: reads a second (and their ratio to before), the
//! MISS share, the p99, and the reads that failed (not a 200, or no
//! answer). Without it, one line over the whole run (a warm-up).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One read.
struct Read {
    /// Sent at, in µs since the Unix epoch.
    at: u64,
    /// The status, 0 when no answer came.
    status: u16,
    miss: bool,
    took_us: u64,
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_micros() as u64
}

/// What a client reads.
#[derive(Clone, Copy)]
enum Plan {
    /// Random views until this time (µs since the epoch).
    Until(u64),
    /// Every view of the products `p` with `p % of == share`, once.
    Share { share: u64, of: u64 },
}

/// One keep-alive connection's reads of `plan`.
async fn client(addr: String, products: u64, plan: Plan) -> Vec<Read> {
    let mut reads = Vec::with_capacity(1 << 16);
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut turn = 0u64;
    loop {
        let product = match plan {
            Plan::Until(until) if unix_us() < until => fastrand::u64(1..=products),
            Plan::Share { share, of } if turn / 2 * of + share < products => {
                turn / 2 * of + share + 1
            }
            _ => break,
        };
        turn += 1;
        let path = if turn.is_multiple_of(2) {
            format!("/reviews/{product}/meta")
        } else {
            format!("/reviews/{product}")
        };
        let at = unix_us();
        if stream.is_none() {
            stream = TcpStream::connect(&addr).await.ok();
            if let Some(s) = &stream {
                let _ = s.set_nodelay(true);
            }
            buf.clear();
        }
        let answer = match stream.as_mut() {
            Some(s) => exchange(s, &path, &mut buf).await,
            None => None,
        };
        let (status, miss) = answer.unwrap_or_else(|| {
            stream = None;
            (0, false)
        });
        reads.push(Read {
            at,
            status,
            miss,
            took_us: unix_us() - at,
        });
        if status == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    reads
}

/// Sends `GET path` and reads the answer: its status and whether it was a
/// MISS; `None` when the connection failed.
async fn exchange(stream: &mut TcpStream, path: &str, buf: &mut Vec<u8>) -> Option<(u16, bool)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: failover\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.get(9..12)?.parse().ok()?;
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let length: usize = header("content-length:")?.parse().ok()?;
    let miss = header("x-cache:").as_deref() == Some("miss");
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..head_end + length);
    if header("connection:").as_deref() == Some("close") {
        return None;
    }
    Some((status, miss))
}

/// One window's figures.
struct Figures {
    seconds: f64,
    rate: f64,
    miss: f64,
    p99_ms: f64,
    failed: usize,
}

fn figures(reads: &[Read], from: u64, to: u64) -> Figures {
    let mut took: Vec<u64> = Vec::new();
    let (mut misses, mut failed) = (0usize, 0usize);
    for read in reads.iter().filter(|r| r.at >= from && r.at < to) {
        took.push(read.took_us);
        misses += usize::from(read.miss);
        failed += usize::from(read.status != 200);
    }
    took.sort_unstable();
    let seconds = to.saturating_sub(from) as f64 / 1e6;
    let p99 = took
        .get((took.len() * 99 / 100).min(took.len().saturating_sub(1)))
        .copied();
    Figures {
        seconds,
        rate: took.len() as f64 / seconds.max(1e-9),
        miss: misses as f64 / took.len().max(1) as f64,
        p99_ms: p99.unwrap_or(0) as f64 / 1e3,
        failed,
    }
}

/// `name → µs` from the marks file.
fn marks(path: &str) -> std::collections::HashMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (name, at) = l.split_once(' ')?;
            Some((name.to_string(), at.trim().parse().ok()?))
        })
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, products, connections, seconds, rest @ ..] = args.as_slice() else {
        eprintln!("usage: failover_load ADDR PRODUCTS CONNECTIONS SECONDS [MARKS]");
        std::process::exit(2);
    };
    let products: u64 = products.parse().expect("PRODUCTS");
    let connections: usize = connections.parse().expect("CONNECTIONS");
    let every = seconds == "every";
    let seconds: f64 = if every {
        0.0
    } else {
        seconds.parse().expect("SECONDS")
    };
    let start = unix_us();
    let end = start + (seconds * 1e6) as u64;
    let tasks: Vec<_> = (0..connections as u64)
        .map(|share| {
            let plan = match every {
                true => Plan::Share {
                    share,
                    of: connections as u64,
                },
                false => Plan::Until(end),
            };
            tokio::spawn(client(addr.clone(), products, plan))
        })
        .collect();
    let mut reads = Vec::new();
    for task in tasks {
        reads.extend(task.await.expect("a client"));
    }
    let end = end.max(unix_us());
    let Some(path) = rest.first() else {
        let all = figures(&reads, start, end);
        println!(
            "{} reads in {:.1} s: {:.0} reads/s, MISS {:.1}%, p99 {:.2} ms, failed {}",
            reads.len(),
            all.seconds,
            all.rate,
            100.0 * all.miss,
            all.p99_ms,
            all.failed
        );
        return;
    };
    let marks = marks(path);
    let mark = |name: &str| {
        *marks
            .get(name)
            .unwrap_or_else(|| panic!("no `{name}` in {path}"))
    };
    let (kill, fail, promoted) = (mark("kill"), mark("fail"), mark("promoted"));
    // The first second is the clients' own warm-up.
    let before = figures(&reads, start + 1_000_000, kill);
    let windows = [
        ("before", start + 1_000_000, kill),
        ("kill → fail", kill, fail),
        ("fail → promoted", fail, promoted),
        ("after", promoted, end),
        ("3 s after the kill", kill, kill + 3_000_000),
    ];
    println!("| window | s | reads/s | of before | MISS | p99 ms | failed |");
    println!("|---|---|---|---|---|---|---|");
    for (name, from, to) in windows {
        let f = figures(&reads, from, to.min(end));
        println!(
            "| {name} | {:.2} | {:.0} | {:.2} | {:.1}% | {:.2} | {} |",
            f.seconds,
            f.rate,
            f.rate / before.rate.max(1e-9),
            100.0 * f.miss,
            f.p99_ms,
            f.failed
        );
    }
}
