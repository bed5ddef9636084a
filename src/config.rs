//! The `reviews` command line (docs/operations.md): every flag is also an environment
//! variable, and `--help` lists them all.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::cache::CacheConfig;
use crate::http::admin::TOKEN_MIN;
use crate::http::client::Cidr;
use crate::http::cors::{parse_origin, parse_public_origin};
use crate::limits::Rate;
use crate::server::Limits;
use crate::service::products::PhotoBase;
#[cfg(feature = "mongodb")]
use crate::store::mongo::MongoConfig;

/// Forgets every variable `command`'s flags read that is set but empty: an
/// empty `MONGODB_URI=` means "not set" (as a Compose file empties one to
/// switch a service back to the embedded store), not an empty value. Call
/// it first thing in `main`, before any thread starts.
pub fn forget_empty_env(command: &clap::Command) {
    for arg in command.get_arguments() {
        let Some(name) = arg.get_env() else { continue };
        if std::env::var_os(name).is_some_and(|v| v.is_empty()) {
            // SAFETY: called before the process starts any thread, so
            // nothing reads the environment meanwhile.
            unsafe { std::env::remove_var(name) };
        }
    }
}

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

    /// MongoDB connection string (replica set, standalone, mongos or a
    /// compatible service); unset = the embedded store in --data-dir.
    #[arg(long, env = "MONGODB_URI")]
    pub mongodb_uri: Option<String>,

    /// Where MongoDB reads go.
    #[arg(long, env = "REVIEWS_MONGODB_READ_PREFERENCE", default_value = "secondaryPreferred",
          value_parser = ["primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"])]
    pub mongodb_read_preference: String,

    /// Most MongoDB connections per server, per process.
    #[arg(long, env = "REVIEWS_MONGODB_POOL_SIZE", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub mongodb_pool_size: u32,

    /// Milliseconds for MongoDB server selection, connecting, and any one operation.
    #[arg(long, env = "REVIEWS_MONGODB_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub mongodb_timeout_ms: u64,

    /// Where generated review photos are served from: the service's own
    /// /photos/ (default), another path, or an http(s) URL such as a CDN
    /// whose origin is this service's /photos/.
    #[arg(long, env = "REVIEWS_PHOTO_BASE_URL", default_value = "/photos/", value_parser = PhotoBase::parse)]
    pub photo_base_url: PhotoBase,

    /// Redis URL of the L2 cache (e.g. redis://127.0.0.1:6379), or a Redis
    /// Cluster's node URLs separated by commas; unset = no L2.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Megabytes of responses each process keeps in memory (L1); 0 = off.
    #[arg(long, env = "REVIEWS_L1_CAPACITY_MB", default_value_t = 64)]
    pub l1_capacity_mb: u64,

    /// Seconds a cached response stays fresh (jittered ±10%).
    #[arg(long, env = "REVIEWS_CACHE_TTL", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_ttl: u64,

    /// Milliseconds any Redis call may take before it counts as failed.
    #[arg(long, env = "REVIEWS_REDIS_TIMEOUT_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_timeout_ms: u64,

    /// Worker processes sharing the port (SO_REUSEPORT) under a supervisor;
    /// 1 = a single process, no supervisor. Default: the number of cores.
    #[arg(long, env = "REVIEWS_WORKERS", default_value_t = default_workers(), value_parser = clap::value_parser!(u64).range(1..=256))]
    pub workers: u64,

    /// Requests one process answers at once; past it, 503 with Retry-After.
    #[arg(long, env = "REVIEWS_MAX_IN_FLIGHT", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_in_flight: u64,

    /// Connections one process keeps open at once; past it, the one idle
    /// the longest is closed to make room.
    #[arg(long, env = "REVIEWS_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Milliseconds a client may take to send a request head, or a body.
    #[arg(long, env = "REVIEWS_CLIENT_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub client_timeout_ms: u64,

    /// Milliseconds a read may wait for the store before the service
    /// answers a stale copy or 503 (keep it below a proxy's read timeout).
    #[arg(long, env = "REVIEWS_READ_DEADLINE_MS", default_value_t = 1500, value_parser = clap::value_parser!(u64).range(1..))]
    pub read_deadline_ms: u64,

    /// Failure drill: while this file exists, every store call fails as if
    /// the store were unreachable (to rehearse an outage).
    #[arg(long, env = "REVIEWS_STORE_FAULT_FILE")]
    pub store_fault_file: Option<PathBuf>,

    /// Log lines as `text` or `json` (one object per line).
    #[arg(long, env = "REVIEWS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Seconds to let in-flight requests finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "REVIEWS_SHUTDOWN_TIMEOUT", default_value_t = 10)]
    pub shutdown_timeout: u64,

    /// The service's own origins: http(s)://host[:port], comma-separated,
    /// as shoppers' browsers name the pages it serves (behind a proxy, the
    /// proxy's public origin, e.g. https://shop.example.com). Their pages
    /// may write. Unset: http:// the listen address and
    /// http://localhost on its port. Never taken from the request's Host.
    #[arg(long, env = "REVIEWS_PUBLIC_ORIGINS", value_delimiter = ',', value_parser = parse_public_origin)]
    pub public_origins: Vec<String>,

    /// Origins (http(s)://host[:port], comma-separated) whose web pages may
    /// write (POST, PUT) besides the service's own; `*` = any page. Reads
    /// are open to every page whatever this says.
    #[arg(long, env = "REVIEWS_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,

    /// Proxies (addresses or CIDR blocks, comma-separated) whose
    /// X-Forwarded-For names the client; from anyone else the header is
    /// ignored and the client is the connection's peer.
    #[arg(long, env = "REVIEWS_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted_proxies: Vec<Cidr>,

    /// Bearer token of the moderator's routes (/admin/...), at least 16
    /// characters; unset = no admin routes. Prefer the environment
    /// variable: a flag shows in the process list.
    #[arg(long, env = "REVIEWS_ADMIN_TOKEN", hide_env_values = true, value_parser = parse_admin_token)]
    pub admin_token: Option<String>,

    /// Reviews one client may post at once; 0 = no limit.
    #[arg(long, env = "REVIEWS_POST_BURST", default_value_t = 5)]
    pub post_burst: u32,

    /// Reviews a client may post per minute after its burst; 0 = no limit.
    #[arg(long, env = "REVIEWS_POST_PER_MINUTE", default_value_t = 1)]
    pub post_per_minute: u32,

    /// Helpful votes and reports one client may send at once; 0 = no limit.
    #[arg(long, env = "REVIEWS_VOTE_BURST", default_value_t = 30)]
    pub vote_burst: u32,

    /// Helpful votes and reports per minute after the burst; 0 = no limit.
    #[arg(long, env = "REVIEWS_VOTE_PER_MINUTE", default_value_t = 30)]
    pub vote_per_minute: u32,

    /// Seconds a client's helpful vote on a review is remembered: another
    /// within it changes nothing. 0 = every vote counts.
    #[arg(long, env = "REVIEWS_VOTE_WINDOW", default_value_t = 86_400)]
    pub vote_window: u64,

    /// Seconds an Idempotency-Key is kept: a retry within it gets the
    /// first answer.
    #[arg(long, env = "REVIEWS_IDEMPOTENCY_TTL", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=30 * 86_400))]
    pub idempotency_ttl: u64,
}

