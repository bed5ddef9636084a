//! `scripts/harness.sh`, the wrapper `scripts/test.sh` runs the tests in,
//! run for real on small commands: it blames the suite only for what the
//! suite did. Another program writing into the user's home meanwhile is a
//! warning, not a failure; a process the suite leaves running, or a file
//! it leaves in its temp directory, fails the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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
fn a_process_another_program_starts_in_the_checkout_meanwhile_is_neither_blamed_nor_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // The user serves from the same checkout in another terminal while the
    // tests run: started after the suite, from the checkout, still running
    // when it ends.
    let script = format!(
        "sleep 1; test -s '{pid}' || exit 9; sleep 1",
        pid = pid_file.display()
    );
    let suite = {
        let (home, report) = (dir.path().to_path_buf(), dir.path().join("report"));
        std::thread::spawn(move || harness(&home, &report, &script))
    };
    std::thread::sleep(Duration::from_millis(300));
    let mut other = Command::new("sleep")
        .arg("30")
        .current_dir(root())
        .spawn()
        .unwrap();
    std::fs::write(&pid_file, other.id().to_string()).unwrap();
    let (out, failed) = suite.join().unwrap();
    let log = text(&out);
    let still = alive(other.id());
    let _ = other.kill();
    let _ = other.wait();
    assert!(out.status.success(), "{log}");
    assert_eq!(failed, "0", "{log}");
    assert!(!log.contains("left processes running"), "{log}");
    assert!(still, "the other program's process was stopped: {log}");
}

#[test]
fn a_process_the_suite_detaches_with_an_empty_environment_is_still_the_suites() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // A daemon the tests start that leaves their session and drops its
    // environment, as nginx's workers do.
    let script = format!(
        "setsid env -i sleep 300 </dev/null >/dev/null 2>&1 & echo $! > '{}'",
        pid_file.display()
    );
    let (out, failed) = harness(dir.path(), &dir.path().join("report"), &script);
    let log = text(&out);
    if !log.contains("left processes running") && !cgroups_here() {
        // Without a cgroup, the environment is all that tells: documented.
        eprintln!("skipped: no cgroup v2 this user may make here");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert_eq!(failed, "1", "{log}");
    assert!(log.contains("sleep 300"), "{log}");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(pid), "the leaked process {pid} was stopped");
}

/// Whether a cgroup v2 hierarchy is mounted and this user may make a
/// cgroup in it, as the harness tries.
fn cgroups_here() -> bool {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .any(|root| {
            let probe = Path::new(root).join(format!("reviews-probe-{}", std::process::id()));
            Path::new(root).join("cgroup.subtree_control").exists()
                && std::fs::create_dir(&probe).is_ok()
                && std::fs::remove_dir(&probe).is_ok()
        })
}

#[test]
fn files_the_suite_leaves_in_its_temp_directory_fail_the_run() {
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
