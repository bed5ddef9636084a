//! `reviews --workers N`: a supervisor process and N worker processes that
//! share one port through SO_REUSEPORT, so the kernel balances connections.
//!
//! The supervisor binds N SO_REUSEPORT listening sockets on the address, one
//! per worker slot, and keeps them for its whole life; worker `i` inherits
//! socket `i` as fd 3. Because a slot's socket never closes while the
//! service runs, nothing queued on it is lost when its worker changes:
//!
//! - a worker that dies is restarted within a second (immediately the first
//!   time, then with exponential backoff while it keeps dying young); its
//!   replacement takes over the connections queued meanwhile;
//! - SIGHUP replaces workers one at a time: the new worker is started on the
//!   slot's socket and reports ready before the old one is told to drain;
//! - SIGTERM or SIGINT drains every worker (each stops accepting and
//!   finishes in-flight requests) and the supervisor exits 0.
//!
//! Workers are this same binary, started with the supervisor's arguments and
//! `REVIEWS_WORKER_ID` set; they die with the supervisor (PR_SET_PDEATHSIG).

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// Set in a worker's environment to its slot number.
pub const WORKER_ENV: &str = "REVIEWS_WORKER_ID";
/// The fd a worker finds its listening socket on.
const LISTEN_FD: RawFd = 3;
/// What a worker prints on stdout once it serves.
const READY_LINE: &str = "ready";
/// How long a new worker may take to report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// A worker that ran this long before dying resets its backoff.
const HEALTHY_UPTIME: Duration = Duration::from_secs(10);
/// The longest wait before restarting a worker that keeps dying.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// N listening sockets on `addr`, all SO_REUSEPORT; port 0 is resolved once
/// so that every socket shares the same port.
pub fn bind_group(addr: &str, n: usize) -> anyhow::Result<(Vec<TcpListener>, SocketAddr)> {
    let mut target = addr
        .to_socket_addrs()
        .with_context(|| format!("cannot listen on {addr}"))?
        .next()
        .with_context(|| format!("cannot listen on {addr}: no address"))?;
    let mut listeners = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let listener =
            reuseport_listener(target).with_context(|| format!("cannot listen on {addr}"))?;
        target = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok((listeners, target))
}

fn reuseport_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

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

enum Event {
    Exited {
        slot: usize,
        pid: u32,
        status: std::io::Result<std::process::ExitStatus>,
    },
    RestartDue {
        slot: usize,
    },
}

struct Slot {
    pid: u32,
    started: Instant,
    failures: u32,
}

/// The supervisor's state.
pub struct Supervisor {
    listeners: Vec<TcpListener>,
    exe: std::path::PathBuf,
    args: Vec<OsString>,
    slots: Vec<Option<Slot>>,
    /// Every worker process alive, current or draining, by pid.
    live: HashMap<u32, usize>,
    events: mpsc::UnboundedSender<Event>,
    inbox: mpsc::UnboundedReceiver<Event>,
    drain: Duration,
}

impl Supervisor {
    /// A supervisor of one worker per listener; workers run this binary with
    /// the arguments this process was given.
    pub fn new(listeners: Vec<TcpListener>, drain: Duration) -> anyhow::Result<Supervisor> {
        let (events, inbox) = mpsc::unbounded_channel();
        let slots = listeners.iter().map(|_| None).collect();
        Ok(Supervisor {
            listeners,
            exe: std::env::current_exe().context("cannot find the reviews binary")?,
            args: std::env::args_os().skip(1).collect(),
            slots,
            live: HashMap::new(),
            events,
            inbox,
            drain,
        })
    }