impl Config {
    /// The MongoDB settings, when a URI is given.
    #[cfg(feature = "mongodb")]
    pub fn mongo(&self) -> Option<MongoConfig> {
        self.mongodb_uri.as_ref().map(|uri| MongoConfig {
            uri: uri.clone(),
            read_preference: self.mongodb_read_preference.clone(),
            pool_size: self.mongodb_pool_size,
            timeout: Duration::from_millis(self.mongodb_timeout_ms),
        })
    }

    /// How the server treats its clients.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections as usize,
            client_timeout: Duration::from_millis(self.client_timeout_ms),
            drain: Duration::from_secs(self.shutdown_timeout),
        }
    }

    /// The cache this configuration asks for.
    pub fn cache(&self) -> CacheConfig {
        CacheConfig {
            l1_bytes: self.l1_capacity_mb.saturating_mul(1 << 20),
            redis_url: self.redis_url.clone(),
            ttl: Duration::from_secs(self.cache_ttl),
            redis_timeout: Duration::from_millis(self.redis_timeout_ms),
        }
    }
}

impl Config {
    /// The limit on posts, if any.
    pub fn post_rate(&self) -> Option<Rate> {
        Rate::per_minute(self.post_burst, self.post_per_minute)
    }

    /// The limit on votes and reports, if any.
    pub fn vote_rate(&self) -> Option<Rate> {
        Rate::per_minute(self.vote_burst, self.vote_per_minute)
    }
}

fn parse_cidr(text: &str) -> Result<Cidr, String> {
    Cidr::parse(text)
}

fn parse_admin_token(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.chars().count() < TOKEN_MIN || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "the admin token must be at least {TOKEN_MIN} visible ASCII characters"
        ));
    }
    Ok(text.to_string())
}

fn default_workers() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}
