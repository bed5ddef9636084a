//! HTTP/1.1 as a careful client, proxy or fuzzer uses it: bodies the
//! service does not read, bodies on routes that take none, transfer
//! codings (once, known), `Host` (one, valid, and never trusted for the
//! service's own origin), fields given twice, a partial request behind a
//! complete one, leading zeros in numbers, admin calls from a stranger,
//! methods the server does not recognize, searches without words, and
//! text that would break out of a page or shows nothing — each answered as
//! the RFCs and `docs/api.md` say, on raw kept-alive connections, with
//! nothing stored for a refused request and the connection either kept or
//! closed with `Connection: close`, never cut under the client.

mod common;

use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, KeepAlive, Options, TestApp, send_raw};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A valid new review of `product`, headed `summary`.
fn review(product: u64, summary: &str) -> Vec<u8> {
    json!({
        "rating": 4, "summary": summary,
        "body": "Fits well and the seams held up after a month of daily wear outdoors.",
        "recommend": true, "name": "Ola", "email": "ola@example.com",
        "characteristics": common::characteristics(product, 4)
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
/// JSON (415), at most 64 KiB (413), JSON text (400: `not json`, on a
/// report too) — and a refused one counts no vote.
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
    for what in ["helpful", "report"] {
        let not_json = client
            .send(
                "PUT",
                &format!("/reviews/{review}/{what}"),
                &[("Content-Type", "application/json")],
                b"not json",
            )
            .await
            .unwrap();
        assert_eq!(not_json.status, 400, "{what}");
        assert!(
            not_json.error().starts_with("malformed JSON body"),
            "{}",
            not_json.error()
        );
    }
    assert_eq!(helpfulness(&app, review, 7).await, start, "no vote counted");
    let total_before = total(&app, 7).await;

    let json_body = client
        .send("PUT", &path, &[("Content-Type", "application/json")], b"{}")
        .await
        .unwrap();
    assert_eq!(json_body.status, 204);
    let bare = client.send("PUT", &path, &[], b"").await.unwrap();
    assert_eq!(bare.status, 204);
    assert_eq!(helpfulness(&app, review, 7).await, start + 2);
    assert_eq!(total(&app, 7).await, total_before, "nothing reported");
}

/// RFC 9112: a transfer coding the server does not implement is a 501 (the
/// body is not taken as plain), and an HTTP/1.1 request without `Host` a
/// 400.
#[tokio::test]
async fn framing_the_server_cannot_trust_is_refused() {
    let app = TestApp::spawn().await;
    let before = total(&app, 3).await;
    let body = review(3, "Sent gzip, chunked");
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
    let mut bad_photo: serde_json::Value = serde_json::from_slice(&review(4, "Photo")).unwrap();
    bad_photo["photos"] = json!(["https://example.com/\"><script>alert(1)</script>"]);
    let mut bad_email: serde_json::Value = serde_json::from_slice(&review(4, "Email")).unwrap();
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

/// Writes `raw` on a kept-alive connection and reads one response.
async fn exchange(stream: &mut TcpStream, raw: &[u8]) -> common::Resp {
    stream.write_all(raw).await.unwrap();
    read_response(stream).await
}

/// Reads one whole response (head, then `Content-Length` bytes of body).
async fn read_response(stream: &mut TcpStream) -> common::Resp {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = common::parse_response(&buf[..at + 4]);
            let length: usize = head
                .header("content-length")
                .map_or(0, |v| v.parse().unwrap());
            if buf.len() >= at + 4 + length {
                return common::parse_response(&buf[..at + 4 + length]);
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("a response within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "closed before a whole response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A kept-alive raw connection whose requests are written by hand (their
/// own `Host`): after an answer that says `Connection: close` the next
/// request goes on a new connection, as a client library's would.
struct Raw {
    addr: std::net::SocketAddr,
    stream: Option<TcpStream>,
    connects: u64,
}

impl Raw {
    fn new(addr: std::net::SocketAddr) -> Raw {
        Raw {
            addr,
            stream: None,
            connects: 0,
        }
    }

    async fn exchange(&mut self, raw: &[u8]) -> common::Resp {
        if self.stream.is_none() {
            self.stream = Some(TcpStream::connect(self.addr).await.unwrap());
            self.connects += 1;
        }
        let resp = exchange(self.stream.as_mut().unwrap(), raw).await;
        if closes(&resp) {
            self.stream = None;
        }
        resp
    }
}

/// Whether the server closes `stream` (EOF) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut sink = [0u8; 1024];
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut sink)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            _ => {}
        }
    }
    false
}

/// RFC 9112 §3.2: two `Host` headers, or one that is not a host and port
/// (`a b`, user info), are a 400 on a kept-alive connection, which goes
/// on; a valid one of any name is served.
#[tokio::test]
async fn host_headers_by_rfc_9112() {
    let app = TestApp::spawn().await;
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    for (host_lines, needle) in [
        (
            "Host: a.example\r\nHost: b.example\r\n",
            "more than one Host",
        ),
        ("Host: a b\r\n", "Host header must be"),
        ("Host: u@a.example\r\n", "Host header must be"),
        ("Host: a.example:8o\r\n", "Host header must be"),
    ] {
        let raw = format!("GET /reviews/2/meta HTTP/1.1\r\n{host_lines}\r\n");
        let resp = exchange(&mut conn, raw.as_bytes()).await;
        assert_eq!(resp.status, 400, "{host_lines:?}");
        assert!(
            resp.error().contains(needle),
            "{host_lines:?}: {}",
            resp.error()
        );
        assert!(!closes(&resp));
    }
    for host in ["shop.example:8080", "[::1]", "127.0.0.1"] {
        let raw = format!("GET /reviews/2/meta HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let resp = exchange(&mut conn, raw.as_bytes()).await;
        assert_eq!(resp.status, 200, "{host}");
        assert_eq!(resp.json()["product_id"], 2);
    }
    // HTTP/1.0 needs no Host, but two are still two.
    let old = exchange(
        &mut conn,
        b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\nHost: a\r\nHost: b\r\n\r\n",
    )
    .await;
    assert_eq!(old.status, 400);
}

/// The service's own origins are configuration, never the request's
/// `Host`: a page served from any name that resolves to the service (DNS
/// rebinding) sends that name in both, and is refused (403) with nothing
/// stored; the listen address's origin is the service's own by default,
/// whatever `Host` says, and `--public-origins` replaces it.
#[tokio::test]
async fn own_origins_come_from_configuration_not_from_host() {
    let app = TestApp::spawn().await;
    let port = app.addr.port();
    let before = total(&app, 5).await;
    let review_id = common::visible_reviews(&app.generator(), 5)[0].review_id;
    let votes = helpfulness(&app, review_id, 5).await;
    let mut conn = Raw::new(app.addr);
    let body = review(5, "Rebound");
    let write = |method: &str, path: &str, host: &str, origin: &str, body: &[u8]| {
        let mut raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        raw
    };
    let rebound = format!("evil.example:{port}");
    let rebound_origin = format!("http://evil.example:{port}");
    let vote = format!("/reviews/{review_id}/helpful");
    for (method, path, body) in [("POST", "/reviews/5", &body[..]), ("PUT", &vote[..], b"")] {
        let resp = conn
            .exchange(&write(method, path, &rebound, &rebound_origin, body))
            .await;
        assert_eq!(resp.status, 403, "{method} {path}");
        assert!(
            resp.error().contains("--public-origins"),
            "{}",
            resp.error()
        );
        assert_eq!(resp.header("access-control-allow-origin"), None);
    }
    assert_eq!(total(&app, 5).await, before, "nothing stored");
    assert_eq!(helpfulness(&app, review_id, 5).await, votes, "no vote");

    // The listen address is the service's own origin, whatever Host says.
    let own = format!("http://127.0.0.1:{port}");
    let resp = conn
        .exchange(&write("POST", "/reviews/5", &rebound, &own, &body))
        .await;
    assert_eq!(resp.status, 201, "{}", String::from_utf8_lossy(&resp.body));
    let localhost = format!("http://localhost:{port}");
    let resp = conn
        .exchange(&write("PUT", &vote, "127.0.0.1", &localhost, b""))
        .await;
    assert_eq!(resp.status, 204, "localhost on the listen port");
    assert_eq!(total(&app, 5).await, before + 1);

    // Behind a proxy: the public origin is named, and replaces the default.
    let proxied = TestApp::start(Options {
        public_origins: vec!["https://shop.example.com".into()],
        ..Options::default()
    })
    .await;
    let before = total(&proxied, 5).await;
    let mut conn = Raw::new(proxied.addr);
    let shop = "https://shop.example.com";
    let public = conn
        .exchange(&write(
            "POST",
            "/reviews/5",
            "shop.example.com",
            shop,
            &body,
        ))
        .await;
    assert_eq!(public.status, 201);
    assert_eq!(public.header("access-control-allow-origin"), Some(shop));
    let direct = format!("http://{}", proxied.addr);
    let host = proxied.addr.to_string();
    let refused = conn
        .exchange(&write("POST", "/reviews/5", &host, &direct, &body))
        .await;
    assert_eq!(refused.status, 403, "the listen address is no longer named");
    assert_eq!(total(&proxied, 5).await, before + 1);
    // A refused write's unread body ends its connection, openly; until
    // then one connection served every request.
    assert!(closes(&refused));
    assert_eq!(conn.connects, 1);
}

/// RFC 9112 §6.1: `chunked` twice, in one field or in two, is a 400 that
/// closes the connection (a proxy may frame such a body otherwise), and
/// stores nothing; two `Content-Type` on a write or two `Authorization`
/// on an admin call are a 400, not "the first wins".
#[tokio::test]
async fn ambiguous_framing_and_repeated_fields_are_refused() {
    let app = TestApp::spawn().await;
    let before = total(&app, 6).await;
    let body = review(6, "Chunked twice");
    for codings in [
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let mut conn = TcpStream::connect(app.addr).await.unwrap();
        let raw = [
            format!(
                "POST /reviews/6 HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n\
                 {codings}\r\n{:x}\r\n",
                body.len()
            )
            .into_bytes(),
            body.clone(),
            b"\r\n0\r\n\r\n".to_vec(),
        ]
        .concat();
        let resp = exchange(&mut conn, &raw).await;
        assert_eq!(resp.status, 400, "{codings:?}");
        assert!(
            resp.error().contains("chunked more than once"),
            "{}",
            resp.error()
        );
        assert!(closes(&resp), "{codings:?}: said closed");
        assert!(
            closed_within(&mut conn, Duration::from_secs(5)).await,
            "{codings:?}: and closed"
        );
    }
    assert_eq!(total(&app, 6).await, before, "nothing stored");

    let mut client = KeepAlive::new(app.addr);
    let two_types = client
        .send(
            "POST",
            "/reviews/6",
            &[
                ("Content-Type", "application/json"),
                ("Content-Type", "text/plain"),
            ],
            &body,
        )
        .await
        .unwrap();
    assert_eq!(two_types.status, 400);
    assert!(two_types.error().contains("more than one Content-Type"));
    assert!(
        closes(&two_types),
        "its body unread, the connection ends openly"
    );
    assert_eq!(total(&app, 6).await, before, "nothing stored");
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let two_tokens = client
        .send(
            "GET",
            "/admin/reported",
            &[
                ("Authorization", &bearer),
                ("Authorization", "Bearer guess"),
            ],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(two_tokens.status, 400);
    assert!(two_tokens.error().contains("more than one Authorization"));
    let one_token = client
        .send(
            "GET",
            "/admin/reported?limit=1",
            &[("Authorization", &bearer)],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(one_token.status, 200);
    assert_eq!(client.connects, 2, "one connection after the refused body");
}

/// The head deadline starts with the first byte of each request on a
/// connection: a partial request sent behind a complete one is closed at
/// the client timeout, not held for the idle timeout. A kept-alive
/// connection with nothing pending (after a read, or a write with a body)
/// is not: it stays open past the client timeout.
#[tokio::test]
async fn a_partial_request_behind_a_complete_one_meets_the_head_deadline() {
    let app = TestApp::start(Options {
        client_timeout_ms: 1000,
        ..Options::default()
    })
    .await;
    let mut behind = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    let first = exchange(
        &mut behind,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHo",
    )
    .await;
    assert_eq!(first.status, 200);
    assert!(
        closed_within(&mut behind, Duration::from_secs(10)).await,
        "held for the idle timeout"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));

    // Idle kept-alive connections, after a read and after a write, are not
    // pending heads: each answers again past the client timeout.
    let mut client = KeepAlive::new(app.addr);
    assert_eq!(client.get("/reviews/2/meta").await.unwrap().status, 200);
    let mut writer = KeepAlive::new(app.addr);
    let posted = writer
        .send(
            "POST",
            "/reviews/2",
            &[("Content-Type", "application/json")],
            &review(2, "Kept alive"),
        )
        .await
        .unwrap();
    assert_eq!(posted.status, 201);
    // And a request whose head arrives in pieces, the last ending it.
    let mut pieces = TcpStream::connect(app.addr).await.unwrap();
    pieces
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(exchange(&mut pieces, b"\r\n").await.status, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(client.get("/healthz").await.unwrap().status, 200);
    assert_eq!(writer.get("/healthz").await.unwrap().status, 200);
    assert_eq!((client.connects, writer.connects), (1, 1), "kept alive");
    let again = exchange(&mut pieces, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(again.status, 200);
}

/// A summary of lone combining marks shows nothing, so it is blank (422)
/// and nothing is stored; a mark on a letter is text.
#[tokio::test]
async fn a_summary_of_marks_alone_is_blank() {
    let app = TestApp::spawn().await;
    let before = total(&app, 9).await;
    let mut client = KeepAlive::new(app.addr);
    for (summary, status) in [
        ("\u{0301}", 422),
        (" \u{0301}\u{0301} ", 422),
        ("Cafe\u{0301} quality", 201),
    ] {
        let resp = client
            .send(
                "POST",
                "/reviews/9",
                &[("Content-Type", "application/json")],
                &review(9, summary),
            )
            .await
            .unwrap();
        assert_eq!(resp.status, status, "{summary:?}");
        if status == 422 {
            assert_eq!(resp.error(), "summary must not be blank");
        }
    }
    assert_eq!(total(&app, 9).await, before + 1, "only the accented one");
    assert_eq!(client.connects, 1);
}

/// What `docs/api.md` says, the service does: method before token and
/// origin on admin paths (405), an admin read from a foreign page (403),
/// `limit` twice (400), every query key decoded alike (`min%5Fversion`),
/// methods the server does not recognize (501, lowercase ones too) apart
/// from known ones a path does not take (405 with `Allow`).
#[tokio::test]
async fn the_service_answers_as_the_docs_say() {
    let app = TestApp::spawn().await;
    let mut client = KeepAlive::new(app.addr);
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let auth = ("Authorization", bearer.as_str());

    let post = client
        .send("POST", "/admin/reported", &[], b"")
        .await
        .unwrap();
    assert_eq!(post.status, 405, "method before token");
    assert_eq!(post.header("allow"), Some("GET, HEAD, OPTIONS"));
    let foreign = client
        .send(
            "GET",
            "/admin/reported",
            &[auth, ("Origin", "https://evil.example")],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(foreign.status, 403, "an admin read from a foreign page");
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    let own = format!("http://{}", app.addr);
    let from_own = client
        .send(
            "GET",
            "/admin/reported?limit=1",
            &[auth, ("Origin", &own)],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(from_own.status, 200);
    assert!(from_own.json()["results"].is_array());
    let twice = client
        .send("GET", "/admin/reported?limit=1&limit=2", &[auth], b"")
        .await
        .unwrap();
    assert_eq!(twice.status, 400);
    assert!(twice.error().contains("limit is given more than once"));

    let encoded = client.get("/reviews/2?min%5Fversion=abc").await.unwrap();
    assert_eq!(encoded.status, 400, "keys are decoded alike");
    assert!(encoded.error().starts_with("min_version must be"));
    let meta = client
        .get("/reviews/2/meta?min%5fversion=2%3A1")
        .await
        .unwrap();
    assert_eq!(meta.status, 200);

    for method in ["BREW", "get", "Post"] {
        let resp = client.send(method, "/reviews/2", &[], b"").await.unwrap();
        assert_eq!(resp.status, 501, "{method}");
        assert!(
            resp.error().contains("not one this server recognizes"),
            "{method}"
        );
    }
    for method in ["PATCH", "DELETE", "QUERY", "TRACE"] {
        let resp = client
            .send(method, "/reviews/2/meta", &[], b"")
            .await
            .unwrap();
        assert_eq!(resp.status, 405, "{method}");
        assert_eq!(resp.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
    assert_eq!(client.connects, 1, "one kept-alive connection");
}

/// One rule for `q`: a search without words — blank, a no-break space, a
/// zero-width space, punctuation, emoji — is no search (the whole page);
/// a word has 2 to 32 letters or digits as sent (`ß` is one letter, however
/// it folds).
#[tokio::test]
async fn searches_without_words_are_no_search_and_words_count_as_sent() {
    let app = TestApp::spawn().await;
    let mut client = KeepAlive::new(app.addr);
    let unfiltered = client.get("/reviews/2?count=3").await.unwrap().json();
    for q in [
        "%20",
        "%C2%A0",
        "%E2%80%8B",
        "%21%3F%2E",
        "%F0%9F%98%80%F0%9F%91%8D",
        "-",
    ] {
        let resp = client
            .get(&format!("/reviews/2?count=3&q={q}"))
            .await
            .unwrap();
        assert_eq!(
            resp.status,
            200,
            "q={q}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        assert_eq!(resp.json(), unfiltered, "q={q} is no search");
    }
    let one = client.get("/reviews/2?q=%C3%9F").await.unwrap();
    assert_eq!(one.status, 400);
    assert!(one.error().contains("(1)"), "{}", one.error());
    let longest = "%C3%9F".repeat(32);
    let resp = client
        .get(&format!("/reviews/2?q={longest}"))
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "32 letters as sent, 64 folded");
    assert_eq!(resp.json()["total"], 0);
    let resp = client
        .get(&format!("/reviews/2?q={longest}%C3%9F"))
        .await
        .unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(client.connects, 1);
}
