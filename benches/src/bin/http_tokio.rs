//! The HTTP benchmark's tokio server: a current-thread runtime, a task per
//! connection running the same loop as `examples/http_hello.rs` (read,
//! answer every complete request in what was read with `httparse`, write
//! all the answers with one `write_all`), the same response bytes.
//!
//! ```text
//! http_tokio 127.0.0.1:0      # prints `listening on ADDR`
//! ```

use std::io::{self, Write};
use std::mem::MaybeUninit;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nServer: green\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const NOT_IMPLEMENTED: &[u8] =
    b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// Most headers a request may carry.
const MAX_HEADERS: usize = 32;
/// Largest request head accepted before answering 400.
const MAX_HEAD: usize = 64 * 1024;

/// What one parsed request asks of the connection.
enum Parsed {
    /// A whole request of this many bytes (head and body).
    Request { len: usize, keep_alive: bool },
    /// More bytes are needed.
    Partial,
    /// Answer with this and close.
    Reject(&'static [u8]),
}

/// Parses the request at the start of `buf` (the example's parser).
fn parse(buf: &[u8]) -> Parsed {
    // Uninitialised slots: only the headers the request has are written
    // (an initialised array would be 1 KiB of stores per request).
    let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Parsed::Partial,
        Ok(httparse::Status::Partial) | Err(_) => return Parsed::Reject(BAD_REQUEST),
    };
    let mut keep_alive = req.version != Some(0);
    let mut body = 0usize;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            if h.value.eq_ignore_ascii_case(b"close") {
                keep_alive = false;
            } else if h.value.eq_ignore_ascii_case(b"keep-alive") {
                keep_alive = true;
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(n) => body = n,
                None => return Parsed::Reject(BAD_REQUEST),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Reject(NOT_IMPLEMENTED);
        }
    }
    match head_len.checked_add(body) {
        Some(len) if len <= buf.len() => Parsed::Request { len, keep_alive },
        Some(_) => Parsed::Partial,
        None => Parsed::Reject(BAD_REQUEST),
    }
}

/// Serves one connection until the client closes it or asks to.
async fn serve(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 8 * 1024];
    let mut filled = 0;
    let mut out = Vec::with_capacity(8 * 1024);
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = conn.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let mut start = 0;
        let mut close = false;
        while start < filled && !close {
            match parse(&buf[start..filled]) {
                Parsed::Request { len, keep_alive } => {
                    out.extend_from_slice(HELLO);
                    start += len;
                    close = !keep_alive;
                }
                Parsed::Partial => break,
                Parsed::Reject(answer) => {
                    out.extend_from_slice(answer);
                    close = true;
                }
            }
        }
        if !out.is_empty() {
            conn.write_all(&out).await?;
            out.clear();
        }
        if close {
            return Ok(());
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
}

async fn run(addr: String) -> io::Result<()> {
    let listener = TcpListener::bind(addr.as_str()).await?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    loop {
        let (conn, _) = listener.accept().await?;
        conn.set_nodelay(true)?;
        tokio::spawn(serve(conn));
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(addr))
}
