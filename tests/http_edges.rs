//! HTTP/1.1 as a careful client, proxy or fuzzer uses it: bodies the
//! service does not read, bodies on routes that take none, transfer
//! codings, a missing `Host`, leading zeros in numbers, an admin preflight
//! from a stranger, and text that would break out of a page — each answered
//! as the RFCs and `docs/api.md` say, with nothing stored for a refused
//! request and the connection either kept or closed with `Connection:
//! close`, never cut under the client.

mod common;

use common::{ADMIN_TOKEN, KeepAlive, Options, TestApp, send_raw};
use serde_json::json;

fn review(summary: &str) -> Vec<u8> {
    json!({
        "rating": 4, "summary": summary,
        "body": "Fits well and the seams held up after a month of daily wear outdoors.",
        "recommend": true, "name": "Ola", "email": "ola@example.com"
    })
    .to_string()
    .into_bytes()
}

async fn total(app: &TestApp, product: u64) -> u64 {
    app.get(&format!("/reviews/{product}/meta")).await.json()["total"]
        .as_u64()
        .unwrap()
}

async fn helpfulness(app: &TestApp, review: u64, product: u64) -> u64 {
    let page = app
        .get(&format!("/reviews/{product}?count=100&sort=newest"))
        .await
        .json();
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["review_id"] == review)
        .expect("the review is on the page")["helpfulness"]
        .as_u64()
        .unwrap()
}

fn closes(resp: &common::Resp) -> bool {
    resp.header("connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"))
}

/// A refused write whose large body was never read says `Connection:
/// close`; the client's next request, on a new connection, is answered.
/// A body on a route that takes none is read and dropped: the kept-alive
/// connection goes on.
#[tokio::test]
async fn unread_bodies_close_the_connection_openly_and_dropped_ones_keep_it() {
    let app = TestApp::spawn().await;
    let mut client = KeepAlive::new(app.addr);
    let before = total(&app, 2).await;

    let big = vec![b'x'; 40 * 1024];
    let refused = client
        .send(
            "POST",
            "/reviews/2",
            &[("Content-Type", "text/plain")],
            &big,
        )
        .await
        .unwrap();
    assert_eq!(refused.status, 415);
    assert!(
        closes(&refused),
        "the unread body ends the connection, openly"
    );
    assert!(!client.is_open());
    let next = client.get("/reviews/2/meta").await.unwrap();
    assert_eq!(next.status, 200, "the next request is answered");
    assert_eq!(next.json()["total"], before, "nothing was stored");

    // A GET with a 30 KB body: read, dropped, the connection kept.
    let connects = client.connects;
    let with_body = client
        .send("GET", "/reviews/2/meta", &[], &vec![b'y'; 30 * 1024])
        .await
        .unwrap();
    assert_eq!(with_body.status, 200);
    assert!(!closes(&with_body));
    let again = client.get("/reviews/2?count=1").await.unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(client.connects, connects, "one connection all along");

    // Over the 64 KiB limit on a read: 413, and said closed if left unread.
    let huge = client
        .send("GET", "/reviews/2", &[], &vec![b'z'; 70 * 1024])
        .await
        .unwrap();
    assert_eq!(huge.status, 413);
    let after = client.get("/healthz").await.unwrap();
    assert_eq!(after.status, 200);
}

/// `PUT` votes take no body; one sent anyway is held to a write's rules —
/// JSON (415), at most 64 KiB (413) — and a refused one counts no vote.
#[tokio::test]
async fn bodies_on_votes_follow_the_rules_of_writes() {
    let app = TestApp::spawn().await;
    let review = common::visible_reviews(&app.generator(), 7)[0].review_id;
    let start = helpfulness(&app, review, 7).await;
    let mut client = KeepAlive::new(app.addr);
    let path = format!("/reviews/{review}/helpful");

    let text = client
        .send("PUT", &path, &[("Content-Type", "text/plain")], b"yes")
        .await
        .unwrap();
    assert_eq!(text.status, 415, "{}", String::from_utf8_lossy(&text.body));
    assert!(
        text.error().contains("application/json"),
        "{}",
        text.error()
    );
    let big = client
        .send(
            "PUT",
            &path,
            &[("Content-Type", "application/json")],
            &vec![b' '; 70 * 1024],
        )
        .await
        .unwrap();
    assert_eq!(big.status, 413);
    assert_eq!(helpfulness(&app, review, 7).await, start, "no vote counted");

    let json_body = client
        .send("PUT", &path, &[("Content-Type", "application/json")], b"{}")
        .await
        .unwrap();
    assert_eq!(json_body.status, 204);
    let bare = client.send("PUT", &path, &[], b"").await.unwrap();
    assert_eq!(bare.status, 204);
    assert_eq!(helpfulness(&app, review, 7).await, start + 2);
}

