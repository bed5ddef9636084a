//! Writes safe against retries and abuse, against the real server: retries
//! with an `Idempotency-Key` across workers and restarts, rate limits over
//! a whole port and across hosts (Redis, and per host without it), the
//! client behind trusted proxies, one helpful vote per client, CORS for
//! writes, and input hygiene.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use common::{
    Options, Proc, RedisServer, Resp, TestApp, assert_each_host_limits_alone, helpful_votes,
    request,
};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A valid new review of `product`.
fn review(product: u64, summary: &str) -> Value {
    json!({
        "rating": 4,
        "summary": summary,
        "body": "Warm, well stitched and the hood stays up in the wind. Runs a little small.",
        "recommend": true,
        "name": "Ines",
        "email": "ines@example.com",
        "characteristics": common::characteristics(product, 4),
    })
}

async fn post(addr: SocketAddr, product: u64, headers: &[(&str, &str)], body: &Value) -> Resp {
    let mut all = vec![JSON];
    all.extend_from_slice(headers);
    request(
        addr,
        "POST",
        &format!("/reviews/{product}"),
        &all,
        body.to_string().as_bytes(),
    )
    .await
}

async fn put(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    request(addr, "PUT", path, headers, b"").await
}

/// `product`'s review count, at least as new as `version` when given (see
/// `helpfulness`).
async fn total(addr: SocketAddr, product: u64, version: Option<&str>) -> u64 {
    let path = match version {
        Some(version) => format!("/reviews/{product}/meta?min_version={version}"),
        None => format!("/reviews/{product}/meta"),
    };
    let meta = request(addr, "GET", &path, &[], b"").await;
    meta.json()["total"].as_u64().unwrap()
}

/// The helpfulness of `review_id` on `product`'s pages, read at least as
/// new as `version` (a write's `X-Reviews-Version`) when one is given: the
/// read goes to whichever worker the kernel picks, and only the writer's
/// own process sees a write at once without it.
async fn helpfulness(addr: SocketAddr, product: u64, review_id: u64, version: Option<&str>) -> u64 {
    let mut path = format!("/reviews/{product}?sort=newest&count=100");
    if let Some(version) = version {
        path.push_str(&format!("&min_version={version}"));
    }
    let page = request(addr, "GET", &path, &[], b"").await.json();
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["review_id"] == review_id)
        .expect("the review is visible")["helpfulness"]
        .as_u64()
        .unwrap()
}

