//! The load-test report script end to end at a tiny size: real service, real
//! wrk for a few seconds, a Markdown report and a PNG plot.

use std::process::Command;

#[test]
fn the_report_script_writes_figures_and_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_reviews"))
        .parent()
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let status = Command::new("artillery/run.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RECORDS", "3000")
        .env("DURATION", "2")
        .env("CONNECTIONS", "8")
        .env("PORT", port.to_string())
        .env("OUT", &out)
        .env("DATA_DIR", dir.path().join("data"))
        .env("BIN_DIR", bin_dir)
        .status()
        .expect("artillery/run.sh runs");
    assert!(status.success(), "artillery/run.sh failed: {status}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let requests: u64 = report
        .lines()
        .find_map(|l| l.strip_prefix("| requests | "))
        .and_then(|v| v.trim_end_matches(" |").parse().ok())
        .expect("a requests figure");
    assert!(requests > 100, "{report}");
    for figure in [
        "| p50 latency |",
        "| p99 latency |",
        "| max latency |",
        "| errors",
    ] {
        assert!(report.contains(figure), "{figure} missing: {report}");
    }
    let series = std::fs::read_to_string(out.join("series.csv")).unwrap();
    assert_eq!(
        series.lines().count(),
        3,
        "a header and one row per second: {series}"
    );
    let png = std::fs::read(out.join("latency.png")).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5000,
        "a real PNG"
    );
}
