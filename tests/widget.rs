//! The storefront page in a real browser: headless Chromium (Debian's
//! package) driven by playwright-core against the real server. The script
//! leaves screenshots at target/e2e/storefront.png (desktop width),
//! target/e2e/storefront-phone.png, target/e2e/storefront-filtered.png
//! (the reviews filtered by a star and a searched word, words marked) and
//! target/e2e/storefront-characteristics.png (the product breakdown, a
//! seller's response, and the form's characteristic questions with the
//! API's refusal of one). It ends with an Atelier front end's calls made
//! from the page (list, meta, post, helpful, report on the Atelier routes).
//!
//! The review form reads its limits from the OpenAPI document the server
//! serves; the document's limits are checked here against the ones the API
//! enforces, so the two cannot drift apart. The page's labels of each
//! characteristic's scale are checked in the browser against the service's
//! own ([`Characteristic::labels`]), passed to the script from here.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ADMIN_TOKEN, Options, TestApp};
use reviews::http::ops::OPENAPI;
use reviews::model::{Characteristic, limits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_finds_a_product_browses_votes_and_writes_in_chromium() {
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
    let phone = out.join("storefront-phone.png");
    let filtered = out.join("storefront-filtered.png");
    let characteristics = out.join("storefront-characteristics.png");
    for old in [&screenshot, &phone, &filtered, &characteristics] {
        let _ = std::fs::remove_file(old);
    }
    let base = format!("http://{}", app.addr);
    let down_base = format!("http://{}", down.addr);
    // Each characteristic's five labels, as the service defines them.
    let scales: serde_json::Map<String, serde_json::Value> = Characteristic::ALL
        .iter()
        .map(|c| (c.name().to_string(), serde_json::json!(c.labels())))
        .collect();
    let scales = serde_json::Value::Object(scales).to_string();
    // Chromium keeps crash reports and settings in its home: a temp one.
    let home = tempfile::tempdir().unwrap();
    let output = tokio::task::spawn_blocking({
        let screenshot = screenshot.clone();
        let home = home.path().to_path_buf();
        move || {
            Command::new("node")
                .env("HOME", home)
                .arg(e2e.join("storefront.mjs"))
                .arg(&base)
                .arg(&down_base)
                .arg(&screenshot)
                .arg(&other_base)
                .arg(ADMIN_TOKEN)
                .arg(&scales)
                .output()
                .expect("node runs")
        }
    })
    .await
    .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the browser test failed:\n{log}");
    for step in [
        "e2e: search a product by name",
        "e2e: the heading shows the product name",
        "e2e: photos load (natural width > 0)",
        "e2e: the form takes its limits from the OpenAPI document",
        "e2e: a crafted api link is refused",
        "e2e: the 1-star bar shows only 1-star reviews, as many as /meta counts",
        "e2e: clear filters restores every review in one click",
        "e2e: \"With photos\" shows only reviews with photos",
        "e2e: a search for a word of a shown review",
        "e2e: a one-letter search word gets the API message next to the box",
        "e2e: a search nothing matches says so",
        "e2e: the rating sorts order the stars",
        "e2e: keyboard: Tab reaches the star bars, Enter and Space toggle one",
        "e2e: filters combine",
        "e2e: screenshot of the filtered widget",
        "e2e: a star filter after a write reads at least that version (min_version)",
        "e2e: the product breakdown matches /meta",
        "e2e: the form asks for each characteristic",
        "e2e: the seller's response shows under its review",
        "e2e: keyboard: Tab from the star rating reaches the first characteristic",
        "e2e: a review without a rating of",
        "e2e: a response the seller clears is gone from the page",
        "e2e: a valid review appears, its photo at the URL the shopper gave; the breakdown counts its ratings",
        "e2e: an Atelier front end in the browser",
        "e2e: a review posted with an empty summary shows without a headline",
        "e2e: helpful and report with small JSON bodies",
    ] {
        assert!(log.contains(step), "{step} missing from:\n{log}");
    }
    for shot in [&screenshot, &phone, &filtered, &characteristics] {
        let png = std::fs::read(shot).expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "{}", shot.display());
    }
}

#[test]
fn the_openapi_document_states_the_limits_the_api_enforces() {
    let spec: serde_json::Value = serde_json::from_slice(OPENAPI).unwrap();
    let rules = &spec["components"]["schemas"]["NewReview"]["properties"];
    let range = |field: &str| {
        let rule = &rules[field];
        let min = rule["minLength"].as_u64().unwrap_or(0) as usize;
        (min, rule["maxLength"].as_u64().unwrap() as usize)
    };
    let bounds = |r: std::ops::RangeInclusive<usize>| (*r.start(), *r.end());
    assert_eq!(range("summary"), bounds(limits::SUMMARY));
    assert_eq!(range("body"), bounds(limits::BODY));
    assert_eq!(range("name"), bounds(limits::NAME));
    assert_eq!(range("email").1, limits::EMAIL_MAX);
    assert_eq!(
        rules["photos"]["maxItems"].as_u64(),
        Some(limits::PHOTOS_MAX as u64)
    );
    assert_eq!(
        rules["photos"]["items"]["maxLength"].as_u64(),
        Some(limits::PHOTO_URL_MAX as u64)
    );
}
