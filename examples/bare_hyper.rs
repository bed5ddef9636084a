//! The benchmarks' yardsticks: a bare hyper 1.x server on the same tokio
//! runtime settings that answers every request with one fixed-size JSON
//! body — the least work a read path can do — optionally with the
//! service's own response head, and optionally fetching the body from
//! where that path's answer lives:
//!
//! ```text
//! bare_hyper ADDR BODY_BYTES [--head FILE] [--redis URL PRODUCTS | --lmdb DIR PRODUCTS]
//! ```
//!
//! - `--head FILE`: every answer carries the header lines of FILE (`name:
//!   value`, as `curl -D` prints a real answer of the service; `date`,
//!   `content-length`, `connection` and the status line are skipped:
//!   hyper writes its own), so the floor sends the same head as the
//!   service;
//! - `--redis URL PRODUCTS`: each answer is one `GET floor:<id>` on one
//!   multiplexed connection (`TCP_NODELAY`, as the service's), `<id>` the
//!   product of the request's path `/reviews/<id>…`; keys 1..=PRODUCTS
//!   are set at start to a body of BODY_BYTES;
//! - `--lmdb DIR PRODUCTS`: each answer is one LMDB read, in its own read
//!   transaction, of the body stored under the product (u64 big-endian) in
//!   an environment in DIR, filled at start if it holds fewer keys.
//!
//! A path without a product reads product 1.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Where a floor's body comes from.
enum Source {
    /// The same bytes every time.
    Fixed(Bytes),
    /// One Redis GET per answer.
    Redis(redis::aio::MultiplexedConnection),
    /// One LMDB read per answer.
    Lmdb(
        heed::Env,
        heed::Database<heed::types::Bytes, heed::types::Bytes>,
    ),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:3001".into());
    let size: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    // {"pad":"xxx…"} padded to exactly `size` bytes (at least the braces).
    let pad = size.saturating_sub(r#"{"pad":""}"#.len());
    let body = Bytes::from(format!(r#"{{"pad":"{}"}}"#, "x".repeat(pad)));
    let flag = |name: &str, n: usize| {
        let at = args.iter().position(|a| a == name)?;
        Some(args.get(at + 1..at + 1 + n).expect("flag values").to_vec())
    };
    let head = match flag("--head", 1) {
        Some(file) => head_of(&std::fs::read_to_string(&file[0])?),
        None => vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
    };
    let source = if let Some(v) = flag("--redis", 2) {
        Source::Redis(fill_redis(&v[0], v[1].parse()?, &body).await?)
    } else if let Some(v) = flag("--lmdb", 2) {
        let (env, db) = fill_lmdb(&v[0], v[1].parse()?, &body)?;
        Source::Lmdb(env, db)
    } else {
        Source::Fixed(body.clone())
    };
    let floor = Arc::new((head, source));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "bare hyper listening on http://{} ({} byte body)",
        listener.local_addr()?,
        body.len()
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let floor = Arc::clone(&floor);
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let floor = Arc::clone(&floor);
                async move {
                    let (head, source) = &*floor;
                    let body = match source {
                        Source::Fixed(body) => body.clone(),
                        Source::Redis(conn) => {
                            let key = format!("floor:{}", product(&req));
                            let value: Vec<u8> = redis::cmd("GET")
                                .arg(key)
                                .query_async(&mut conn.clone())
                                .await
                                .unwrap_or_default();
                            Bytes::from(value)
                        }
                        Source::Lmdb(env, db) => {
                            let txn = env.read_txn().expect("read txn");
                            let key = product(&req).to_be_bytes();
                            let value = db.get(&txn, &key[..]).ok().flatten().unwrap_or_default();
                            Bytes::copy_from_slice(value)
                        }
                    };
                    let mut reply = Response::new(Full::new(body));
                    for (name, value) in head {
                        reply.headers_mut().append(name.clone(), value.clone());
                    }
                    Ok::<_, Infallible>(reply)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The product of a `/reviews/<id>…` path; 1 for any other.
fn product<B>(req: &Request<B>) -> u64 {
    let rest = req.uri().path().strip_prefix("/reviews/").unwrap_or("");
    let digits = rest
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("");
    digits.parse().unwrap_or(1)
}

/// The header lines of a `curl -D` dump, without what hyper writes itself.
fn head_of(dump: &str) -> Vec<(HeaderName, HeaderValue)> {
    dump.lines()
        .filter_map(|line| line.split_once(':'))
        .filter_map(|(name, value)| {
            let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
            let skip = ["date", "content-length", "connection", "transfer-encoding"];
            if skip.contains(&name.as_str()) {
                return None;
            }
            Some((name, HeaderValue::from_str(value.trim()).ok()?))
        })
        .collect()
}

/// A multiplexed connection to `url` with keys `floor:1..=products` set to
/// `body`.
async fn fill_redis(
    url: &str,
    products: u64,
    body: &Bytes,
) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(reviews::redis_conn::connection_info(url)?)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut pipe = redis::pipe();
    for id in 1..=products {
        pipe.cmd("SET")
            .arg(format!("floor:{id}"))
            .arg(&body[..])
            .ignore();
        if id % 1000 == 0 || id == products {
            pipe.query_async::<()>(&mut conn).await?;
            pipe = redis::pipe();
        }
    }
    Ok(conn)
}

/// An environment in `dir` whose database `floor` maps products
/// 1..=`products` (u64 big-endian) to `body`, filled unless it already is.
fn fill_lmdb(
    dir: &str,
    products: u64,
    body: &Bytes,
) -> anyhow::Result<(
    heed::Env,
    heed::Database<heed::types::Bytes, heed::types::Bytes>,
)> {
    std::fs::create_dir_all(dir)?;
    // SAFETY: the environment is opened once, by this process alone.
    let env = unsafe {
        heed::EnvOpenOptions::new()
            .map_size(64 << 30)
            .max_dbs(1)
            .open(dir)?
    };
    let mut txn = env.write_txn()?;
    let db = env.create_database(&mut txn, Some("floor"))?;
    if db.len(&txn)? < products {
        db.clear(&mut txn)?;
        for id in 1..=products {
            db.put_with_flags(
                &mut txn,
                heed::PutFlags::APPEND,
                &id.to_be_bytes()[..],
                &body[..],
            )?;
        }
    }
    txn.commit()?;
    Ok((env, db))
}
