//! # reviews
//!
//! A cached, read-heavy product-reviews microservice (see `SPEC.md`).
//!
//! # Layout
//!
//! The request path reads top to bottom:
//! - [`http`]: the HTTP edge — routing, parsing requests into typed queries,
//!   rendering JSON bodies and the error contract;
//! - [`store`]: the [`store::Store`] trait the edge reads through, and one
//!   module per backend ([`store::embedded`] on LMDB);
//! - [`metrics`]: per-process counters for `GET /metrics`;
//! - [`model`]: the data model every layer shares;
//! - [`generate`]: the deterministic review generator behind `seed`, the
//!   demo data set and the tests' expectations;
//! - [`seeding`]: loading a generated data set into a store, with progress;
//! - [`coherence`]: how cached copies follow writes across processes;
//! - [`server`]: the accept loop, `run(listener, app, shutdown, drain)`;
//! - [`startup`]: [`startup::Application`] builds the service from its config;
//! - [`supervisor`]: `--workers N`, worker processes sharing one port;
//! - [`config`]: the `reviews` command line; [`telemetry`]: logging.

pub mod cache;
pub mod coherence;
pub mod config;
pub mod generate;
pub mod http;
pub mod metrics;
pub mod model;
pub mod seeding;
pub mod server;
pub mod startup;
pub mod store;
pub mod supervisor;
pub mod telemetry;
