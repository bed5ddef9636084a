//! The real `reviews` and `seed` binaries as a user runs them: startup
//! errors, signals, restarts, and a seed interrupted and run again.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::Proc;
use reviews::generate::DataSet;
use reviews::store::embedded::EmbeddedStore;
use reviews::store::load::LoadStatus;

const REVIEWS: &str = env!("CARGO_BIN_EXE_reviews");
const SEED: &str = env!("CARGO_BIN_EXE_seed");

/// Runs a binary to completion and returns (exit code, stderr, elapsed).
fn run(bin: &str, args: &[&str], dir: &std::path::Path) -> (i32, String, Duration) {
    let started = Instant::now();
    let mut proc = Proc::start(bin, args, dir);
    let status = proc.wait_exit(Duration::from_secs(60));
    (
        status.code().unwrap_or(-1),
        proc.stderr(),
        started.elapsed(),
    )
}

#[test]
fn startup_errors_are_one_clear_line_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();

    let (code, err, _) = run(REVIEWS, &["--no-such-flag"], dir.path());
    assert_eq!(code, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--no-such-flag"), "{err}");

    let (code, err, _) = run(REVIEWS, &["--demo-records", "many"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("many") && err.lines().count() == 1, "{err}");

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, err, _) = run(
        REVIEWS,
        &["--listen", &addr, "--data-dir", data, "--demo-records", "0"],
        dir.path(),
    );
    assert_eq!(code, 1);
    let last = err.trim().lines().last().unwrap();
    assert!(
        last.starts_with(&format!("reviews: cannot listen on {addr}")),
        "{err}"
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let (code, err, _) = run(REVIEWS, &["--data-dir", file.to_str().unwrap()], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("cannot open data dir"), "{err}");
}

#[cfg(feature = "mongodb")]
#[test]
fn an_unreachable_mongodb_fails_fast_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: the driver's server selection gives up.
    let uri = "mongodb://127.0.0.1:1/?replicaSet=rs0";
    let (code, err, took) = run(
        REVIEWS,
        &[
            "--workers",
            "1",
            "--mongodb-uri",
            uri,
            "--mongodb-timeout-ms",
            "500",
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    let last = err.trim().lines().last().unwrap();
    assert!(
        last.starts_with("reviews: store unavailable: MongoDB:"),
        "{err}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    let (code, err, _) = run(REVIEWS, &["--mongodb-uri", "not-a-uri"], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("MongoDB"), "{err}");
    let (code, err, _) = run(
        REVIEWS,
        &["--mongodb-read-preference", "fastest"],
        dir.path(),
    );
    assert_eq!(code, 2);
    assert!(err.contains("fastest"), "{err}");
    let uri = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500";
    let (code, err, _) = run(SEED, &["--mongodb-uri", uri, "--records", "10"], dir.path());
    assert_eq!(code, 1);
    assert!(
        err.trim().starts_with("seed: store unavailable: MongoDB:"),
        "{err}"
    );
}

#[test]
fn flags_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(REVIEWS)
        .env("REVIEWS_DEMO_RECORDS", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lots"));
    let help = std::process::Command::new(REVIEWS)
        .arg("--help")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for name in [
        "--listen",
        "REVIEWS_LISTEN",
        "--data-dir",
        "REVIEWS_DATA_DIR",
        "--demo-records",
        "REVIEWS_DEMO_RECORDS",
    ] {
        assert!(help.contains(name), "--help names {name}");
    }
}

#[tokio::test]
async fn data_survives_a_restart_and_sigterm_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (mut first, addr) = Proc::serve(dir.path(), &["--workers", "1"]);
    let before = common::request(addr, "GET", "/reviews/1?count=20", &[], b"").await;
    assert_eq!(before.status, 200);
    assert!(before.json()["total"].as_u64().unwrap() > 0);
    first.signal("TERM");
    assert!(
        first.wait_exit(Duration::from_secs(15)).success(),
        "{}",
        first.stderr()
    );
    assert!(first.stderr().contains("seeding the demo data set"));

    // Started again with seeding off: the same data, no second load.
    let (mut second, addr) = Proc::serve(dir.path(), &["--workers", "1", "--demo-records", "0"]);
    let after = common::request(addr, "GET", "/reviews/1?count=20", &[], b"").await;
    assert_eq!(after.body, before.body);
    assert!(!second.stderr().contains("seeding"));
    second.signal("INT");
    assert!(second.wait_exit(Duration::from_secs(15)).success());
}

#[test]
fn an_interrupted_seed_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let args = [
        "--records",
        "150000",
        "--seed",
        "7",
        "--batch",
        "4096",
        "--data-dir",
        data_arg,
    ];
    let mut seed = Proc::start(SEED, &args, dir.path());
    // Kill it (SIGKILL: no cleanup) once some batches are committed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(data.join("data.mdb")).map_or(0, |m| m.len()) < 8 << 20 {
        assert!(
            Instant::now() < deadline,
            "seed wrote nothing: {}",
            seed.stderr()
        );
        assert!(
            seed.child.try_wait().unwrap().is_none(),
            "seed finished too soon to interrupt"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    seed.child.kill().unwrap();
    seed.child.wait().unwrap();

    let status = status_of(&data);
    assert!(
        !status.complete && status.loaded > 0 && status.loaded < 150_000,
        "{status:?}"
    );

    let (code, err, _) = run(SEED, &args, dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("resumed after {}", status.loaded)),
        "{err}"
    );

    // Complete, every record once: the store equals an uninterrupted load.
    let fresh = tempfile::tempdir().unwrap();
    let fresh_data = fresh.path().join("data");
    let fresh_args = [
        "--records",
        "150000",
        "--seed",
        "7",
        "--data-dir",
        fresh_data.to_str().unwrap(),
    ];
    let (code, err, _) = run(SEED, &fresh_args, fresh.path());
    assert_eq!(code, 0, "{err}");
    let resumed = EmbeddedStore::open(&data).unwrap();
    let whole = EmbeddedStore::open(&fresh_data).unwrap();
    assert_eq!(resumed.status().unwrap(), whole.status().unwrap());
    let print = resumed.fingerprint().unwrap();
    assert_eq!(print, whole.fingerprint().unwrap());
    assert_eq!(print.reviews, 150_000);

    // Run a third time: nothing to do.
    drop((resumed, whole));
    let (code, err, _) = run(SEED, &args, dir.path());
    assert_eq!(code, 0);
    assert!(err.contains("already holds this data set"), "{err}");
    // Another data set on the same store is refused until --drop.
    let other = ["--records", "1000", "--data-dir", data_arg];
    let (code, err, _) = run(SEED, &other, dir.path());
    assert_eq!(code, 1);
    assert!(
        err.contains("holds another data set") && err.contains("--drop"),
        "{err}"
    );
    let dropped = ["--records", "1000", "--data-dir", data_arg, "--drop"];
    let (code, err, _) = run(SEED, &dropped, dir.path());
    assert_eq!(code, 0, "{err}");
    let status = status_of(&data);
    assert_eq!(status.data_set, Some(DataSet::new(42, 1000, None)));
    assert!(status.complete);
}

fn status_of(data: &std::path::Path) -> LoadStatus {
    EmbeddedStore::open(data).unwrap().status().unwrap()
}

/// `seed` refuses a data directory a running server has open — with and
/// without `--drop`, through a supervisor and its workers — in one line,
/// and the server goes on serving what it had; stopped, the same `seed`
/// goes ahead.
#[tokio::test]
async fn seed_refuses_a_store_a_running_server_has_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (mut server, addr) = Proc::serve(dir.path(), &["--workers", "2"]);
    let before = common::request(addr, "GET", "/reviews/1/meta", &[], b"").await;
    assert_eq!(before.status, 200);
    for extra in [&["--drop"][..], &[]] {
        let mut args = vec!["--data-dir", data, "--records", "500"];
        args.extend(extra);
        let (code, err, _) = run(SEED, &args, dir.path());
        assert_ne!(code, 0, "seed {args:?} went ahead under a server");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains("open in a running `reviews` server") && err.contains("--while-serving"),
            "{err}"
        );
    }
    let after = common::request(addr, "GET", "/reviews/1/meta", &[], b"").await;
    assert_eq!(after.body, before.body, "the served store is untouched");
    let ready = common::request(addr, "GET", "/readyz", &[], b"").await;
    assert_eq!(ready.status, 200);

    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(15)).success());
    let (code, err, _) = run(
        SEED,
        &["--data-dir", data, "--records", "500", "--drop"],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("seeded 500 reviews"), "{err}");
}

