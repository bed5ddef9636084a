//! The worker's side of the supervisor: what it inherits (its slot's
//! listening socket, the port's counters region, its gauge cell) and how it
//! says it serves.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, OnceLock};

use super::{CELL_ENV, LISTEN_FD, METRICS_ENV, READY_LINE, WORKER_ENV};
use crate::metrics::{Metrics, Region};

/// In a worker: the listening socket inherited from the supervisor.
pub fn inherited_listener() -> Option<TcpListener> {
    std::env::var_os(WORKER_ENV)?;
    // SAFETY: the supervisor put a listening TCP socket on this fd before
    // exec, and nothing else in this process owns it.
    Some(unsafe { TcpListener::from_raw_fd(LISTEN_FD) })
}

/// This worker's slot number; `None` outside a supervisor.
pub fn worker_id() -> Option<String> {
    std::env::var(WORKER_ENV).ok()
}

/// In a worker: tells the supervisor the worker serves.
pub fn report_ready() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{READY_LINE}");
    let _ = out.flush();
}

/// The counters this process records into: under a supervisor, its slot's
/// block of the port's shared region (so `/metrics` sums the whole port);
/// alone, or if the region cannot be used, its own.
pub fn metrics() -> Metrics {
    let Some(id) = worker_id() else {
        return Metrics::new(None);
    };
    let cell = std::env::var(CELL_ENV).ok().and_then(|c| c.parse().ok());
    let shared = inherited_region()
        .and_then(|region| Metrics::in_region(Arc::clone(region), id.parse().ok()?, cell, &id));
    shared.unwrap_or_else(|| Metrics::new(Some(&id)))
}

/// The region the supervisor handed down, mapped once per process.
fn inherited_region() -> Option<&'static Arc<Region>> {
    static REGION: OnceLock<Option<Arc<Region>>> = OnceLock::new();
    REGION
        .get_or_init(|| {
            let fd: RawFd = std::env::var(METRICS_ENV).ok()?.parse().ok()?;
            // SAFETY: the supervisor names this fd in the environment only
            // when it put the region's memfd there before exec; this is the
            // one place that takes it, once.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            match Region::inherit(fd) {
                Ok(region) => Some(Arc::new(region)),
                Err(e) => {
                    tracing::warn!(
                        "the port's shared counters are unusable ({e}): /metrics counts this worker alone"
                    );
                    None
                }
            }
        })
        .as_ref()
}
