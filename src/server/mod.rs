//! The accept loop of one process: one hyper HTTP/1.1 connection task per
//! client, with keep-alive, deadlines for slow clients, a bound on open
//! connections, and a drain that answers kept-alive clients instead of
//! cutting them.
//!
//! - **Idle**: a connection whose client sent nothing for [`IDLE_TIMEOUT`]
//!   is closed. One watchdog per connection looks every few seconds (a
//!   per-request timer cost ~15% of throughput on the L1-hit path).
//! - **Slow clients**: a request head must arrive whole within the client
//!   timeout, counted from its first byte — also for a head whose first
//!   bytes came behind an earlier request ([`conn`]) — (a client dripping
//!   bytes is closed), and a body too (the edge answers 408). A request is not counted in flight, nor shed, while
//!   its body is still arriving.
//! - **Connection bound**: at most `max_connections` per process. Past it,
//!   the connection idle the longest (no request being answered: an idle
//!   keep-alive or a half-sent head) is closed to make room, so `/healthz`
//!   stays reachable under a flood of idle sockets; when every connection
//!   is busy, the newcomer gets a JSON 503 and is closed. The read buffer
//!   is capped at [`MAX_HEAD_BYTES`], so a head larger than that is a 431 and a
//!   thousand half-sent heads cost megabytes, not hundreds of them.
//! - **Drain** (SIGTERM, or a SIGHUP replacing this worker): the listener
//!   closes at once; each open connection answers its next request (or the
//!   one in progress) with `Connection: close` and then closes; one that
//!   sends nothing within [`DRAIN_IDLE_GRACE`] is closed. A client sending
//!   on an idle keep-alive connection at the very moment it closes can
//!   still meet the close — the race every HTTP server has; clients retry
//!   such requests on a new connection.

pub mod conn;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};

use self::conn::{Activity, BodyEnd, ProtocolError, Tracked};
use crate::http::client::Peer;
use crate::http::{Edge, MAX_HEAD_BYTES};
use crate::service::Store;

/// A connection whose client sent nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often each connection's watchdog looks.
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// While draining, how long an open connection with nothing in progress
/// may take to send its next request (answered with `Connection: close`).
pub const DRAIN_IDLE_GRACE: Duration = Duration::from_secs(1);

/// How one process treats its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long a request head, or a body, may take to arrive.
    pub client_timeout: Duration,
    /// How long a drain waits for open requests.
    pub drain: Duration,
}

/// An open connection, as the accept loop sees it.
struct Open {
    activity: Arc<Activity>,
    /// Told when the connection must close to make room.
    evict: Arc<Notify>,
}

