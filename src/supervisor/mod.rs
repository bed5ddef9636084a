//! `reviews --workers N`: a supervisor process and N worker processes that
//! share one port through SO_REUSEPORT, so the kernel balances connections.
//!
//! The supervisor binds N SO_REUSEPORT listening sockets on the address, one
//! per worker slot (`port`, which first makes sure nothing else listens
//! there), and keeps them while it serves; worker `i` inherits socket `i` as
//! fd 3 and the port's counters region ([`crate::metrics::Region`]) as fd 4.
//! Because a slot's socket stays open while its worker changes, nothing
//! queued on it is lost:
//!
//! - a worker that dies is restarted at once the first time, then after
//!   100 ms, 200 ms, 400 ms, 800 ms and 1 s while it keeps dying young
//!   (within `HEALTHY_UPTIME`, 10 s, of its start): never later than the
//!   second docs/operations.md promises, at most one start a second per slot in a crash loop. Its
//!   replacement takes over the connections queued meanwhile;
//! - SIGHUP replaces workers one slot at a time: the new worker is started
//!   on the slot's socket and reports ready before the old one is told to
//!   drain; a new worker that fails to start leaves the old one serving;
//! - SIGTERM or SIGINT: the supervisor closes its copies of the sockets,
//!   then tells every worker to drain (each stops accepting and finishes
//!   in-flight requests), so once the workers stop accepting the kernel
//!   refuses new connections instead of queueing them; then it exits 0.
//!
//! The supervisor never waits on one worker: starting one returns at once
//! and its readiness and exit arrive as events (`child`), so signals are
//! handled however slowly a worker starts. Every worker started gets a new
//! generation, and an event (a restart falling due, an exit, a ready line)
//! about an older worker of a slot is recognised as such, so a restart that
//! falls due after a SIGHUP already replaced the slot starts nothing.
//! Workers are signalled only through the task that owns and reaps them,
//! so a signal never reaches a pid the kernel may have reused.
//!
//! Workers are this same binary, started with the supervisor's arguments and
//! [`WORKER_ENV`] set (`worker` is their side); they die with the
//! supervisor (PR_SET_PDEATHSIG).

mod child;
mod port;
mod worker;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use self::child::{Child, Launch};
pub use self::port::Port;
pub use self::worker::{inherited_listener, metrics, report_ready, worker_id};
use crate::metrics::Region;

/// Set in a worker's environment to its slot number.
pub const WORKER_ENV: &str = "REVIEWS_WORKER_ID";
/// Set in a worker's environment to the fd of the port's counters region.
const METRICS_ENV: &str = "REVIEWS_METRICS_FD";
/// Set in a worker's environment to the gauge cell lent to it.
const CELL_ENV: &str = "REVIEWS_METRICS_CELL";
/// The fd a worker finds its listening socket on.
const LISTEN_FD: RawFd = 3;
/// The fd a worker finds the counters region on.
const METRICS_FD: RawFd = 4;
/// What a worker prints on stdout once it serves.
const READY_LINE: &str = "ready";
/// A worker that ran this long before dying resets its backoff.
const HEALTHY_UPTIME: Duration = Duration::from_secs(10);
/// The longest wait before restarting a worker that keeps dying: a dead
/// worker is restarted within 1 s (docs/operations.md).
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The shortest wait before retrying a worker that could not be spawned.
const MIN_RETRY: Duration = Duration::from_millis(100);
/// How often the housekeeping task runs besides after each worker's exit.
const HOUSEKEEPING: Duration = Duration::from_secs(30);
/// Gauge cells per slot: its worker, a replacement starting, and room for
/// old workers still draining.
const CELLS_PER_SLOT: usize = 4;

/// What the supervisor's loop reacts to besides signals.
enum Event {
    /// A worker printed its ready line.
    Ready { slot: usize, generation: u64 },
    /// A worker was reaped.
    Exited {
        slot: usize,
        generation: u64,
        status: String,
    },
    /// The backoff after the death of the slot's worker of generation
    /// `after` is over.
    RestartDue { slot: usize, after: u64 },
}

/// One worker slot: its socket's worker, and the one starting to take over.
#[derive(Default)]
struct Slot {
    serving: Option<Child>,
    starting: Option<Child>,
    /// The generation of the last worker started on the slot.
    last_generation: u64,
    /// Deaths in a row of workers that died young.
    failures: u32,
}

