//! The accept loop: one hyper HTTP/1.1 connection task per client, with
//! keep-alive, an idle timeout, and a graceful stop that lets in-flight
//! requests finish.
//!
//! Idle connections are closed by a per-connection watchdog that looks at
//! when the client last sent bytes, every few seconds. That costs one timer
//! per connection instead of hyper's header-read timer per request, which on
//! the L1-hit path cost ~15% of throughput. A client that stops sending (an
//! idle keep-alive connection, or a request head left half-sent) is dropped
//! after [`IDLE_TIMEOUT`]; a client dripping bytes slowly is the job of the
//! reverse proxy in front (`deploy/nginx.conf` buffers request heads).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::http::Edge;
use crate::service::Store;

/// A connection whose client sent nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often each connection's watchdog looks.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// While draining, how long a connection that has sent nothing yet may take
/// to send its first request.
pub const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// Serves `edge` on `listener` until `shutdown` resolves, then stops
/// accepting and waits up to `drain` for open requests to finish.
///
/// Draining: a connection with a request in progress finishes it, then
/// closes; an idle keep-alive connection closes at once; a connection
/// accepted but whose first bytes have not been read yet is given
/// [`FIRST_REQUEST_GRACE`] to send its request (which is then served), so a
/// request that raced the stop signal is not dropped.
pub async fn run<S: Store>(
    listener: TcpListener,
    edge: Arc<Edge<S>>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let builder = http1::Builder::new();
    let epoch = Instant::now();
    // Connection tasks watch `stopping`, and each holds a clone of `open`:
    // when every clone is dropped, the drain is over.
    let (stop, stopping) = watch::channel(false);
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
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
        let activity = Arc::new(Activity {
            last_read: AtomicU64::new(millis_since(epoch)),
            any_read: AtomicBool::new(false),
        });
        let stream = Tracked {
            inner: stream,
            activity: Arc::clone(&activity),
            epoch,
        };
        let edge = Arc::clone(&edge);
        let service = service_fn(move |req| {
            let edge = Arc::clone(&edge);
            async move { Ok::<_, Infallible>(edge.handle(req).await) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let (stopping, open) = (stopping.clone(), open.clone());
        tokio::spawn(async move {
            serve_connection(conn, activity, epoch, stopping).await;
            drop(open);
        });
    }
    drop(listener);
    tracing::info!("draining open connections");
    let _ = stop.send(true);
    drop(open);
    if tokio::time::timeout(drain, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!("drain timed out after {drain:?}; closing remaining connections");
    }
}

/// Drives one connection to its end: closes it when idle too long, and
/// shuts it down gracefully when the server stops.
async fn serve_connection<F>(
    conn: http1::Connection<TokioIo<Tracked>, F>,
    activity: Arc<Activity>,
    epoch: Instant,
    mut stopping: watch::Receiver<bool>,
) where
    F: hyper::service::HttpService<hyper::body::Incoming>,
    F::ResBody: 'static,
    <F::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(conn);
    let mut watchdog = tokio::time::interval(IDLE_CHECK);
    let mut stop_at: Option<Instant> = None;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            _ = stopping.changed(), if stop_at.is_none() => {
                stop_at = Some(Instant::now());
                if activity.any_read.load(Ordering::Relaxed) {
                    conn.as_mut().graceful_shutdown();
                } else {
                    watchdog = tokio::time::interval(Duration::from_millis(10));
                }
            }
            _ = watchdog.tick() => {
                if let Some(since) = stop_at {
                    if activity.any_read.load(Ordering::Relaxed) {
                        conn.as_mut().graceful_shutdown();
                        watchdog = tokio::time::interval(IDLE_CHECK);
                    } else if since.elapsed() >= FIRST_REQUEST_GRACE {
                        return;
                    }
                    continue;
                }
                let idle = millis_since(epoch) - activity.last_read.load(Ordering::Relaxed);
                if idle >= IDLE_TIMEOUT.as_millis() as u64 {
                    tracing::debug!("closing a connection idle for {idle} ms");
                    return;
                }
            }
        }
    }
}

fn millis_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

/// What a connection's client has sent, as its tasks need to know.
struct Activity {
    /// Milliseconds since the server's epoch when bytes last arrived.
    last_read: AtomicU64,
    /// Whether any byte arrived yet.
    any_read: AtomicBool,
}

/// A TCP stream that notes when its client sends bytes.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
    epoch: Instant,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity
                .last_read
                .store(millis_since(self.epoch), Ordering::Relaxed);
            self.activity.any_read.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
