//! `scripts/harness.sh`, the wrapper `scripts/test.sh` runs the tests in,
//! run for real on small commands: it blames the suite only for what the
//! suite did. Another program writing into the user's home meanwhile is a
//! warning, not a failure; a process the suite leaves running, or a file
//! it leaves in its temp directory, fails the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One harness run at a time: each checks for processes started from the
/// checkout meanwhile, and would see another run's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `scripts/harness.sh --report REPORT sh -c SCRIPT` as a user whose
/// home is `home`; returns its output and the failed checks it reported.
fn harness(home: &Path, report: &Path, script: &str) -> (Output, String) {
    let out = Command::new(root().join("scripts/harness.sh"))
        .arg("--report")
        .arg(report)
        .args(["sh", "-c", script])
        .env("HOME", home)
        // The toolchain stays the user's own, as under scripts/test.sh.
        .env_remove("CARGO_HOME")
        .env_remove("RUSTUP_HOME")
        .stdin(Stdio::null())
        .output()
        .expect("scripts/harness.sh runs");
    let failed = std::fs::read_to_string(report).unwrap_or_default();
    (out, failed.trim().to_string())
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn another_program_writing_into_home_meanwhile_does_not_fail_the_run() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let seen = dir.path().join("seen");
    // Another program on the machine, not started by the suite: it runs
    // siege and Chromium under the user's home while the tests run.
    let other = Command::new("sh")
        .args([
            "-c",
            "sleep 0.5; mkdir -p \"$HOME/.siege\" \"$HOME/.config/chromium/Default\"; \
             echo 'connection = keep-alive' > \"$HOME/.siege/siege.conf\"; \
             echo '{}' > \"$HOME/.config/chromium/Default/Preferences\"",
        ])
        .env("HOME", &home)
        .current_dir(dir.path())
        .spawn()
        .unwrap();
    // The suite: its tools keep their state in the home it is given, and it
    // tidies its temp directory.
    let script = format!(
        "echo \"$HOME $TMPDIR\" > '{seen}'; mkdir -p \"$HOME/.siege\"; \
         echo 'verbose = false' > \"$HOME/.siege/siege.conf\"; \
         t=$(mktemp -d); echo x > \"$t/f\"; sleep 2; rm -rf \"$t\"",
        seen = seen.display()
    );
    let (out, failed) = harness(&home, &dir.path().join("report"), &script);
    let mut other = other;
    assert!(other.wait().unwrap().success());
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(failed, "0", "{log}");
    // The other program's writes are named, with their times, as a warning.
    assert!(log.contains("warning"), "{log}");
    assert!(log.contains(".siege/siege.conf"), "{log}");
    assert!(
        log.contains(".config/chromium/Default/Preferences"),
        "{log}"
    );
    // The suite ran in a home and temp directory of its own, gone now; the
    // user's siege.conf is the other program's, not the suite's.
    let seen = std::fs::read_to_string(&seen).unwrap();
    let (suite_home, suite_tmp) = seen.trim().split_once(' ').unwrap();
    assert_ne!(Path::new(suite_home), home.as_path(), "{seen}");
    assert!(suite_tmp.starts_with(suite_home.trim_end_matches("/home")));
    assert!(!Path::new(suite_home).exists() && !Path::new(suite_tmp).exists());
    assert_eq!(
        std::fs::read_to_string(home.join(".siege/siege.conf")).unwrap(),
        "connection = keep-alive\n"
    );
}

#[test]
fn a_process_the_suite_leaves_running_fails_the_run_and_is_stopped() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // A test that starts a server from the checkout and forgets it.
    let script = format!(
        "sleep 300 </dev/null >/dev/null 2>&1 & echo $! > '{}'",
        pid_file.display()
    );
    let (out, failed) = harness(dir.path(), &dir.path().join("report"), &script);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert_eq!(failed, "1", "{log}");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        log.contains("left processes running") && log.contains(&format!("{pid} sleep 300")),
        "{log}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(pid), "the leaked process {pid} was stopped");
}

#[test]
fn files_the_suite_leaves_in_its_temp_directory_fail_the_run() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // A test that keeps a tool's home in the temp directory and never
    // removes it; its command itself succeeds.
    let script = "mkdir -p \"$TMPDIR/reviews-tools-home-42/.siege\" && \
                  touch \"$TMPDIR/reviews-tools-home-42/.siege/siege.conf\"";
    let (out, failed) = harness(dir.path(), &dir.path().join("report"), script);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert_eq!(failed, "1", "{log}");
    assert!(
        log.contains("left files in their temp directory")
            && log.contains("reviews-tools-home-42/.siege"),
        "{log}"
    );
    // A failing command keeps its own status.
    let (out, failed) = harness(dir.path(), &dir.path().join("report"), "exit 3");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(failed, "0");
}
