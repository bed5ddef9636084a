//! The three load tools send valid requests: each drives the real server
//! with the storefront mix (artillery/) for a few seconds, exactly as
//! `artillery/run.sh` runs it, and the server's own `/metrics` say what it
//! answered. A tool that sends a malformed write (siege posting form data:
//! 415; a review that does not rate its product's characteristics: 422) or
//! hangs on one (siege waiting for the body of a 204) fails here, whatever
//! the tool itself reports.
//!
//! A tool that is not installed is skipped with a `SKIPPED` line;
//! `scripts/test.sh` installs all three.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use common::{Proc, request};

/// What `Proc::serve` seeds: 3,000 reviews of 300 products.
const RECORDS: &str = "3000";
const PRODUCTS: &str = "300";
/// How long each tool drives the server.
const SECONDS: u64 = 3;
/// One tool at a time: on two cores, three tools and three servers at once
/// would measure the machine, not the tools.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `(route, status)` → requests answered, from `reviews_http_requests_total`.
type Answered = BTreeMap<(String, String), u64>;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scrape(addr: SocketAddr) -> Answered {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let resp = runtime.block_on(request(addr, "GET", "/metrics", &[], b""));
    assert_eq!(resp.status, 200);
    let text = String::from_utf8(resp.body).unwrap();
    let mut out = Answered::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("reviews_http_requests_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").unwrap();
        let label = |name: &str| {
            let start = labels.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            labels[start..start + labels[start..].find('"').unwrap()].to_string()
        };
        out.insert((label("route"), label("status")), value.parse().unwrap());
    }
    out
}

/// The requests answered while `run` ran, by route and status.
fn answered_during(addr: SocketAddr, run: impl FnOnce()) -> Answered {
    let before = scrape(addr);
    run();
    std::thread::sleep(Duration::from_millis(200));
    let mut delta = scrape(addr);
    for (key, n) in delta.iter_mut() {
        *n -= before.get(key).copied().unwrap_or(0);
    }
    delta.retain(|_, n| *n > 0);
    delta
}

/// The statuses the storefront mix expects on each of its routes.
fn expected(route: &str, status: &str) -> bool {
    matches!(
        (route, status),
        ("reviews" | "meta", "200") | ("post_review", "201") | ("helpful", "204" | "404")
    )
}

/// Every answer of the mix was one it expects, and reads, posts and votes
/// were each answered with success, several times (so the tool's writes are
/// valid ones, and it did not stall on them).
fn assert_the_mix_was_served(tool: &str, answered: &Answered, log: &str) {
    let mix: Answered = answered
        .iter()
        .filter(|((route, _), _)| !matches!(route.as_str(), "ops" | "healthz" | "readyz"))
        .map(|(k, n)| (k.clone(), *n))
        .collect();
    let unexpected: Vec<_> = mix
        .iter()
        .filter(|((route, status), _)| !expected(route, status))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{tool}: the server answered statuses the mix does not expect: {unexpected:?}\n\
         all: {mix:?}\n{log}"
    );
    let n = |route: &str, status: &str| {
        mix.get(&(route.to_string(), status.to_string()))
            .copied()
            .unwrap_or(0)
    };
    assert!(
        n("reviews", "200") >= 50 && n("meta", "200") >= 10,
        "{tool}: too few reads: {mix:?}\n{log}"
    );
    assert!(
        n("post_review", "201") >= 5,
        "{tool}: too few reviews were posted: {mix:?}\n{log}"
    );
    assert!(
        n("helpful", "204") >= 5,
        "{tool}: too few helpful votes were counted: {mix:?}\n{log}"
    );
}

/// Whether `program` is installed; prints the SKIPPED line when it is not.
fn have(test: &str, program: &Path, install: &str) -> bool {
    let found = if program.is_absolute() {
        program.exists()
    } else {
        Command::new("sh")
            .args(["-c", &format!("command -v {}", program.display())])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !found {
        use std::io::Write;
        // Written past the test harness's capture, so it shows in every run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: {} is not installed ({install}; scripts/test.sh installs it)",
            program.display()
        );
    }
    found
}

/// `program`, killed if it runs `limit` seconds (`timeout -s KILL`): a hung
/// tool cannot hang the suite. Tools keep files in their home (siege its
/// ~/.siege): theirs is `home` in the test's own directory, removed with it.
fn tool(program: impl AsRef<std::ffi::OsStr>, limit: u64, dir: &Path) -> Command {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut command = Command::new("timeout");
    command.env("HOME", &home);
    common::process::without_service_env(&mut command)
        .args(["-s", "KILL", &limit.to_string()])
        .arg(program);
    command
}

/// Runs a command to its end and returns its output.
fn run(command: &mut Command) -> Output {
    command
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?} starts: {e}"))
}

