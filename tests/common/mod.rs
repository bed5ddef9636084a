//! The one integration-test harness: starts the real application (or the
//! real binaries) on port 0 with a temp data dir and a real `redis-server`,
//! and talks to it over real HTTP/1.1.
//!
//! - [`app`]: `TestApp`, the application in-process with fault switches;
//! - [`client`]: a raw HTTP/1.1 client and the responses it parses;
//! - [`process`]: `Proc`, the `reviews` and `seed` binaries as processes;
//! - [`redis`]: `RedisServer`, a real Redis per test, and `RedisCluster`,
//!   a real 3-master Redis Cluster;
//! - [`oracle`]: expected answers computed from the generator;
//! - [`mongo`]: a fresh database on the MongoDB at `MONGODB_URI`.

#![allow(dead_code, unused_imports)] // each test binary uses its own part of the harness

pub mod app;
pub mod client;
pub mod mongo;
pub mod oracle;
pub mod process;
pub mod redis;

pub use app::{ADMIN_TOKEN, Faulty, Options, RECORDS, TestApp};
pub use client::{
    KeepAlive, Resp, assert_each_host_limits_alone, background_documents, background_reads,
    helpful_votes, meta_total, one_connection_per_worker, parse_response, request, request_fails,
    send_raw,
};
pub use oracle::{characteristics, review_ids, visible_reviews};
pub use process::Proc;
pub use redis::{RedisCluster, RedisServer};
