//! The `reviews` command line (SPEC §4): every flag is also an environment
//! variable, and `--help` lists them all.

use std::path::PathBuf;

use clap::Parser;

/// How one `reviews` process is configured.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "reviews",
    version,
    about = "Serve product reviews over HTTP from a cached store"
)]
pub struct Config {
    /// Address to listen on (host:port; port 0 picks a free one).
    #[arg(long, env = "REVIEWS_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: String,

    /// Directory of the embedded LMDB store (created if missing).
    #[arg(long, env = "REVIEWS_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Records to seed an empty embedded store with before serving; 0 = never.
    #[arg(long, env = "REVIEWS_DEMO_RECORDS", default_value_t = 1_000_000)]
    pub demo_records: u64,

    /// Seconds to let in-flight requests finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "REVIEWS_SHUTDOWN_TIMEOUT", default_value_t = 10)]
    pub shutdown_timeout: u64,
}
