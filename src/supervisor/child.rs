//! One worker process as the supervisor sees it: started without waiting,
//! watched by a task of its own that reports readiness and exit as events,
//! and signalled only through that task, which owns the process and so
//! knows whether it has been reaped: a signal never reaches a pid the
//! kernel may have given to another process.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use super::{CELL_ENV, Event, LISTEN_FD, METRICS_ENV, METRICS_FD, READY_LINE, WORKER_ENV};

/// How long a new worker may take to report ready before it is killed.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A worker process, starting, serving or draining.
pub(super) struct Child {
    /// Its slot.
    pub slot: usize,
    /// Its generation: every worker started gets a new one, so an event
    /// about an older worker of the same slot is told apart.
    pub generation: u64,
    /// Its pid, for logs and the process series.
    pub pid: u32,
    /// When it was started.
    pub started: Instant,
    /// The gauge cell lent to it in the counters region.
    pub cell: Option<usize>,
    /// Signals for its watcher to deliver.
    signals: mpsc::UnboundedSender<libc::c_int>,
}

/// What a worker is started with.
pub(super) struct Launch<'a> {
    /// The binary.
    pub exe: &'a Path,
    /// Its arguments.
    pub args: &'a [OsString],
    /// The slot's listening socket, to become the worker's fd 3.
    pub listener: BorrowedFd<'a>,
    /// The counters region, to become the worker's fd 4.
    pub metrics: Option<BorrowedFd<'a>>,
}

impl Child {
    /// Starts a worker for `slot` and a task that watches it; returns at
    /// once. The task sends [`Event::Ready`] when the worker reports ready
    /// and [`Event::Exited`] once it is reaped; a worker not ready within
    /// [`READY_TIMEOUT`] is killed.
    pub fn spawn(
        launch: &Launch,
        slot: usize,
        generation: u64,
        cell: Option<usize>,
        events: mpsc::UnboundedSender<Event>,
    ) -> std::io::Result<Child> {
        let listener = launch.listener.as_raw_fd();
        let metrics = launch.metrics.map(|fd| fd.as_raw_fd());
        let parent = std::process::id() as libc::pid_t;
        let mut cmd = tokio::process::Command::new(launch.exe);
        cmd.args(launch.args)
            .env(WORKER_ENV, slot.to_string())
            .env_remove(METRICS_ENV)
            .env_remove(CELL_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if metrics.is_some() {
            cmd.env(METRICS_ENV, METRICS_FD.to_string());
            if let Some(cell) = cell {
                cmd.env(CELL_ENV, cell.to_string());
            }
        }
        // SAFETY: only async-signal-safe calls (fcntl, dup2, prctl, getppid)
        // run between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                place_fds(listener, metrics)?;
                // Die with the supervisor; if it died before prctl took
                // effect, go now.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let pid = child.id().expect("a child just spawned has a pid");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (signals, mut inbox) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let (mut ready, mut reading) = (false, true);
            let deadline = tokio::time::sleep(READY_TIMEOUT);
            tokio::pin!(deadline);
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status,
                    Some(signal) = inbox.recv() => {
                        // `id()` is None once the child is reaped, and only
                        // this task reaps it: the pid is still ours here.
                        if let Some(pid) = child.id() {
                            // SAFETY: kill(2) has no memory-safety preconditions.
                            unsafe { libc::kill(pid as libc::pid_t, signal) };
                        }
                    }
                    line = lines.next_line(), if reading => match line {
                        Ok(Some(line)) if !ready && line == READY_LINE => {
                            ready = true;
                            let _ = events.send(Event::Ready { slot, generation });
                        }
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => reading = false,
                    },
                    () = &mut deadline, if !ready => {
                        tracing::error!(
                            "worker {slot} (pid {pid}) not ready within {READY_TIMEOUT:?}; killing it"
                        );
                        ready = true;
                        let _ = child.start_kill();
                    }
                }
            };
            let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            let _ = events.send(Event::Exited {
                slot,
                generation,
                status,
            });
        });
        Ok(Child {
            slot,
            generation,
            pid,
            started: Instant::now(),
            cell,
            signals,
        })
    }

    /// Sends `signal` to the worker unless it has already been reaped.
    pub fn signal(&self, signal: libc::c_int) {
        let _ = self.signals.send(signal);
    }
}

/// In the forked child: the listening socket on fd 3 and the counters
/// region on fd 4, both without close-on-exec. Both are first copied above
/// fd 10, so placing one cannot close the other.
fn place_fds(listener: RawFd, metrics: Option<RawFd>) -> std::io::Result<()> {
    let check = |fd: libc::c_int| {
        if fd < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(fd)
        }
    };
    // SAFETY: fcntl and dup2 on fds this process holds, and nothing else;
    // both are async-signal-safe.
    unsafe {
        let high = check(libc::fcntl(listener, libc::F_DUPFD_CLOEXEC, 10))?;
        let metrics_high = match metrics {
            Some(fd) => Some(check(libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10))?),
            None => None,
        };
        check(libc::dup2(high, LISTEN_FD))?;
        if let Some(fd) = metrics_high {
            check(libc::dup2(fd, METRICS_FD))?;
        }
    }
    Ok(())
}