/// RFC 9112: a transfer coding the server does not implement is a 501 (the
/// body is not taken as plain), and an HTTP/1.1 request without `Host` a
/// 400.
#[tokio::test]
async fn framing_the_server_cannot_trust_is_refused() {
    let app = TestApp::spawn().await;
    let before = total(&app, 3).await;
    let body = review("Sent gzip, chunked");
    let raw = [
        format!(
            "POST /reviews/3 HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
            body.len()
        )
        .into_bytes(),
        body,
        b"\r\n0\r\n\r\n".to_vec(),
    ]
    .concat();
    let resp = send_raw(app.addr, &raw).await;
    assert_eq!(resp.status, 501, "{}", String::from_utf8_lossy(&resp.body));
    assert!(
        resp.error().contains("Transfer-Encoding gzip"),
        "{}",
        resp.error()
    );
    assert_eq!(total(&app, 3).await, before, "nothing was stored");

    let no_host = send_raw(
        app.addr,
        b"GET /reviews/3 HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(no_host.status, 400);
    assert!(no_host.error().contains("Host"), "{}", no_host.error());
    // HTTP/1.0 has no such rule.
    let old = send_raw(app.addr, b"GET /reviews/3/meta HTTP/1.0\r\n\r\n").await;
    assert_eq!(old.status, 200);
}

/// One page has one URL: `count=05` is refused as `/reviews/01` is.
#[tokio::test]
async fn numbers_with_leading_zeros_are_refused_in_queries_too() {
    let app = TestApp::spawn().await;
    for path in ["/reviews/2?count=05", "/reviews/2?page=01", "/reviews/01"] {
        let resp = app.get(path).await;
        assert_eq!(resp.status, 400, "{path}");
        assert!(
            resp.error().contains("leading zeros"),
            "{path}: {}",
            resp.error()
        );
    }
    assert_eq!(app.get("/reviews/2?count=5").await.status, 200);
}

/// An admin's read is open only to origins that may write: a stranger's
/// preflight gets no `Access-Control-Allow-Origin`, the service's own
/// page's does.
#[tokio::test]
async fn admin_preflights_from_strangers_get_no_grant() {
    let app = TestApp::start(Options {
        admin_token: Some(ADMIN_TOKEN.into()),
        ..Options::default()
    })
    .await;
    let preflight = |origin: String| {
        let addr = app.addr;
        async move {
            common::request(
                addr,
                "OPTIONS",
                "/admin/reported",
                &[
                    ("Origin", origin.as_str()),
                    ("Access-Control-Request-Method", "GET"),
                    ("Access-Control-Request-Headers", "authorization"),
                ],
                b"",
            )
            .await
        }
    };
    let stranger = preflight("https://evil.example".into()).await;
    assert_eq!(stranger.header("access-control-allow-origin"), None);
    let own = preflight(format!("http://{}", app.addr)).await;
    assert_eq!(
        own.header("access-control-allow-origin"),
        Some(format!("http://{}", app.addr).as_str())
    );
    // Reads of the API stay open to every page.
    let read = common::request(
        app.addr,
        "GET",
        "/reviews/2/meta",
        &[("Origin", "https://evil.example")],
        b"",
    )
    .await;
    assert_eq!(read.header("access-control-allow-origin"), Some("*"));
}

/// Text that could only be there to break out of a page is refused: a
/// photo URL with quotes or angle brackets, an email whose local part is
/// invisible. Nothing is stored.
#[tokio::test]
async fn photo_urls_and_emails_that_break_out_are_refused() {
    let app = TestApp::spawn().await;
    let before = total(&app, 4).await;
    let mut bad_photo: serde_json::Value = serde_json::from_slice(&review("Photo")).unwrap();
    bad_photo["photos"] = json!(["https://example.com/\"><script>alert(1)</script>"]);
    let mut bad_email: serde_json::Value = serde_json::from_slice(&review("Email")).unwrap();
    bad_email["email"] = json!("\u{200b}@example.com");
    for (body, field) in [(bad_photo, "photos[0]"), (bad_email, "email")] {
        let resp = app
            .request(
                "POST",
                "/reviews/4",
                &[("Content-Type", "application/json")],
                body.to_string().as_bytes(),
            )
            .await;
        assert_eq!(resp.status, 422, "{}", String::from_utf8_lossy(&resp.body));
        assert!(resp.error().starts_with(field), "{}", resp.error());
    }
    assert_eq!(total(&app, 4).await, before);
}