/// The first visible review of `product`.
async fn first_review(addr: SocketAddr, product: u64, version: Option<&str>) -> u64 {
    let mut path = format!("/reviews/{product}?sort=newest&count=1");
    if let Some(version) = version {
        path.push_str(&format!("&min_version={version}"));
    }
    let page = request(addr, "GET", &path, &[], b"").await.json();
    common::review_ids(&page)[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_gets_the_first_answer_on_any_worker_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut proc, addr) = Proc::serve(dir.path(), &["--workers", "2"]);
    let product = 5;
    let before = total(addr, product, None).await;
    let key = ("Idempotency-Key", "5b0c1d9e-post-1");
    let body = review(product, "Kept me dry on the hill");

    let first = post(addr, product, &[key], &body).await;
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(first.header("idempotent-replayed"), None);
    let id = first.json()["review_id"].as_u64().unwrap();
    let written = first.header("x-reviews-version").unwrap().to_owned();
    // Retries on fresh connections, until both workers have answered one.
    let mut workers = HashSet::new();
    for _ in 0..40 {
        let retry = post(addr, product, &[key], &body).await;
        assert_eq!(retry.status, 201);
        assert_eq!(retry.json(), json!({ "review_id": id }));
        assert_eq!(retry.header("idempotent-replayed"), Some("true"));
        workers.insert(retry.answering_pid());
        if workers.len() == 2 {
            break;
        }
    }
    assert_eq!(workers.len(), 2, "retries reached both workers");
    // The same body with its keys in another order is the same request.
    let mut rated: Vec<(String, Value)> = body["characteristics"]
        .as_object()
        .unwrap()
        .clone()
        .into_iter()
        .collect();
    rated.reverse();
    let rated: serde_json::Map<String, Value> = rated.into_iter().collect();
    let reordered = format!(
        r#"{{"characteristics":{},"summary":"Kept me dry on the hill","rating":4,"recommend":true,
        "body":"Warm, well stitched and the hood stays up in the wind. Runs a little small.",
        "email":"ines@example.com","name":"Ines"}}"#,
        Value::Object(rated)
    );
    let path = format!("/reviews/{product}");
    let same = request(addr, "POST", &path, &[JSON, key], reordered.as_bytes()).await;
    assert_eq!(same.json()["review_id"], id);
    // The key with another body, or on another route, is refused.
    let other = post(addr, product, &[key], &review(product, "Another review")).await;
    assert_eq!(other.status, 422);
    assert!(
        other
            .error()
            .starts_with("Idempotency-Key \"5b0c1d9e-post-1\" was already used"),
        "{}",
        other.error()
    );
    let elsewhere = post(addr, product + 1, &[key], &body).await;
    assert_eq!(elsewhere.status, 422);
    let written = Some(written.as_str());
    assert_eq!(
        total(addr, product, written).await,
        before + 1,
        "one review written"
    );
    assert_eq!(first_review(addr, product, written).await, id);

    // A vote and a report: retried, they count once and answer the same.
    let voted = first_review(addr, 6, None).await;
    let votes = helpfulness(addr, 6, voted, None).await;
    let vote_path = format!("/reviews/{voted}/helpful");
    let mut version = None;
    for n in 0..4 {
        let resp = put(addr, &vote_path, &[("Idempotency-Key", "vote-6-a")]).await;
        assert_eq!(resp.status, 204);
        let replayed = resp.header("idempotent-replayed");
        assert_eq!(replayed, (n > 0).then_some("true"), "attempt {n}");
        if n == 0 {
            version = resp.header("x-reviews-version").map(str::to_owned);
        }
    }
    let version = version.expect("the vote answers its version");
    assert_eq!(helpfulness(addr, 6, voted, Some(&version)).await, votes + 1);
    let report_path = format!("/reviews/{voted}/report");
    for _ in 0..2 {
        let resp = put(addr, &report_path, &[("Idempotency-Key", "report-6-a")]).await;
        assert_eq!(resp.status, 204, "a retried report is not a 404");
    }
    let vote_again = put(addr, &vote_path, &[("Idempotency-Key", "report-6-a")]).await;
    assert_eq!(vote_again.status, 422, "the report's key on a vote");
    let bad = put(addr, &vote_path, &[("Idempotency-Key", "has a space")]).await;
    assert_eq!(bad.status, 400);
    assert!(bad.error().starts_with("Idempotency-Key must be"));

    // Keys live in the store: a restarted service still knows them.
    proc.signal("TERM");
    assert!(proc.wait_exit(Duration::from_secs(20)).success());
    let (_proc, addr) = Proc::serve(dir.path(), &["--workers", "2"]);
    let after_restart = post(addr, product, &[key], &body).await;
    assert_eq!(after_restart.status, 201);
    assert_eq!(after_restart.json()["review_id"], id);
    assert_eq!(after_restart.header("idempotent-replayed"), Some("true"));
    assert_eq!(total(addr, product, None).await, before + 1);
}

/// Statuses of `n` helpful votes on distinct reviews, each on a fresh
/// connection (so the kernel spreads them over the workers), with the pid
/// that answered each.
async fn votes_from_one_client(addr: SocketAddr, first_review: u64, n: u64) -> Vec<(u16, u32)> {
    let mut out = Vec::new();
    for id in first_review..first_review + n {
        let resp = put(addr, &format!("/reviews/{id}/helpful"), &[]).await;
        if resp.status == 429 {
            let wait: u64 = resp.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=60).contains(&wait), "Retry-After {wait}");
            assert!(
                resp.error().starts_with(
                    "too many votes and reports from this address: at most 10 at once"
                ),
                "{}",
                resp.error()
            );
        }
        out.push((resp.status, resp.answering_pid()));
    }
    out
}