/// Whether a siege run succeeded. siege 4.0.7 sometimes hangs at the end of
/// a timed run ("Lifting the server siege...") after its requests are done;
/// killed by `timeout`, it counts as done: what it sent is judged by the
/// server's counts.
fn siege_ok(out: &Output) -> bool {
    use std::io::Write;
    if out.status.code() == Some(137) {
        let _ = writeln!(
            std::io::stderr(),
            "siege hung at the end of its run (siege 4.0.7) and was killed"
        );
        return true;
    }
    out.status.success()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The server for one tool: one process, so one scrape sees every request.
fn serve(dir: &Path) -> (Proc, SocketAddr) {
    Proc::serve(dir, &["--workers", "1"])
}

#[test]
fn wrk_sends_the_mix_and_every_write_is_valid() {
    if !have("wrk_sends_the_mix", Path::new("wrk"), "apt-get install wrk") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = serve(dir.path());
    // The products the mix posts to and their characteristics, from the
    // service's meta, as run.sh writes them before the run.
    let rated = dir.path().join("characteristics.txt");
    let written = run(Command::new("python3")
        .arg("artillery/characteristics.py")
        .args(["wrk", &format!("http://{addr}"), PRODUCTS, "mix"]));
    assert!(written.status.success(), "{}", text(&written));
    std::fs::write(&rated, &written.stdout).unwrap();
    let mut out = None;
    let answered = answered_during(addr, || {
        out = Some(run(tool("wrk", 60, dir.path())
            .args(["-t2", "-c8", &format!("-d{SECONDS}s")])
            .args(["-s", "artillery/wrk/storefront.lua"])
            .arg(format!("http://{addr}"))
            .args(["--", PRODUCTS, RECORDS])
            .arg(&rated)));
    });
    let out = out.unwrap();
    let log = text(&out);
    assert!(out.status.success(), "wrk failed: {log}");
    assert_the_mix_was_served("wrk", &answered, &log);
    // wrk's own view agrees: the script's closing line counts statuses.
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("wrk-run "))
        .expect("the script's wrk-run line");
    let run: serde_json::Value = serde_json::from_str(line).unwrap();
    assert!(
        run["statuses"]["201"].as_u64().unwrap_or(0) >= 1,
        "{line:.300}"
    );
    assert!(run["latency_us"].as_array().unwrap().len() > 10);
}

#[test]
fn siege_sends_the_mix_and_every_write_is_valid() {
    if !have(
        "siege_sends_the_mix",
        Path::new("siege"),
        "apt-get install siege",
    ) {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = serve(dir.path());
    let base = format!("http://{addr}");
    let list = |votes: bool, file: &str| -> PathBuf {
        let mut cmd = Command::new("artillery/siege-urls.sh");
        if votes {
            cmd.arg("--votes");
        }
        let out = run(cmd.args([&base, PRODUCTS, RECORDS]));
        assert!(out.status.success(), "{}", text(&out));
        let path = dir.path().join(file);
        std::fs::write(&path, &out.stdout).unwrap();
        path
    };
    let (urls, votes) = (list(false, "urls.txt"), list(true, "votes.txt"));
    let time = format!("{SECONDS}S");
    let mut outs = None;
    let answered = answered_during(addr, || {
        // As run.sh runs them: reads and posts on kept-alive connections,
        // votes beside them on connections closed after each answer.
        let voting = tool("siege", SECONDS + 10, dir.path())
            .args(["-R", "artillery/siegerc-votes", "-c", "2", "-d", "0.01"])
            .args(["-t", &time, "-f"])
            .arg(&votes)
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("siege starts");
        let browsing = run(tool("siege", SECONDS + 10, dir.path())
            .args([
                "-R",
                "artillery/siegerc",
                "-T",
                "application/json",
                "-c",
                "8",
            ])
            .args(["-t", &time, "-f"])
            .arg(&urls));
        outs = Some((browsing, voting.wait_with_output().unwrap()));
    });
    let (browsing, voting) = outs.unwrap();
    let log = format!("{}\n{}", text(&browsing), text(&voting));
    assert!(siege_ok(&browsing) && siege_ok(&voting), "{log}");
    assert_the_mix_was_served("siege", &answered, &log);
}

#[test]
fn artillery_sends_the_mix_and_checks_its_thresholds() {
    let bin = root().join("artillery/node_modules/.bin/artillery");
    if !have(
        "artillery_sends_the_mix",
        &bin,
        "cd artillery && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-save --ignore-scripts artillery@2.0",
    ) {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = serve(dir.path());
    let mut out = None;
    let answered = answered_during(addr, || {
        out = Some(run(tool(&bin, 60, dir.path())
            .args(["run", "--output"])
            .arg(dir.path().join("artillery.json"))
            .arg("artillery/storefront.yml")
            .env("ARTILLERY_DISABLE_TELEMETRY", "true")
            .env("TARGET", format!("http://{addr}"))
            .env("PRODUCTS", PRODUCTS)
            .env("RECORDS", RECORDS)
            .env("WARM_SECS", "1")
            .env("RAMP_SECS", "1")
            .env("SUSTAIN_SECS", (SECONDS - 2).to_string())
            .env("PEAK_RATE", "50")
            // Shoppers write more than in the mix, so a short run surely
            // posts and votes several times.
            .env("WRITE_SHARE", "0.3")
            // A smoke of validity on a shared machine, not of speed: a
            // generous p99, and not a single failed request.
            .env("ENSURE_P99_MS", "2000")
            .env("ENSURE_MAX_ERROR_RATE", "0")));
    });
    let out = out.unwrap();
    let log = text(&out);
    assert!(out.status.success(), "artillery failed: {log}");
    assert_the_mix_was_served("artillery", &answered, &log);
    // The scenario's thresholds were checked, and passed.
    let checks = &log[log
        .find("Checks:")
        .expect("artillery ran its ensure checks")..];
    assert!(
        checks.contains("ok: http.response_time.p99 < 2000"),
        "{checks}"
    );
    assert!(
        checks.contains("ok: (storefront.unexpected_status + vusers.failed) / http.requests <= 0"),
        "{checks}"
    );
    assert!(!checks.contains("fail:"), "{checks}");
}
