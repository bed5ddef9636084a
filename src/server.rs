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
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::http::App;
use crate::store::Store;

/// A connection whose client sent nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often each connection's watchdog looks.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and waits up to `drain` for open requests to finish.
pub async fn run<S: Store>(
    listener: TcpListener,
    app: Arc<App<S>>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    let builder = http1::Builder::new();
    let epoch = Instant::now();
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
        let last_read = Arc::new(AtomicU64::new(millis_since(epoch)));
        let stream = Tracked {
            inner: stream,
            last_read: Arc::clone(&last_read),
            epoch,
        };
        let app = Arc::clone(&app);
        let service = service_fn(move |req| {
            let app = Arc::clone(&app);
            async move { Ok::<_, Infallible>(app.handle(req).await) }
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            tokio::pin!(conn);
            let mut watchdog = tokio::time::interval(IDLE_CHECK);
            loop {
                tokio::select! {
                    ended = &mut conn => {
                        if let Err(e) = ended {
                            tracing::debug!("connection ended: {e}");
                        }
                        return;
                    }
                    _ = watchdog.tick() => {
                        let idle = millis_since(epoch) - last_read.load(Ordering::Relaxed);
                        if idle >= IDLE_TIMEOUT.as_millis() as u64 {
                            tracing::debug!("closing a connection idle for {idle} ms");
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    tracing::info!("draining open connections");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain timed out after {drain:?}; closing remaining connections");
    }
}

fn millis_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

/// A TCP stream that notes when its client last sent bytes.
struct Tracked {
    inner: TcpStream,
    last_read: Arc<AtomicU64>,
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
            self.last_read
                .store(millis_since(self.epoch), Ordering::Relaxed);
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
