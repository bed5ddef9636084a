//! # reviews
//!
//! A cached, read-heavy product-reviews microservice: the backend a
//! storefront's "Ratings & Reviews" widget calls on every product page.
//! What it guarantees is in the project's `docs/` and `README.md`.
//!
//! # Layout
//!
//! A request travels down these modules, each knowing only those below it:
//! - [`supervisor`]: `--workers N`, worker processes sharing one port;
//! - [`server`]: the accept loop of one process, keep-alive, idle and drain;
//! - [`http`]: the edge — routes, typed queries and bodies, replies, errors;
//! - [`service`]: the use cases — reads through the cache, writes then
//!   invalidation — and the JSON bodies it renders;
//! - [`cache`]: L1 and Redis tiers, single flight, and the change-log
//!   follower: one process per port reads the store's change log and tells
//!   the others through the port's shared memory;
//! - [`store`]: the [`store::Store`] trait, one folder per backend
//!   ([`store::embedded`] on LMDB, [`store::mongo`] on MongoDB).
//!
//! Beside the path:
//! - [`model`]: the data model and typed queries every layer shares;
//! - [`metrics`]: the counters behind `GET /metrics`, one view per port, in
//!   memory shared by every worker of a port (the rate-limit buckets and
//!   the change-log follower's feed live there too);
//! - [`limits`]: per-client rate limits on writes, per port and, with
//!   Redis, across hosts;
//! - [`breaker`], [`clock`], [`hash`], [`redis_conn`] (one Redis server or
//!   a Redis Cluster): small pieces several layers use;
//! - [`text`]: whole-word search of review text (`q=`);
//! - [`sort`]: external sorting in bounded memory, for imports;
//! - [`generate`]: the deterministic review generator behind `seed`, the
//!   demo data set and the tests' expectations;
//! - [`seeding`]: progress reporting and per-record scalars for loads;
//! - [`transfer`]: reviews in and out of a store as files — the Atelier
//!   CSV export and JSON Lines (`seed --from-atelier`, `--to-jsonl`, …);
//! - [`startup`]: [`startup::Application`] builds the service from its
//!   [`config`] and runs it; [`telemetry`]: logging.

pub mod breaker;
pub mod cache;
pub mod clock;
pub mod config;
pub mod generate;
pub mod hash;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod redis_conn;
pub mod seeding;
pub mod server;
pub mod service;
pub mod sort;
pub mod startup;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod text;
pub mod transfer;
