//! The load-test report script end to end at a tiny size: real service, real
//! wrk for two seconds, a Markdown report and a PNG plot; and a run the
//! service fails (it sheds load), whose report and exit status say so.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `artillery/run.sh` with wrk for two seconds against 3,000 records,
/// with `flags` for the service; returns its output and the report folder.
fn run_sh(dir: &Path, flags: &str) -> (Output, PathBuf) {
    let out = dir.join("report");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_reviews")).parent().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = common::process::without_service_env(&mut Command::new("artillery/run.sh"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RECORDS", "3000")
        .env("DURATION", "2")
        .env("CONNECTIONS", "8")
        .env("PORT", port.to_string())
        .env("OUT", &out)
        .env("DATA_DIR", dir.join("data"))
        .env("BIN_DIR", bin_dir)
        .env("SERVICE_FLAGS", flags)
        .output()
        .expect("artillery/run.sh runs");
    (output, out)
}

/// The value of a `| figure | value |` row of the report.
fn figure<'a>(report: &'a str, name: &str) -> &'a str {
    let prefix = format!("| {name} | ");
    report
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.strip_suffix(" |"))
        .unwrap_or_else(|| panic!("no {name} figure: {report}"))
}

/// The milliseconds of a latency figure such as `1.25 ms`.
fn millis(report: &str, name: &str) -> f64 {
    let v = figure(report, name);
    v.strip_suffix(" ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} is not in ms: {v}"))
}

#[test]
fn the_report_script_writes_figures_and_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let (output, out) = run_sh(dir.path(), "");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "artillery/run.sh failed: {log}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("**OK: every response had a status the mix expects"),
        "{report}"
    );
    let requests: u64 = figure(&report, "requests").parse().unwrap();
    assert!(requests > 100, "{report}");
    // Throughput is requests over the time wrk measured, not over DURATION.
    let duration: f64 = figure(&report, "duration")
        .split(" s of load")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1.5..4.0).contains(&duration), "{report}");
    let rate: f64 = figure(&report, "throughput")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let expected = requests as f64 / duration;
    // (the duration shown is rounded to 10 ms)
    assert!(
        (rate - expected).abs() / expected < 0.01,
        "{rate} vs {expected}"
    );
    // Whole-run percentiles, each labelled by what it is, in order.
    let pcts: Vec<f64> = ["p50", "p90", "p99", "p99.9", "max"]
        .iter()
        .map(|p| millis(&report, &format!("latency {p}")))
        .collect();
    assert!(pcts.windows(2).all(|w| w[0] <= w[1]), "{pcts:?}");
    // The service's own count agrees with wrk's, and writes were answered.
    let statuses = figure(&report, "responses by status (wrk)");
    assert!(
        statuses.contains("201: ") && statuses.contains("204: "),
        "{statuses}"
    );
    let answered: u64 = report
        .lines()
        .find_map(|l| l.strip_prefix("- requests of the mix answered: "))
        .and_then(|l| l.split(' ').next()?.parse().ok())
        .expect("the server's count");
    assert!(
        answered >= requests && answered < requests + 100,
        "{answered} vs {requests}"
    );
    assert!(report.contains("| post_review | mix | "), "{report}");
    assert!(report.contains("- unexpected statuses: 0"), "{report}");

    let series = std::fs::read_to_string(out.join("series.csv")).unwrap();
    assert_eq!(
        series.lines().count(),
        3,
        "a header and one row per second: {series}"
    );
    assert!(series.starts_with("t_s,interval_s,requests,rps,p50_ms,p99_ms,"));
    let png = std::fs::read(out.join("latency.png")).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5000,
        "a real PNG"
    );
}

#[test]
fn a_run_the_service_fails_fails_and_its_report_says_why() {
    let dir = tempfile::tempdir().unwrap();
    // One request in flight at a time: eight connections get 503s.
    let (output, out) = run_sh(dir.path(), "--max-in-flight 1");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "run.sh succeeded: {log}");
    assert!(log.contains("the run failed"), "{log}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let verdict = report
        .lines()
        .find(|l| l.starts_with("**FAILED: "))
        .unwrap_or_else(|| panic!("no FAILED verdict: {report}"));
    assert!(verdict.contains(" 503 ×"), "{verdict}");
    assert!(!report.contains("- requests shed (503, too many in flight): 0"));
}