/// Serves `edge` on `listener` until `shutdown` resolves, then stops
/// accepting and drains open connections, at most `limits.drain`.
pub async fn run<S: Store>(
    listener: TcpListener,
    edge: Arc<Edge<S>>,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
) {
    let mut builder = http1::Builder::new();
    builder.max_buf_size(MAX_HEAD_BYTES);
    let epoch = crate::clock::coarse_monotonic_ms();
    // Connection tasks watch `stopping`, and each holds a clone of `open`:
    // when every clone is dropped, the drain is over.
    let (stop, stopping) = watch::channel(false);
    let (open_tx, mut all_closed) = mpsc::channel::<()>(1);
    let open: Arc<Mutex<HashMap<u64, Open>>> = Arc::default();
    let protocol_error: ProtocolError = {
        let edge = Arc::clone(&edge);
        Arc::new(move |status| edge.protocol_error(status))
    };
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        if !make_room(&open, limits.max_connections) {
            tokio::spawn(refuse(stream, edge.protocol_error(503)));
            continue;
        }
        next_id += 1;
        let id = next_id;
        let activity = Arc::new(Activity::new(epoch));
        let evict = Arc::new(Notify::new());
        open.lock().expect("connections lock").insert(
            id,
            Open {
                activity: Arc::clone(&activity),
                evict: Arc::clone(&evict),
            },
        );
        let io = Tracked::new(stream, Arc::clone(&activity), Arc::clone(&protocol_error));
        let service = {
            let (edge, activity) = (Arc::clone(&edge), Arc::clone(&activity));
            service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (edge, activity) = (Arc::clone(&edge), Arc::clone(&activity));
                async move {
                    let guard = activity.start_request();
                    let req = req.map(|body| BodyEnd::new(body, &activity));
                    // Who is at the other end: the edge needs it to know
                    // the client (passed along, not as an extension: that
                    // would allocate a map per request).
                    let mut reply = edge.handle(req, Peer(peer)).await;
                    if activity.draining() {
                        reply
                            .headers_mut()
                            .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    }
                    guard.produced();
                    Ok::<_, Infallible>(reply)
                }
            })
        };
        let conn = builder.serve_connection(TokioIo::new(io), service);
        let (stopping, open_tx, open) = (stopping.clone(), open_tx.clone(), Arc::clone(&open));
        tokio::spawn(async move {
            serve_connection(conn, activity, evict, stopping, limits).await;
            open.lock().expect("connections lock").remove(&id);
            drop(open_tx);
        });
    }
    drop(listener);
    tracing::info!("draining open connections");
    let _ = stop.send(true);
    drop(open_tx);
    if tokio::time::timeout(limits.drain, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!(
            "drain timed out after {:?}; closing remaining connections",
            limits.drain
        );
    }
}

/// Makes room for one more connection under `max`: closes the connection
/// idle the longest if none is free. False when every one is busy.
fn make_room(open: &Mutex<HashMap<u64, Open>>, max: usize) -> bool {
    let mut open = open.lock().expect("connections lock");
    if open.len() < max {
        return true;
    }
    let victim = open
        .iter()
        .filter(|(_, c)| !c.activity.busy())
        .max_by_key(|(_, c)| c.activity.idle_ms())
        .map(|(&id, _)| id);
    match victim.and_then(|id| open.remove(&id)) {
        Some(victim) => {
            victim.evict.notify_one();
            true
        }
        None => false,
    }
}

/// Answers a connection there is no room for with `reply` and closes it.
async fn refuse(mut stream: TcpStream, reply: Vec<u8>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&reply).await?;
        stream.shutdown().await?;
        // Read what the client sent, so closing does not reset the reply.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Drives one connection to its end: closes it when idle too long, when a
/// head or its client is too slow, when evicted, or once drained.
async fn serve_connection<F>(
    conn: http1::Connection<TokioIo<Tracked>, F>,
    activity: Arc<Activity>,
    evict: Arc<Notify>,
    mut stopping: watch::Receiver<bool>,
    limits: Limits,
) where
    F: hyper::service::HttpService<hyper::body::Incoming>,
    F::ResBody: 'static,
    <F::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(conn);
    let mut watchdog = tokio::time::interval(IDLE_CHECK);
    let mut stop_at: Option<Instant> = None;
    let head_timeout = limits.client_timeout.as_millis() as u64;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            () = evict.notified() => {
                tracing::debug!("closing an idle connection to make room");
                return;
            }
            _ = stopping.changed(), if stop_at.is_none() => {
                stop_at = Some(Instant::now());
                activity.drain();
                watchdog = tokio::time::interval(Duration::from_millis(20));
            }
            _ = watchdog.tick() => {
                if let Some(since) = stop_at {
                    if !activity.busy() && since.elapsed() >= DRAIN_IDLE_GRACE {
                        return;
                    }
                    continue;
                }
                if activity.head_pending_ms().is_some_and(|ms| ms >= head_timeout) {
                    tracing::debug!("closing a connection whose request head is too slow");
                    return;
                }
                if !activity.busy() && activity.idle_ms() >= IDLE_TIMEOUT.as_millis() as u64 {
                    tracing::debug!("closing an idle connection");
                    return;
                }
            }
        }
    }
}
