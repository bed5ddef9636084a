//! The error contract of docs/api.md: every bad input gets its status and a JSON
//! error naming what was wrong.

mod common;

use common::TestApp;

#[tokio::test]
async fn bad_ids_are_400_naming_product_id() {
    let app = TestApp::spawn().await;
    for id in ["abc", "0", "-1", "1.5", "18446744073709551616", "%31", ""] {
        for suffix in ["", "/meta"] {
            let resp = app.get(&format!("/reviews/{id}{suffix}")).await;
            assert_eq!(resp.status, 400, "/reviews/{id}{suffix}");
            let message = resp.error();
            assert!(message.starts_with("product_id "), "{message}");
        }
    }
    let zero = app.get("/reviews/0").await.error();
    assert_eq!(zero, "product_id must be at least 1, got \"0\"");
    let huge = app.get("/reviews/99999999999999999999").await.error();
    assert!(huge.contains("too large"), "{huge}");
}

#[tokio::test]
async fn bad_query_values_are_400_naming_the_parameter() {
    let app = TestApp::spawn().await;
    for (query, message) in [
        (
            "page=0",
            "page must be an integer from 1 to 1000000, got \"0\"",
        ),
        (
            "page=1000001",
            "page must be an integer from 1 to 1000000, got \"1000001\"",
        ),
        (
            "page=-2",
            "page must be an integer from 1 to 1000000, got \"-2\"",
        ),
        (
            "page=two",
            "page must be an integer from 1 to 1000000, got \"two\"",
        ),
        (
            "index=0",
            "index must be an integer from 1 to 1000000, got \"0\"",
        ),
        (
            "count=0",
            "count must be an integer from 1 to 100, got \"0\"",
        ),
        (
            "count=101",
            "count must be an integer from 1 to 100, got \"101\"",
        ),
        (
            "count=99999999999999999999999",
            "count must be an integer from 1 to 100, got \"99999999999999999999999\"",
        ),
        (
            "sort=oldest",
            "sort must be one of newest, helpful, relevant, rating_high, rating_low, got \"oldest\"",
        ),
        (
            "sort=",
            "sort must be one of newest, helpful, relevant, rating_high, rating_low, got \"\"",
        ),
        (
            "count=5&count=6",
            "query parameter count is given more than once",
        ),
        (
            "rating=1,6",
            "rating must be stars from 1 to 5, comma-separated (4 or 4,5), got \"1,6\"",
        ),
    ] {
        let resp = app.get(&format!("/reviews/2?{query}")).await;
        assert_eq!(resp.status, 400, "{query}");
        assert_eq!(resp.error(), message);
    }
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let app = TestApp::spawn().await;
    for (method, path, allow) in [
        ("DELETE", "/reviews/2", "GET, HEAD, POST, OPTIONS"),
        ("PUT", "/reviews/2", "GET, HEAD, POST, OPTIONS"),
        ("PATCH", "/reviews/2/meta", "GET, HEAD, OPTIONS"),
        ("POST", "/reviews/2/meta", "GET, HEAD, OPTIONS"),
        ("POST", "/healthz", "GET, HEAD, OPTIONS"),
        ("GET", "/reviews/2/helpful", "PUT, OPTIONS"),
        ("POST", "/reviews/2/report", "PUT, OPTIONS"),
    ] {
        let resp = app.request(method, path, &[], b"").await;
        assert_eq!(resp.status, 405, "{method} {path}");
        assert_eq!(resp.header("allow"), Some(allow));
        assert!(
            resp.error()
                .contains(&format!("method {method} is not allowed"))
        );
    }
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let app = TestApp::spawn().await;
    for path in [
        "/nope",
        "/static/nope.js",
        "/reviews/2/meta/x",
        "/reviews/2/other",
        "/reviews/2/",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status, 404, "{path}");
        assert!(resp.error().starts_with("no such path: "), "{path}");
    }
}

#[tokio::test]
async fn form_is_checked_before_existence() {
    let app = TestApp::spawn().await;
    let unknown = app.set.products + 1;
    // Path syntax beats method.
    let resp = app.request("DELETE", "/reviews/abc", &[], b"").await;
    assert_eq!(resp.status, 400);
    // Method beats existence.
    let resp = app
        .request("DELETE", &format!("/reviews/{unknown}"), &[], b"")
        .await;
    assert_eq!(resp.status, 405);
    // Query beats existence.
    let resp = app.get(&format!("/reviews/{unknown}?count=0")).await;
    assert_eq!(resp.status, 400);
    let resp = app.get(&format!("/reviews/{unknown}?count=1")).await;
    assert_eq!(resp.status, 404);
}

#[tokio::test]
async fn garbage_on_the_wire_does_not_hurt_the_server() {
    let app = TestApp::spawn().await;
    for raw in [
        &b"NOT HTTP AT ALL\r\n\r\n"[..],
        b"GET /reviews/2 HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
    ] {
        let resp = common::send_raw(app.addr, raw).await;
        assert!(
            resp.status == 400 || resp.status == 505,
            "{raw:?}: {}",
            resp.status
        );
    }
    let fine = app.get("/reviews/2").await;
    assert_eq!(fine.status, 200, "still serving after garbage");
}
