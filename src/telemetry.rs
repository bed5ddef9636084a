//! Logging through tracing-subscriber on stderr: human-readable lines or one
//! JSON object per line (`--log-format json`), filtered by `RUST_LOG`.
//!
//! The default filter is `info` with the access log (target
//! `reviews::access`, one line per request) off; turn it on with e.g.
//! `RUST_LOG=info,reviews::access=info`. Errors answered with a 5xx are
//! logged at `warn`, one line each, with the request id and the worker.
//! Colours only when stderr is a terminal.

use std::io::IsTerminal;

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
