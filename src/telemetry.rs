//! Logging through tracing-subscriber on stderr: human-readable lines or one
//! JSON object per line (`--log-format json`), filtered by `RUST_LOG`.
//!
//! The default filter is `info` with the access log (target
//! `reviews::access`, one line per request) off; turn it on with e.g.
//! `RUST_LOG=info,reviews::access=info`. Errors answered with a 5xx are
//! logged at `warn`, one line each, with the request id and the worker.
//! Colours only when stderr is a terminal.
//!
//! A worker's span is entered on each of its threads for their lifetime
//! ([`runtime_in`]) rather than attached to the futures that ask for it, so
//! it is on every line the worker writes: tasks it spawns, tasks its
//! libraries spawn (a Redis connection's driver), blocking threads. The
//! `log` records of libraries that use `log` become events in that span too.

use std::cell::RefCell;
use std::io::IsTerminal;

use tracing::Span;
use tracing::span::EnteredSpan;
use tracing_subscriber::EnvFilter;

/// The filter used when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info,reviews::access=off";

/// Installs the global subscriber; a second call is a no-op.
pub fn init(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

thread_local! {
    /// The span a runtime thread entered when it started.
    static THREAD_SPAN: RefCell<Option<EnteredSpan>> = const { RefCell::new(None) };
}

/// A current-thread runtime for a process whose every line carries `span`:
/// the caller enters `span` on the thread that drives the runtime (every
/// task runs there); the runtime's blocking threads enter it as they start.
pub fn runtime_in(span: &Span) -> std::io::Result<tokio::runtime::Runtime> {
    let span = span.clone();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(move || {
            let entered = span.clone().entered();
            THREAD_SPAN.with(|s| *s.borrow_mut() = Some(entered));
        })
        .on_thread_stop(|| {
            THREAD_SPAN.with(|s| s.borrow_mut().take());
        })
        .build()
}
