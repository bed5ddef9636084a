//! The benchmarks' yardstick: a bare hyper 1.x server on the same tokio
//! runtime settings that answers every request with one fixed JSON body of
//! a chosen size. Usage: `bare_hyper ADDR BODY_BYTES`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3001".into());
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    // {"pad":"xxx…"} padded to exactly `size` bytes (at least the braces).
    let pad = size.saturating_sub(r#"{"pad":""}"#.len());
    let body = Bytes::from(format!(r#"{{"pad":"{}"}}"#, "x".repeat(pad)));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "bare hyper listening on http://{} ({} byte body)",
        listener.local_addr()?,
        body.len()
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_req| {
                let mut reply = Response::new(Full::new(Bytes::clone(&body)));
                reply
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                async move { Ok::<_, Infallible>(reply) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
