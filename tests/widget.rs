//! The storefront widget in a real browser: headless Chromium (Debian's
//! package) driven by playwright-core against the real server. The script
//! leaves a screenshot at target/e2e/storefront.png.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Options, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_browses_votes_and_writes_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let e2e = root.join("tests/e2e");
    assert!(
        e2e.join("node_modules/playwright-core").exists()
            && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Chromium and playwright-core: run scripts/test.sh (it installs \
         both), or `apt-get install chromium` and `cd tests/e2e && npm install`"
    );
    let down = TestApp::spawn_with(2000).await;
    down.set_store_failing(true);
    // The same data set under another origin (localhost, not 127.0.0.1).
    let other = TestApp::spawn().await;
    let other_base = format!("http://localhost:{}", other.addr.port());
    // The page's server lists both as APIs its widget may use.
    let app = TestApp::start(Options {
        cors_origins: vec![format!("http://{}", down.addr), other_base.clone()],
        ..Options::default()
    })
    .await;
    let out = root.join("target/e2e");
    std::fs::create_dir_all(&out).unwrap();
    let screenshot = out.join("storefront.png");
    let _ = std::fs::remove_file(&screenshot);
    let base = format!("http://{}", app.addr);
    let down_base = format!("http://{}", down.addr);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(e2e.join("storefront.mjs"))
            .arg(&base)
            .arg(&down_base)
            .arg(out.join("storefront.png"))
            .arg(&other_base)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the browser test failed:\n{log}");
    assert!(log.contains("e2e: a valid review appears"), "{log}");
    assert!(log.contains("e2e: a crafted api link is refused"), "{log}");
    let png = std::fs::read(&screenshot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"));
}