/// A variable set but empty is not set: `MONGODB_URI=` (what a Compose
/// file leaves when it switches a service back to the embedded store)
/// serves the embedded store, `REDIS_URL=` runs without Redis, and `seed`
/// reads them the same way.
#[test]
fn empty_variables_count_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("stderr.log");
    let mut command = std::process::Command::new(REVIEWS);
    common::process::without_service_env(&mut command);
    let mut child = command
        .args([
            "--listen",
            "127.0.0.1:0",
            "--demo-records",
            "500",
            "--workers",
            "1",
        ])
        .env("MONGODB_URI", "")
        .env("REDIS_URL", "")
        .env("REVIEWS_CORS_ORIGINS", "")
        .env("REVIEWS_DATA_DIR", data.to_str().unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("listening on http://") {
            break text;
        }
        assert!(child.try_wait().unwrap().is_none(), "exited: {text}");
        assert!(Instant::now() < deadline, "not listening: {text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!text.contains("connection string"), "{text}");
    assert_eq!(status_of(&data).data_set, Some(DataSet::new(42, 500, None)));

    let mut seed = std::process::Command::new(SEED);
    common::process::without_service_env(&mut seed);
    let out = seed
        .args(["--records", "300", "--drop", "--data-dir"])
        .arg(dir.path().join("seeded"))
        .env("MONGODB_URI", "")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("seeded 300 reviews"), "{err}");
}

#[test]
fn a_data_dir_it_may_not_write_names_the_user_it_runs_as_and_the_chown() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // As the image meets it: a folder that root owns mounted over /data,
    // the service running as uid 10001. Under the build folder, which any
    // user may traverse (the temp directory may not be).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // SAFETY: getuid cannot fail.
    let root = unsafe { libc::getuid() } == 0;
    let (uid, gid) = if root {
        (10001, 10001)
    } else {
        // Not root: a folder this user may read but not write.
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).unwrap();
        // SAFETY: as above.
        unsafe { (libc::getuid(), libc::getgid()) }
    };
    for (bin, args) in [
        (REVIEWS, vec!["--listen", "127.0.0.1:0"]),
        (SEED, vec!["--records", "100"]),
    ] {
        let mut command = std::process::Command::new(bin);
        common::process::without_service_env(&mut command)
            .args(&args)
            .arg("--data-dir")
            .arg(&data)
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null());
        if root {
            command.uid(uid).gid(gid);
        }
        let out = command.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bin}: {err}");
        assert!(
            err.contains("Permission denied")
                && err.contains(&format!("runs as uid {uid} (gid {gid})"))
                && err.contains(&format!("`chown {uid}:{gid} DIR`")),
            "{bin}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{bin}: one line: {err}");
    }
}
