//! One Redis server — the single server of `--redis-url`, or one node of a
//! cluster — as every call of the process sees it: one multiplexed
//! connection (`TCP_NODELAY`), made on first use and made again after it
//! fails, behind the server's own [`Breaker`].
//!
//! - **Bounded reconnects**: one connection attempt at a time; callers that
//!   waited for an attempt share its outcome rather than each trying again.
//!   Once the breaker is open, the server is tried by one probe per
//!   cooldown ([`BREAKER_COOLDOWN`]), and not at all while a cluster marks
//!   it failed: a dead server costs a process at most one connection
//!   attempt a second.
//! - **Fail fast**: a call to a server whose breaker is open (or that its
//!   cluster marks failed) returns [`Failure::Skipped`] at once.
//! - **Says what happened**: one line at `warn` when the breaker opens (the
//!   server became unreachable), one at `info` when it closes (it is back),
//!   each with the server's address; single failures are `debug`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Cmd, ConnectionInfo, Pipeline, Value};
use tokio::time::Instant;

use super::Failure;
use crate::breaker::{Breaker, BreakerState};

/// Failures in a row that open a server's breaker.
pub const BREAKER_THRESHOLD: u32 = 3;
/// How long a server's breaker stays open before one call probes it.
pub const BREAKER_COOLDOWN: Duration = Duration::from_secs(1);

/// What is sent to a server: one command, or a pipeline of commands.
#[derive(Clone, Copy)]
pub enum Request<'a> {
    /// One command; its reply is its value.
    Cmd(&'a Cmd),
    /// Several commands in one write; the reply is an array of their values.
    Pipeline(&'a Pipeline),
}

impl Request<'_> {
    async fn send(self, conn: &mut MultiplexedConnection) -> redis::RedisResult<Value> {
        match self {
            Request::Cmd(cmd) => conn.req_packed_command(cmd).await,
            Request::Pipeline(pipe) => conn
                .req_packed_commands(pipe, 0, pipe.len())
                .await
                .map(Value::Array),
        }
    }
}

/// The connection a server has now, and how its attempts went.
#[derive(Default)]
struct Held {
    /// The working connection, numbered so that a late failure of an older
    /// one does not drop a newer one.
    conn: Option<(u64, MultiplexedConnection)>,
    /// Connections made so far (the next one's number).
    made: u64,
    /// Connection attempts finished so far, and the last one's error.
    attempts: u64,
    last_error: String,
}

/// One server and its connection, shared by every call of the process.
pub struct Node {
    addr: String,
    client: redis::Client,
    config: AsyncConnectionConfig,
    held: Mutex<Held>,
    /// Taken by the one call that connects.
    connecting: tokio::sync::Mutex<()>,
    breaker: Breaker,
    /// Set while the server's cluster marks it failed.
    marked_failed: AtomicBool,
}

impl Node {
    /// The server of `info` (`TCP_NODELAY` already set); connects on first
    /// use, each attempt bounded by `timeout`.
    pub fn new(info: ConnectionInfo, timeout: Duration) -> redis::RedisResult<Node> {
        let addr = info.addr().to_string();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None);
        Ok(Node {
            addr,
            client: redis::Client::open(info)?,
            config,
            held: Mutex::default(),
            connecting: tokio::sync::Mutex::new(()),
            breaker: Breaker::new(BREAKER_THRESHOLD, BREAKER_COOLDOWN),
            marked_failed: AtomicBool::new(false),
        })
    }

    /// `host:port`, as logs and a cluster's redirections name it.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The breaker's state; open while the cluster marks the server failed.
    pub fn state(&self) -> BreakerState {
        if self.marked_failed.load(Ordering::Relaxed) {
            BreakerState::Open
        } else {
            self.breaker.state()
        }
    }

    /// Whether calls go to the server now (without becoming its probe).
    pub fn available(&self) -> bool {
        !self.marked_failed.load(Ordering::Relaxed) && self.breaker.allow_peek()
    }

    /// The server's cluster marks it failed (`failed`), or no longer does.
    /// A mark on a server this process still reached opens its breaker.
    pub fn mark_failed(&self, failed: bool) {
        let was = self.marked_failed.swap(failed, Ordering::Relaxed);
        if failed && !was && self.breaker.trip() {
            self.lost("its cluster marks it failed");
        }
    }

    /// Sends `request` unless the breaker says not to, by `deadline`. A
    /// server's error reply (`MOVED`, `CLUSTERDOWN`, …) is a value: the
    /// server answered.
    pub async fn send(&self, request: Request<'_>, deadline: Instant) -> Result<Value, Failure> {
        if self.marked_failed.load(Ordering::Relaxed) || !self.breaker.allow() {
            return Err(Failure::Skipped);
        }
        let mut used = None;
        let attempt = async {
            let (id, mut conn) = self.connection().await?;
            used = Some(id);
            request.send(&mut conn).await.map_err(|e| e.to_string())
        };
        let outcome = tokio::time::timeout_at(deadline, attempt).await;
        match outcome {
            Ok(Ok(value)) => {
                if self.breaker.answered() {
                    tracing::info!("redis {} is back: its breaker is closed", self.addr);
                }
                Ok(value)
            }
            Ok(Err(why)) => Err(self.failed(used, why)),
            Err(_) => Err(self.failed(used, "timed out".into())),
        }
    }

    /// The working connection, connecting when there is none.
    async fn connection(&self) -> Result<(u64, MultiplexedConnection), String> {
        let seen = {
            let held = self.held.lock().expect("redis node lock");
            if let Some((id, conn)) = &held.conn {
                return Ok((*id, conn.clone()));
            }
            held.attempts
        };
        let _turn = self.connecting.lock().await;
        {
            let held = self.held.lock().expect("redis node lock");
            if let Some((id, conn)) = &held.conn {
                return Ok((*id, conn.clone()));
            }
            if held.attempts != seen {
                // An attempt finished while this call waited, and failed.
                return Err(held.last_error.clone());
            }
        }
        let made = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await;
        let mut held = self.held.lock().expect("redis node lock");
        held.attempts += 1;
        match made {
            Ok(conn) => {
                held.made += 1;
                let id = held.made;
                held.conn = Some((id, conn.clone()));
                Ok((id, conn))
            }
            Err(e) => {
                held.last_error = format!("cannot connect: {e}");
                Err(held.last_error.clone())
            }
        }
    }

    /// A call failed: the connection it used goes (the next call connects
    /// afresh), and the failure counts toward the breaker.
    fn failed(&self, used: Option<u64>, why: String) -> Failure {
        {
            let mut held = self.held.lock().expect("redis node lock");
            if used.is_some() && held.conn.as_ref().map(|(id, _)| *id) == used {
                held.conn = None;
            }
        }
        tracing::debug!("redis {} call failed: {why}", self.addr);
        if self.breaker.failure() {
            self.lost(&why);
        }
        Failure::Failed(why)
    }

    fn lost(&self, why: &str) {
        tracing::warn!(
            "redis {} unreachable ({why}): its breaker is open; calls to it fail fast, \
             its keys are read from the store, and one call a second probes it",
            self.addr
        );
    }
}
