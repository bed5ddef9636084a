//! What one connection's tasks share about it: when its client last sent
//! bytes, whether a request head is pending or a request is being answered,
//! and whether the server is draining; and the stream wrapper that keeps
//! that up to date and turns hyper's own bodiless error replies into the
//! service's JSON errors.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::clock;

/// Builds the raw bytes of a JSON error reply for a status hyper answered
/// on its own (a request it could not parse).
pub type ProtocolError = Arc<dyn Fn(u16) -> Vec<u8> + Send + Sync>;

/// The state of one connection, shared by its reader, its requests and its
/// watchdog.
pub struct Activity {
    /// [`clock::coarse_monotonic_ms`] when the server started.
    epoch: u64,
    /// Milliseconds since the epoch when bytes last arrived.
    last_read: AtomicU64,
    /// Milliseconds since the epoch (plus one; 0 = none) when the first
    /// bytes of a request head arrived that has not been answered yet.
    head_since: AtomicU64,
    /// Requests being answered now (a pipelining client may have several).
    in_request: AtomicU32,
    /// Replies the service produced (each writes one response head).
    produced: AtomicU64,
    /// Response heads (status 2xx..5xx) seen going out.
    heads_written: AtomicU64,
    /// The server is draining: the next reply carries `Connection: close`.
    draining: AtomicBool,
}

impl Activity {
    /// A connection accepted now.
    pub fn new(epoch: u64) -> Activity {
        let activity = Activity {
            epoch,
            last_read: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            in_request: AtomicU32::new(0),
            produced: AtomicU64::new(0),
            heads_written: AtomicU64::new(0),
            draining: AtomicBool::new(false),
        };
        activity.last_read.store(activity.now(), Ordering::Relaxed);
        activity
    }

    /// Milliseconds since the server's epoch, on the coarse clock (read
    /// on every read from the socket).
    pub fn now(&self) -> u64 {
        clock::coarse_monotonic_ms().saturating_sub(self.epoch)
    }

    /// Milliseconds since the client last sent bytes.
    pub fn idle_ms(&self) -> u64 {
        self.now()
            .saturating_sub(self.last_read.load(Ordering::Relaxed))
    }

    /// Milliseconds a request head has been arriving; `None` when none is.
    pub fn head_pending_ms(&self) -> Option<u64> {
        match self.head_since.load(Ordering::Relaxed) {
            0 => None,
            since => Some(self.now().saturating_sub(since - 1)),
        }
    }

    /// Whether a request is being answered.
    pub fn busy(&self) -> bool {
        self.in_request.load(Ordering::Relaxed) > 0
    }

    /// Marks the connection as draining.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether replies must close the connection.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// A request's head arrived and its answer starts; the guard ends it.
    pub fn start_request(self: &Arc<Self>) -> RequestGuard {
        self.head_since.store(0, Ordering::Relaxed);
        self.in_request.fetch_add(1, Ordering::Relaxed);
        RequestGuard {
            activity: Arc::clone(self),
            produced: false,
        }
    }
}

/// Counts a request out when it ends, answered or cancelled.
pub struct RequestGuard {
    activity: Arc<Activity>,
    produced: bool,
}

impl RequestGuard {
    /// The service produced the request's reply.
    pub fn produced(mut self) {
        self.produced = true;
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if self.produced {
            self.activity.produced.fetch_add(1, Ordering::Relaxed);
        }
        self.activity.in_request.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream that records its client's activity, and swaps a reply
/// hyper writes on its own (400, 414, 431 for a request it could not
/// parse: empty bodies) for the service's JSON error.
pub struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
    protocol_error: ProtocolError,
    /// The JSON reply being written in place of hyper's, and how far.
    replacement: Option<(Vec<u8>, usize)>,
}

impl Tracked {
    /// Wraps an accepted stream.
    pub fn new(inner: TcpStream, activity: Arc<Activity>, protocol_error: ProtocolError) -> Self {
        Tracked {
            inner,
            activity,
            protocol_error,
            replacement: None,
        }
    }

    /// Looks at the start of an outgoing write: a response head the
    /// service did not produce is hyper's own error reply, to be replaced.
    fn inspect(&mut self, start: &[u8]) {
        let Some(status) = response_status(start) else {
            return;
        };
        if status < 200 {
            return; // 100 Continue: hyper's, and not an error
        }
        let activity = &self.activity;
        let written = activity.heads_written.fetch_add(1, Ordering::Relaxed);
        let ours = written < activity.produced.load(Ordering::Relaxed);
        if !ours && status >= 400 {
            self.replacement = Some(((self.protocol_error)(status), 0));
        }
    }

    /// Writes what is left of the replacement; ready when all is out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while let Some((bytes, at)) = &mut self.replacement {
            if *at == bytes.len() {
                break;
            }
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*at..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *at += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// The status of a response head starting `bytes` (`HTTP/1.x NNN `).
fn response_status(bytes: &[u8]) -> Option<u16> {
    let rest = bytes.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    std::str::from_utf8(code).ok()?.parse().ok()
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
            let activity = &self.activity;
            let now = activity.now();
            activity.last_read.store(now, Ordering::Relaxed);
            if !activity.busy() && activity.head_since.load(Ordering::Relaxed) == 0 {
                activity.head_since.store(now + 1, Ordering::Relaxed);
            }
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
        if self.replacement.is_none() {
            self.inspect(buf);
        }
        if self.replacement.is_some() {
            std::task::ready!(self.poll_replacement(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.replacement.is_none()
            && let Some(first) = bufs.iter().find(|b| !b.is_empty())
        {
            self.inspect(first);
        }
        if self.replacement.is_some() {
            std::task::ready!(self.poll_replacement(cx))?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads_are_recognised() {
        assert_eq!(response_status(b"HTTP/1.1 431 Request Header"), Some(431));
        assert_eq!(response_status(b"HTTP/1.0 200 OK"), Some(200));
        assert_eq!(response_status(b"{\"a\":1}"), None);
        assert_eq!(response_status(b"HTTP/1.1 4"), None);
    }
}
