//! The real `reviews` and `seed` binaries, started as processes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Variables besides `REVIEWS_*` that the binaries read as flags.
const SERVICE_VARS: [&str; 2] = ["MONGODB_URI", "REDIS_URL"];

/// A `reviews` or `seed` process started from the built binary.
pub struct Proc {
    pub child: Child,
    pub stderr_path: PathBuf,
}

/// Keeps the service's own variables of the test run (MONGODB_URI,
/// REDIS_URL, REVIEWS_*) from `command`: the service reads its flags from
/// the environment too, and a binary started with explicit arguments must
/// not pick up a deployment the test did not give it.
pub fn without_service_env(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("REVIEWS_") || SERVICE_VARS.contains(&name.as_str()) {
            command.env_remove(name);
        }
    }
    command
}

impl Proc {
    /// Starts `bin` with `args`, stderr captured to a file in `dir`.
    pub fn start(bin: &str, args: &[&str], dir: &Path) -> Proc {
        Proc::start_with_log(bin, args, dir, "info")
    }

    /// As [`Proc::start`], with `RUST_LOG` set to `filter`.
    pub fn start_with_log(bin: &str, args: &[&str], dir: &Path, filter: &str) -> Proc {
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let stderr_path = dir.join(format!("stderr-{n}.log"));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut command = Command::new(bin);
        without_service_env(&mut command);
        let child = command
            .args(args)
            .env("RUST_LOG", filter)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("binary starts");
        Proc { child, stderr_path }
    }

    /// `reviews` with `args`, serving a temp store in `dir` seeded with 3,000
    /// demo reviews on a free port; returns once it listens. Unless `args`
    /// set them, the write limits and one-vote-per-client are off: most
    /// tests write far faster than a shopper, all from one address.
    pub fn serve(dir: &Path, args: &[&str]) -> (Proc, SocketAddr) {
        Proc::serve_with_log(dir, args, "info")
    }

    /// `reviews --workers <workers> --redis-url <url> --l1-capacity-mb 0`
    /// (every read goes to Redis), logging as a deployment does (the
    /// default filter: `info`, no access log), as [`Proc::serve`].
    pub fn serve_on_redis(dir: &Path, workers: u32, url: &str) -> (Proc, SocketAddr) {
        let workers = workers.to_string();
        let args = [
            "--workers",
            &workers,
            "--redis-url",
            url,
            "--l1-capacity-mb",
            "0",
        ];
        Proc::serve_with_log(dir, &args, reviews::telemetry::DEFAULT_FILTER)
    }

    /// As [`Proc::serve`], with `RUST_LOG` set to `filter`.
    pub fn serve_with_log(dir: &Path, args: &[&str], filter: &str) -> (Proc, SocketAddr) {
        let data = dir.join("data");
        let mut all = vec![
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ];
        if !args.contains(&"--demo-records") {
            all.extend(["--demo-records", "3000"]);
        }
        for flag in ["--post-burst", "--vote-burst", "--vote-window"] {
            if !args.contains(&flag) {
                all.extend([flag, "0"]);
            }
        }
        all.extend(args);
        let mut proc = Proc::start_with_log(env!("CARGO_BIN_EXE_reviews"), &all, dir, filter);
        let addr = proc.wait_listening(Duration::from_secs(60));
        (proc, addr)
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits for the server's "listening on" line and returns its address.
    pub fn wait_listening(&mut self, within: Duration) -> SocketAddr {
        let deadline = Instant::now() + within;
        loop {
            let text = self.stderr();
            if let Some(rest) = text.split("listening on http://").nth(1) {
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || ".:[]".contains(c)));
                return rest[..end.unwrap_or(rest.len())].parse().unwrap();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited with {status} before listening: {text}");
            }
            assert!(
                Instant::now() < deadline,
                "server not listening in time: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit, at most `within`.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("process did not exit within {within:?}: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