    /// Starts every worker, then supervises until SIGTERM or SIGINT.
    pub async fn run(mut self, addr: SocketAddr) -> anyhow::Result<()> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        for slot in 0..self.slots.len() {
            self.launch(slot).await?;
        }
        tracing::info!("listening on http://{addr} ({} workers)", self.slots.len());
        loop {
            tokio::select! {
                Some(event) = self.inbox.recv() => self.on_event(event).await,
                _ = hup.recv() => self.replace_all().await,
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        self.shutdown().await;
        Ok(())
    }

    /// Starts a worker on `slot` and waits until it reports ready.
    async fn launch(&mut self, slot: usize) -> anyhow::Result<()> {
        let fd = self.listeners[slot].as_raw_fd();
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.args(&self.args)
            .env(WORKER_ENV, slot.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if fd == LISTEN_FD {
                    if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(fd, LISTEN_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().context("cannot start a worker")?;
        let pid = child.id().context("worker has no pid")?;
        let stdout = child.stdout.take().context("worker stdout")?;
        let events = self.events.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            let _ = events.send(Event::Exited { slot, pid, status });
        });
        self.live.insert(pid, slot);
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_TIMEOUT, lines.next_line()).await;
        if !matches!(&ready, Ok(Ok(Some(line))) if line == READY_LINE) {
            kill(pid, libc::SIGKILL);
            anyhow::bail!("worker {slot} (pid {pid}) did not start");
        }
        let failures = self.slots[slot].as_ref().map_or(0, |s| s.failures);
        self.slots[slot] = Some(Slot {
            pid,
            started: Instant::now(),
            failures,
        });
        tracing::info!("worker {slot} (pid {pid}) ready");
        Ok(())
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::Exited { slot, pid, status } => {
                self.live.remove(&pid);
                let current = self.slots[slot].as_ref().is_some_and(|s| s.pid == pid);
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                if !current {
                    tracing::info!("replaced worker {slot} (pid {pid}) exited: {status}");
                    return;
                }
                let Some(dead) = self.slots[slot].as_mut() else {
                    return;
                };
                dead.failures = if dead.started.elapsed() >= HEALTHY_UPTIME {
                    0
                } else {
                    dead.failures + 1
                };
                let delay = backoff(dead.failures);
                tracing::warn!(
                    "worker {slot} (pid {pid}) died ({status}); restarting in {delay:?}"
                );
                self.restart_after(slot, delay).await;
            }
            Event::RestartDue { slot } => self.restart_after(slot, Duration::ZERO).await,
        }
    }

    /// Restarts `slot` now, or schedules it; a failed start is retried with
    /// backoff.
    async fn restart_after(&mut self, slot: usize, delay: Duration) {
        if delay.is_zero() {
            match self.launch(slot).await {
                Ok(()) => return,
                Err(e) => {
                    let failures = self.slots[slot].as_mut().map_or(1, |s| {
                        s.failures += 1;
                        s.failures
                    });
                    tracing::error!("{e:#}");
                    return Box::pin(
                        self.restart_after(slot, backoff(failures).max(Duration::from_millis(100))),
                    )
                    .await;
                }
            }
        }
        let events = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = events.send(Event::RestartDue { slot });
        });
    }

    /// SIGHUP: a new worker per slot, ready before the old one drains.
    async fn replace_all(&mut self) {
        tracing::info!("SIGHUP: replacing workers one at a time");
        for slot in 0..self.slots.len() {
            let old = self.slots[slot].as_ref().map(|s| s.pid);
            if let Err(e) = self.launch(slot).await {
                tracing::error!("{e:#}; keeping the old worker {slot}");
                continue;
            }
            if let Some(old) = old {
                kill(old, libc::SIGTERM);
            }
        }
    }

    /// Drains every worker; SIGKILLs what is still alive after the drain
    /// timeout and a grace second.
    async fn shutdown(mut self) {
        tracing::info!("stopping {} workers", self.live.len());
        for &pid in self.live.keys() {
            kill(pid, libc::SIGTERM);
        }
        let deadline = tokio::time::Instant::now() + self.drain + Duration::from_secs(1);
        while !self.live.is_empty() {
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(Event::Exited { pid, .. })) => {
                    self.live.remove(&pid);
                }
                Ok(Some(Event::RestartDue { .. })) => {}
                Ok(None) | Err(_) => break,
            }
        }
        for &pid in self.live.keys() {
            tracing::warn!("worker pid {pid} did not drain in time; killing it");
            kill(pid, libc::SIGKILL);
        }
        tracing::info!("all workers stopped");
    }
}

fn backoff(failures: u32) -> Duration {
    match failures {
        0 | 1 => Duration::ZERO,
        n => (Duration::from_millis(100) * 2u32.saturating_pow(n - 2)).min(MAX_BACKOFF),
    }
}

fn kill(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_zero_and_caps() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(
            backoff(1),
            Duration::ZERO,
            "the first death restarts at once"
        );
        assert_eq!(backoff(2), Duration::from_millis(100));
        assert_eq!(backoff(4), Duration::from_millis(400));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[test]
    fn a_group_shares_one_port() {
        let (listeners, addr) = bind_group("127.0.0.1:0", 3).unwrap();
        assert_ne!(addr.port(), 0);
        assert!(listeners.iter().all(|l| l.local_addr().unwrap() == addr));
        let plain = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = plain.local_addr().unwrap().to_string();
        let err = bind_group(&taken, 2).unwrap_err();
        assert!(format!("{err:#}").contains("cannot listen on"), "{err:#}");
    }
}