/// The supervisor's state.
pub struct Supervisor {
    listeners: Vec<TcpListener>,
    addr: SocketAddr,
    exe: PathBuf,
    args: Vec<OsString>,
    slots: Vec<Slot>,
    /// Replaced workers told to drain, until they exit.
    draining: Vec<Child>,
    next_generation: u64,
    /// The port's counters; `None` if shared memory could not be made (each
    /// worker then counts alone).
    region: Option<Arc<Region>>,
    /// Which of the region's gauge cells a live worker holds.
    cells_lent: Vec<bool>,
    /// SIGHUP: slots still to replace, and the one being replaced.
    to_replace: VecDeque<usize>,
    replacing: Option<usize>,
    events: mpsc::UnboundedSender<Event>,
    inbox: mpsc::UnboundedReceiver<Event>,
    drain: Duration,
    housekeeping: Option<Box<dyn FnMut()>>,
}

impl Supervisor {
    /// A supervisor of one worker per listening socket of `port`; workers
    /// run this binary with the arguments this process was given.
    pub fn new(port: Port, drain: Duration) -> anyhow::Result<Supervisor> {
        let (events, inbox) = mpsc::unbounded_channel();
        let n = port.listeners.len();
        let region = match Region::shared(n, n * CELLS_PER_SLOT) {
            Ok(region) => Some(Arc::new(region)),
            Err(e) => {
                tracing::warn!("no shared memory for counters ({e}): /metrics is per worker");
                None
            }
        };
        let cells = region.as_ref().map_or(0, |r| r.cells().len());
        Ok(Supervisor {
            listeners: port.listeners,
            addr: port.addr,
            exe: std::env::current_exe().context("cannot find the reviews binary")?,
            args: std::env::args_os().skip(1).collect(),
            slots: (0..n).map(|_| Slot::default()).collect(),
            draining: Vec::new(),
            next_generation: 0,
            region,
            cells_lent: vec![false; cells],
            to_replace: VecDeque::new(),
            replacing: None,
            events,
            inbox,
            drain,
            housekeeping: None,
        })
    }

    /// Runs `task` after every worker's exit and every 30 s: clearing what
    /// a dead worker may have left behind (stale LMDB reader slots).
    pub fn housekeeping(&mut self, task: impl FnMut() + 'static) {
        self.housekeeping = Some(Box::new(task));
    }

