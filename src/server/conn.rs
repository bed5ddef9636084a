//! What one connection's tasks share about it: when its client last sent
//! bytes, whether a request head is pending or a request is being answered,
//! and whether the server is draining; and the stream wrapper that keeps
//! that up to date and turns hyper's own bodiless error replies into the
//! service's JSON errors.
//!
//! **When a head is pending.** A head is pending from the first byte of
//! each request on the connection until hyper has parsed it. Bytes that
//! arrive while no request is being answered start one. So do bytes that
//! arrived with an earlier request and wait behind it in hyper's buffer (a
//! pipelining client's next request, or the start of one: `GET /a …\r\n\r\n
//! GET /b HTTP/1.1\r\nHo`): hyper does not say what its buffer holds, so the
//! stream tells it from what went through it. Bytes read so far end either
//! where a head (or a chunked body) ends — `\n\r\n` or `\n\n` — or
//! inside something; when a request is answered and they end inside
//! something, that something is the next request's head, unless it was
//! the answered request's own body and the body ended exactly where the
//! bytes read so far end (hyper hands a body's bytes out of the same buffer
//! they were read into: [`BodyEnd`] notes where the last ones end). Then
//! the head deadline runs from when those bytes arrived. Per read this is a
//! look at its last three bytes and two stores; per request, three.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};
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
    /// The bytes read so far end inside a head or a body (not where a head
    /// or a chunked body ends).
    open_tail: AtomicBool,
    /// The address just past the last byte read into hyper's buffer.
    read_end: AtomicUsize,
    /// The address just past the last body byte the request being
    /// answered has read (0: none).
    body_end: AtomicUsize,
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
            open_tail: AtomicBool::new(false),
            read_end: AtomicUsize::new(0),
            body_end: AtomicUsize::new(0),
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
        self.body_end.store(0, Ordering::Relaxed);
        self.in_request.fetch_add(1, Ordering::Relaxed);
        RequestGuard {
            activity: Arc::clone(self),
            produced: false,
        }
    }

    /// The last request being answered ended: if bytes read with it wait
    /// in hyper's buffer (see the module docs), they start the next head,
    /// and its deadline runs from when they arrived.
    fn request_ended(&self) {
        let open = self.open_tail.load(Ordering::Relaxed);
        let read_end = self.read_end.load(Ordering::Relaxed);
        let body_read_to_there = self.body_end.load(Ordering::Relaxed) == read_end;
        if open && !body_read_to_there && self.head_since.load(Ordering::Relaxed) == 0 {
            let since = self.last_read.load(Ordering::Relaxed);
            self.head_since.store(since + 1, Ordering::Relaxed);
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
        if self.activity.in_request.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.activity.request_ended();
        }
    }
}

/// A request's body, noting in its connection's [`Activity`] where in
/// hyper's buffer the last bytes it handed out end.
pub struct BodyEnd<'a, B> {
    inner: B,
    activity: &'a Activity,
}

impl<'a, B> BodyEnd<'a, B> {
    /// `body`, of a request on the connection of `activity`.
    pub fn new(body: B, activity: &'a Activity) -> BodyEnd<'a, B> {
        BodyEnd {
            inner: body,
            activity,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for BodyEnd<'_, B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref().filter(|d| d.has_remaining())
        {
            let end = data.as_ptr() as usize + data.len();
            self.activity.body_end.store(end, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
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
    /// The last three bytes read so far.
    tail: [u8; 3],
}

impl Tracked {
    /// Wraps an accepted stream.
    pub fn new(inner: TcpStream, activity: Arc<Activity>, protocol_error: ProtocolError) -> Self {
        Tracked {
            inner,
            activity,
            protocol_error,
            replacement: None,
            tail: [0; 3],
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

/// The last three bytes of a stream whose last three were `tail` once
/// `read` follows them.
fn last_three(tail: [u8; 3], read: &[u8]) -> [u8; 3] {
    match *read {
        [.., a, b, c] => [a, b, c],
        [a, b] => [tail[2], a, b],
        [a] => [tail[1], tail[2], a],
        [] => tail,
    }
}

/// Whether a stream ending in `tail` ends where a head does (an empty line:
/// CRLF, or the bare LF hyper also takes) or a chunked body does.
fn ends_a_head(tail: [u8; 3]) -> bool {
    tail == *b"\n\r\n" || tail[1..] == *b"\n\n"
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
        let read = &buf.filled()[before..];
        if !read.is_empty() {
            let tail = last_three(self.tail, read);
            self.tail = tail;
            let activity = &self.activity;
            let now = activity.now();
            activity.last_read.store(now, Ordering::Relaxed);
            activity
                .open_tail
                .store(!ends_a_head(tail), Ordering::Relaxed);
            let end = read.as_ptr_range().end as usize;
            activity.read_end.store(end, Ordering::Relaxed);
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
    fn the_bytes_read_so_far_end_a_head_or_not() {
        let ends =
            |reads: &[&[u8]]| ends_a_head(reads.iter().fold([0; 3], |t, r| last_three(t, r)));
        assert!(ends(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"]));
        assert!(ends(&[b"GET / HTTP/1.1\r\nHost: a\r\n", b"\r", b"\n"]));
        assert!(ends(&[b"GET / HTTP/1.1\nHost: a\n\n"]));
        assert!(ends(&[b"5\r\nhello\r\n0\r\n\r\n"]), "a chunked body's end");
        assert!(!ends(&[
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHo"
        ]));
        assert!(!ends(&[b"GET / HTTP/1.1\r\nHost: a\r\n"]));
        assert!(
            !ends(&[b"{\"rating\": 5}"]),
            "a body's end is told apart otherwise"
        );
    }

    #[test]
    fn response_heads_are_recognised() {
        assert_eq!(response_status(b"HTTP/1.1 431 Request Header"), Some(431));
        assert_eq!(response_status(b"HTTP/1.0 200 OK"), Some(200));
        assert_eq!(response_status(b"{\"a\":1}"), None);
        assert_eq!(response_status(b"HTTP/1.1 4"), None);
    }
}
