//! One kept-alive HTTP/1.1 connection: requests go out one at a time on the
//! same socket, each response read by its `Content-Length`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A connection kept open across requests.
pub struct KeepAlive {
    stream: BufReader<TcpStream>,
}

impl KeepAlive {
    /// Opens a connection to `addr`.
    pub async fn connect(addr: SocketAddr) -> KeepAlive {
        let stream = TcpStream::connect(addr).await.expect("connect");
        KeepAlive {
            stream: BufReader::new(stream),
        }
    }

    /// `GET path` on this connection: the status and the body.
    pub async fn get(&mut self, path: &str) -> (u16, Vec<u8>) {
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let exchange = async {
            self.stream.get_mut().write_all(head.as_bytes()).await?;
            let mut line = String::new();
            self.stream.read_line(&mut line).await?;
            let status = line.split(' ').nth(1).and_then(|s| s.parse().ok());
            let mut length = 0;
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                if line.trim_end().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            self.stream.read_exact(&mut body).await?;
            std::io::Result::Ok((status.expect("a status line"), body))
        };
        tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .expect("response within 10 s")
            .expect("kept-alive exchange")
    }
}