    /// Starts every worker, then supervises until SIGTERM or SIGINT. Fails if
    /// a worker exits before it first reports ready.
    pub async fn run(mut self) -> anyhow::Result<()> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        for slot in 0..self.slots.len() {
            self.launch(slot)?;
        }
        let mut up = false;
        let outcome = loop {
            if !up && self.slots.iter().all(|s| s.serving.is_some()) {
                up = true;
                let n = self.slots.len();
                tracing::info!("listening on http://{} ({n} workers)", self.addr);
            }
            tokio::select! {
                Some(event) = self.inbox.recv() => {
                    if let Err(e) = self.on_event(event, up) {
                        break Err(e);
                    }
                }
                _ = hup.recv() => self.replace_all(),
                _ = term.recv() => {
                    tracing::info!("SIGTERM received: draining the workers");
                    break Ok(());
                }
                _ = int.recv() => {
                    tracing::info!("SIGINT (Ctrl-C) received: draining the workers");
                    break Ok(());
                }
                _ = housekeeping.tick() => self.housekeep(),
            }
        };
        self.shutdown().await;
        outcome
    }

    /// Starts a worker on `slot` without waiting for it.
    fn launch(&mut self, slot: usize) -> anyhow::Result<()> {
        self.next_generation += 1;
        let generation = self.next_generation;
        self.slots[slot].last_generation = generation;
        let cell = self.cells_lent.iter().position(|lent| !lent);
        let launch = Launch {
            exe: &self.exe,
            args: &self.args,
            listener: self.listeners[slot].as_fd(),
            metrics: self.region.as_ref().and_then(|r| r.fd()),
        };
        let child = Child::spawn(&launch, slot, generation, cell, self.events.clone())
            .with_context(|| format!("cannot start worker {slot}"))?;
        match cell {
            Some(cell) => self.cells_lent[cell] = true,
            None if self.region.is_some() => tracing::warn!(
                "no gauge cell free for worker {slot}: /metrics leaves out its requests in flight"
            ),
            None => {}
        }
        if let Some(superseded) = self.slots[slot].starting.replace(child) {
            // Not reached while launches wait for the slot's start to end;
            // kept so that no worker is ever left untracked.
            superseded.signal(libc::SIGKILL);
            self.draining.push(superseded);
        }
        Ok(())
    }

    fn on_event(&mut self, event: Event, up: bool) -> anyhow::Result<()> {
        match event {
            Event::Ready { slot, generation } => self.on_ready(slot, generation),
            Event::Exited {
                slot,
                generation,
                status,
            } => return self.on_exit(slot, generation, &status, up),
            Event::RestartDue { slot, after } => {
                let s = &self.slots[slot];
                if s.last_generation == after && s.serving.is_none() && s.starting.is_none() {
                    self.relaunch(slot);
                } else {
                    tracing::debug!("restart of worker {slot} no longer due: a newer one took it");
                }
            }
        }
        Ok(())
    }

    fn on_ready(&mut self, slot: usize, generation: u64) {
        let s = &mut self.slots[slot];
        let Some(new) = s.starting.take_if(|c| c.generation == generation) else {
            return;
        };
        tracing::info!("worker {slot} (pid {}) ready", new.pid);
        if let Some(region) = &self.region {
            region.slots()[slot].set_pid(new.pid);
        }
        if let Some(old) = s.serving.replace(new) {
            old.signal(libc::SIGTERM);
            self.draining.push(old);
        }
        self.replaced(slot);
    }

    fn on_exit(
        &mut self,
        slot: usize,
        generation: u64,
        status: &str,
        up: bool,
    ) -> anyhow::Result<()> {
        self.housekeep();
        let s = &mut self.slots[slot];
        if let Some(child) = s.starting.take_if(|c| c.generation == generation) {
            self.give_back(&child);
            let pid = child.pid;
            if !up {
                anyhow::bail!("worker {slot} (pid {pid}) did not start: {status}");
            }
            let s = &mut self.slots[slot];
            s.failures += 1;
            if s.serving.is_some() {
                tracing::error!(
                    "new worker {slot} (pid {pid}) exited before it was ready ({status}); keeping the old one"
                );
            } else {
                let delay = backoff(s.failures);
                tracing::warn!(
                    "worker {slot} (pid {pid}) exited before it was ready ({status}); restarting in {delay:?}"
                );
                self.restart_after(slot, delay);
            }
            self.replaced(slot);
        } else if let Some(child) = s.serving.take_if(|c| c.generation == generation) {
            s.failures = if child.started.elapsed() >= HEALTHY_UPTIME {
                0
            } else {
                s.failures + 1
            };
            let delay = backoff(s.failures);
            let replacement_starting = s.starting.is_some();
            self.give_back(&child);
            if let Some(region) = &self.region {
                region.slots()[slot].set_pid(0);
            }
            let pid = child.pid;
            if replacement_starting {
                tracing::warn!(
                    "worker {slot} (pid {pid}) died ({status}); its replacement is starting"
                );
            } else {
                tracing::warn!(
                    "worker {slot} (pid {pid}) died ({status}); restarting in {delay:?}"
                );
                self.restart_after(slot, delay);
            }
        } else if let Some(i) = self
            .draining
            .iter()
            .position(|c| c.slot == slot && c.generation == generation)
        {
            let child = self.draining.swap_remove(i);
            self.give_back(&child);
            tracing::info!(
                "replaced worker {slot} (pid {}) exited: {status}",
                child.pid
            );
        }
        Ok(())
    }

    /// Restarts `slot` now, or once `delay` is over unless another worker
    /// took the slot meanwhile.
    fn restart_after(&mut self, slot: usize, delay: Duration) {
        if delay.is_zero() {
            return self.relaunch(slot);
        }
        let after = self.slots[slot].last_generation;
        let events = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = events.send(Event::RestartDue { slot, after });
        });
    }

    /// Starts a worker on an empty slot, retrying with backoff if even the
    /// spawn fails (out of processes, binary gone).
    fn relaunch(&mut self, slot: usize) {
        if let Err(e) = self.launch(slot) {
            let s = &mut self.slots[slot];
            s.failures += 1;
            let delay = backoff(s.failures).max(MIN_RETRY);
            tracing::error!("{e:#}; retrying in {delay:?}");
            self.restart_after(slot, delay);
        }
    }

    /// SIGHUP: a new worker per slot, one slot at a time, each ready before
    /// the old one drains. A SIGHUP during a replacement starts the round
    /// over once the slot under way is done.
    fn replace_all(&mut self) {
        tracing::info!("SIGHUP: replacing workers one at a time");
        self.to_replace = (0..self.slots.len()).collect();
        self.replace_next();
    }

    /// The start on `slot` ended (ready or not): the replacement round, if it
    /// was waiting on this slot, moves on.
    fn replaced(&mut self, slot: usize) {
        if self.replacing == Some(slot) {
            self.replacing = None;
            self.replace_next();
        }
    }

    fn replace_next(&mut self) {
        while self.replacing.is_none() {
            let Some(slot) = self.to_replace.pop_front() else {
                return;
            };
            self.replacing = Some(slot);
            if self.slots[slot].starting.is_some() {
                // A start under way began before the SIGHUP: replace what it
                // brings up once it is done.
                self.to_replace.push_front(slot);
                return;
            }
            if let Err(e) = self.launch(slot) {
                tracing::error!("{e:#}; keeping the old worker {slot}");
                self.replacing = None;
            }
        }
    }

    /// Lends no more the gauge cell of a worker that exited, zeroing it, and
    /// frees the port's change-log lease if the worker held it, so another
    /// worker follows at once.
    fn give_back(&mut self, child: &Child) {
        if let Some(region) = &self.region {
            region.feed().release(child.pid);
        }
        if let (Some(cell), Some(region)) = (child.cell, &self.region) {
            region.cells()[cell].clear();
            self.cells_lent[cell] = false;
        }
    }

    fn housekeep(&mut self) {
        if let Some(task) = self.housekeeping.as_mut() {
            task();
        }
    }

    /// Closes the listening sockets, drains every worker, SIGKILLs what is
    /// still alive after the drain timeout and a grace second.
    async fn shutdown(mut self) {
        // First our copies of the sockets: when the workers close theirs, no
        // socket is left to queue connections nobody would accept.
        self.listeners.clear();
        let mut alive = std::mem::take(&mut self.draining);
        for slot in &mut self.slots {
            alive.extend(slot.serving.take());
            alive.extend(slot.starting.take());
        }
        tracing::info!("stopping {} workers", alive.len());
        for child in &alive {
            child.signal(libc::SIGTERM);
        }
        let deadline = tokio::time::Instant::now() + self.drain + Duration::from_secs(1);
        self.reap(&mut alive, deadline).await;
        for child in &alive {
            tracing::warn!(
                "worker {} (pid {}) did not drain in time; killing it",
                child.slot,
                child.pid
            );
            child.signal(libc::SIGKILL);
        }
        // The kills are sent by the workers' watcher tasks: wait for them.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        self.reap(&mut alive, deadline).await;
        self.housekeep();
        tracing::info!("all workers stopped");
    }

    /// Waits until every worker in `alive` is reaped, or `deadline`.
    async fn reap(&mut self, alive: &mut Vec<Child>, deadline: tokio::time::Instant) {
        while !alive.is_empty() {
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(Event::Exited {
                    slot, generation, ..
                })) => alive.retain(|c| (c.slot, c.generation) != (slot, generation)),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    }
}

/// The wait before restarting a worker after `failures` young deaths in a
/// row: none for the first, then doubling from 100 ms up to [`MAX_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    match failures {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(100)
            .saturating_mul(2u32.saturating_pow(n - 2))
            .min(MAX_BACKOFF),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_zero_and_never_passes_a_second() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(
            backoff(1),
            Duration::ZERO,
            "the first death restarts at once"
        );
        assert_eq!(backoff(2), Duration::from_millis(100));
        assert_eq!(backoff(5), Duration::from_millis(800));
        assert_eq!(backoff(6), Duration::from_secs(1));
        assert!((0..100).all(|n| backoff(n) <= Duration::from_secs(1)));
    }
}