fn count(statuses: &[(u16, u32)], status: u16) -> usize {
    statuses.iter().filter(|(s, _)| *s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_hold_for_the_whole_port_not_per_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (_proc, addr) = Proc::serve(
        dir.path(),
        &[
            "--workers",
            "3",
            "--vote-burst",
            "10",
            "--vote-per-minute",
            "1",
            "--post-burst",
            "3",
            "--post-per-minute",
            "1",
        ],
    );
    let votes = votes_from_one_client(addr, 100, 30).await;
    let (allowed, limited) = (count(&votes, 204), count(&votes, 429));
    let workers: HashSet<u32> = votes.iter().map(|&(_, pid)| pid).collect();
    let allowing: HashSet<u32> = votes
        .iter()
        .filter(|(s, _)| *s == 204)
        .map(|&(_, pid)| pid)
        .collect();
    println!(
        "rate limit over the port (3 workers, burst 10): {allowed} votes allowed, {limited} \
         answered 429, out of 30; {} workers answered, {} of them allowed some",
        workers.len(),
        allowing.len()
    );
    assert_eq!((allowed, limited), (10, 20), "{votes:?}");
    assert!(
        allowing.len() >= 2,
        "the allowed votes came from several workers"
    );

    let mut posts = HashMap::new();
    for n in 0..8 {
        let resp = post(addr, 7, &[], &review(7, &format!("Post {n}"))).await;
        *posts.entry(resp.status).or_insert(0) += 1;
        if resp.status == 429 {
            assert!(
                resp.error()
                    .starts_with("too many reviews posted from this address")
            );
        }
    }
    println!("posts over the port (burst 3): {posts:?}");
    assert_eq!(posts, HashMap::from([(201, 3), (429, 5)]));
    // Reads are never limited.
    for p in 1..=50 {
        let resp = request(addr, "GET", &format!("/reviews/{p}/meta"), &[], b"").await;
        assert_eq!(resp.status, 200);
    }
    let metrics = request(addr, "GET", "/metrics", &[], b"").await;
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(text.contains("reviews_http_requests_total{route=\"helpful\",status=\"429\"} 20"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_hold_across_hosts_through_redis_and_per_host_without_it() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--workers",
        "2",
        "--redis-url",
        &url,
        "--vote-burst",
        "8",
        "--vote-per-minute",
        "1",
    ];
    // Two hosts: two supervisors on two ports, one Redis (and one store).
    let (_a, host_a) = Proc::serve(dir.path(), &args);
    let (_b, host_b) = Proc::serve(dir.path(), &args);
    let statuses = helpful_votes(&[host_a, host_b], 200..220).await;
    let allowed = statuses.iter().filter(|&&s| s == 204).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    println!("two hosts sharing Redis (burst 8): {allowed} allowed, {limited} answered 429 of 20");
    assert_eq!((allowed, limited), (8, 12), "{statuses:?}");
    assert!(redis.count_keys("reviews:rl:votes:*") >= 1);

    // Redis gone: each host limits on its own, and no write fails.
    redis.kill();
    assert_each_host_limits_alone(&[host_a, host_b], 8, 300..312).await;
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let limits = |trusted: Vec<String>| Options {
        vote_burst: 2,
        vote_per_minute: 1,
        trusted_proxies: trusted,
        ..Options::default()
    };
    let behind = TestApp::start(limits(vec!["127.0.0.0/8".into()])).await;
    let exposed = TestApp::start(limits(Vec::new())).await;
    for (app, expected) in [
        (&behind, [204, 204, 429, 204, 204, 429]),
        (&exposed, [204, 204, 429, 429, 429, 429]),
    ] {
        let mut got = Vec::new();
        // Two clients behind the proxy, three votes each; the first hop of
        // the header is made up by the client, the last is the proxy's.
        for (n, client) in [
            "198.51.100.1",
            "198.51.100.1",
            "198.51.100.1",
            "198.51.100.2",
            "198.51.100.2",
            "198.51.100.2",
        ]
        .iter()
        .enumerate()
        {
            let xff = format!("6.6.6.{n}, {client}");
            let path = format!("/reviews/{}/helpful", 10 + n);
            got.push(
                app.request("PUT", &path, &[("X-Forwarded-For", &xff)], b"")
                    .await
                    .status,
            );
        }
        assert_eq!(got, expected);
    }
}

#[tokio::test]
async fn a_client_counts_once_per_review_within_the_window() {
    let app = TestApp::start(Options {
        vote_window: 3600,
        trusted_proxies: vec!["127.0.0.1".into()],
        ..Options::default()
    })
    .await;
    let product = 8;
    let id = first_review(app.addr, product, None).await;
    let start = helpfulness(app.addr, product, id, None).await;
    let path = format!("/reviews/{id}/helpful");
    for client in [
        "203.0.113.1",
        "203.0.113.1",
        "203.0.113.1",
        "203.0.113.2",
        "2001:db8::1",
        "2001:db8::2",
    ] {
        let resp = app
            .request("PUT", &path, &[("X-Forwarded-For", client)], b"")
            .await;
        assert_eq!(
            resp.status, 204,
            "a repeated vote is a 204 that changes nothing"
        );
    }
    // Three clients: 203.0.113.1, 203.0.113.2 and the /64 of 2001:db8::.
    assert_eq!(helpfulness(app.addr, product, id, None).await, start + 3);
    let reported = app
        .request(
            "PUT",
            &format!("/reviews/{id}/report"),
            &[("X-Forwarded-For", "203.0.113.1")],
            b"",
        )
        .await;
    assert_eq!(reported.status, 204, "voting does not stop a report");
    let hidden = app
        .request("PUT", &path, &[("X-Forwarded-For", "203.0.113.9")], b"")
        .await;
    assert_eq!(hidden.status, 404);
}

#[tokio::test]
async fn only_listed_origins_may_write_from_a_browser() {
    let app = TestApp::start(Options {
        cors_origins: vec!["https://shop.example".into()],
        ..Options::default()
    })
    .await;
    let evil = ("Origin", "https://evil.example");
    let shop = ("Origin", "https://shop.example");
    // Reads: open to every page.
    let read = app.request("GET", "/reviews/2", &[evil], b"").await;
    assert_eq!(read.header("access-control-allow-origin"), Some("*"));
    let preflight = |origin, method| {
        let app = &app;
        async move {
            let headers = [origin, ("Access-Control-Request-Method", method)];
            let path = if method == "PUT" {
                "/reviews/1/helpful"
            } else {
                "/reviews/2"
            };
            app.request("OPTIONS", path, &headers, b"").await
        }
    };
    let read_preflight = preflight(evil, "GET").await;
    assert_eq!(
        read_preflight.header("access-control-allow-origin"),
        Some("*")
    );
    assert_eq!(
        read_preflight.header("access-control-allow-methods"),
        Some("GET, HEAD")
    );
    for method in ["POST", "PUT"] {
        let refused = preflight(evil, method).await;
        assert_eq!(refused.status, 204);
        assert!(refused.header("allow").is_some());
        for h in [
            "access-control-allow-origin",
            "access-control-allow-methods",
            "access-control-allow-headers",
        ] {
            assert_eq!(
                refused.header(h),
                None,
                "{method}: {h} for a disallowed origin"
            );
        }
        let allowed = preflight(shop, method).await;
        assert_eq!(
            allowed.header("access-control-allow-origin"),
            Some("https://shop.example")
        );
        assert!(
            allowed
                .header("access-control-allow-methods")
                .unwrap()
                .contains(method)
        );
        assert!(
            allowed
                .header("access-control-allow-headers")
                .unwrap()
                .contains("idempotency-key")
        );
        assert_eq!(allowed.header("vary"), Some("origin"));
    }
    // The writes themselves.
    let before = total(app.addr, 2, None).await;
    let body = review(2, "From a page").to_string();
    let refused = app
        .request("POST", "/reviews/2", &[JSON, evil], body.as_bytes())
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.error().contains("--cors-origins"),
        "{}",
        refused.error()
    );
    assert_eq!(refused.header("access-control-allow-origin"), None);
    let vote = app.request("PUT", "/reviews/1/helpful", &[evil], b"").await;
    assert_eq!(vote.status, 403);
    assert_eq!(
        total(app.addr, 2, None).await,
        before,
        "a refused write changes nothing"
    );
    let listed = app
        .request("POST", "/reviews/2", &[JSON, shop], body.as_bytes())
        .await;
    assert_eq!(listed.status, 201);
    assert_eq!(
        listed.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    let own = format!("http://{}", app.addr);
    let same = app
        .request(
            "POST",
            "/reviews/2",
            &[JSON, ("Origin", &own)],
            body.as_bytes(),
        )
        .await;
    assert_eq!(same.status, 201, "the service's own origin");
    let widget = app.get("/widget.json").await;
    assert_eq!(
        widget.json(),
        json!({ "api_origins": ["https://shop.example"] })
    );

    let open = TestApp::start(Options {
        cors_origins: vec!["*".into()],
        ..Options::default()
    })
    .await;
    let anyone = open
        .request("POST", "/reviews/2", &[JSON, evil], body.as_bytes())
        .await;
    assert_eq!(anyone.status, 201);
    assert_eq!(anyone.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        open.get("/widget.json").await.json(),
        json!({ "api_origins": [] })
    );
}

#[tokio::test]
async fn text_must_be_clean_keys_unique_and_ids_canonical() {
    let app = TestApp::spawn().await;
    let before = app.service.store().fingerprint();
    let with = |field: &str, value: &str| {
        let mut body = review(2, "Fine");
        body[field] = json!(value);
        body.to_string()
    };
    let body_text = "b".repeat(60);
    let cases = [
        (with("summary", "Great\u{0}"), 422, "summary must not contain control characters (found U+0000)"),
        (with("name", "Mallory\u{1b}[2J"), 422, "name must not contain control characters (found U+001B)"),
        (with("body", &format!("{body_text}\u{7}")), 422, "body must not contain control characters (found U+0007)"),
        (with("summary", "\u{200B}\u{200C}\u{FEFF}"), 422, "summary must not be blank"),
        (with("name", "\u{2800}\u{3164}"), 422, "name must not be blank"),
        (
            r#"{"rating": 0, "summary": "Fine", "body": "Warm, well stitched and the hood stays up in the wind.", "recommend": true, "name": "Ines", "email": "ines@example.com", "rating": 4}"#.to_string(),
            400,
            "duplicate field `rating`",
        ),
    ];
    for (body, status, needle) in cases {
        let resp = app
            .request("POST", "/reviews/2", &[JSON], body.as_bytes())
            .await;
        assert_eq!(resp.status, status, "{body}");
        assert!(resp.error().contains(needle), "{}", resp.error());
    }
    for (method, path) in [
        ("GET", "/reviews/01"),
        ("GET", "/reviews/007/meta"),
        ("PUT", "/reviews/01/helpful"),
        ("POST", "/reviews/02"),
    ] {
        let resp = app
            .request(method, path, &[JSON], with("summary", "Fine").as_bytes())
            .await;
        assert_eq!(resp.status, 400, "{method} {path}");
        assert!(
            resp.error().contains("without leading zeros"),
            "{}",
            resp.error()
        );
    }
    assert_eq!(
        app.service.store().fingerprint(),
        before,
        "nothing was written"
    );
}

#[tokio::test]
async fn openapi_names_every_operation_and_documents_the_guards() {
    let app = TestApp::spawn().await;
    let spec = app.get("/openapi.json").await.json();
    let mut ids = HashSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "head", "options", "delete"].contains(&method.as_str()) {
                continue;
            }
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
        }
    }
    for (path, method) in [
        ("/reviews/{product_id}", "post"),
        ("/reviews/{review_id}/helpful", "put"),
        ("/reviews/{review_id}/report", "put"),
    ] {
        let op = &spec["paths"][path][method];
        let text = op.to_string();
        assert!(text.contains("Idempotency-Key"), "{method} {path}");
        for status in ["403", "422", "429"] {
            assert!(
                op["responses"][status].is_object(),
                "{method} {path} {status}"
            );
        }
    }
    for path in ["/admin/reported", "/admin/reviews/{review_id}/restore"] {
        assert!(spec["paths"][path].is_object(), "{path}");
    }
    let id = &spec["components"]["parameters"]["ReviewId"]["schema"];
    assert_eq!(id["maximum"], json!(u64::MAX));
}
