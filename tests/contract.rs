//! The service held to its own OpenAPI document by a property-based
//! fuzzer: schemathesis, with every check (status codes, content types,
//! response schemas and headers, schema-valid requests accepted and
//! invalid ones refused, no server errors, stateful sequences), against
//! the real binary on a seeded temp store with an admin token. What the
//! document cannot state is allowed, with its reason, in
//! `tests/schemathesis.toml`. `scripts/test.sh` installs schemathesis
//! (from PyPI) into `target/schemathesis`; without it the test says it is
//! skipped.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, Proc};

#[test]
fn the_service_keeps_to_its_openapi_document_under_a_fuzzer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let st = root.join("target/schemathesis/bin/schemathesis");
    if !st.exists() {
        eprintln!(
            "SKIPPED the_service_keeps_to_its_openapi_document_under_a_fuzzer: schemathesis is \
             not installed (scripts/test.sh installs it into target/schemathesis)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = Proc::serve(
        dir.path(),
        &["--workers", "1", "--admin-token", ADMIN_TOKEN],
    );
    let auth = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let mut child = Command::new(&st)
        .arg("--config-file")
        .arg(root.join("tests/schemathesis.toml"))
        .arg("run")
        .arg(format!("http://{addr}/openapi.json"))
        .args(["--checks", "all", "--max-examples", "25", "--seed", "7"])
        .args(["--header", &auth, "--no-color", "--request-timeout", "10"])
        .arg("--report-dir")
        .arg(dir.path().join("report"))
        // Its caches and reports in the temp folder, not the user's home.
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("schemathesis starts");
    let deadline = Instant::now() + Duration::from_secs(600);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("schemathesis did not finish in 600 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found failures:\n{text}");
    // It ran: every operation of the document, and cases of them.
    assert!(
        text.contains("Tested: 24") || text.contains("Tested:"),
        "{text}"
    );
    // The summary's "N generated, N passed" line.
    let generated = text
        .lines()
        .find_map(|l| l.trim().split_once(" generated,")?.0.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(generated > 500, "only {generated} cases generated:\n{text}");
}
