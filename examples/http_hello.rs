//! HTTP/1.1 plaintext server: answers every request with `Hello, World!`,
//! one greenlet per connection, with keep-alive and pipelining; the request
//! parser is `httparse`.
//!
//! ```text
//! cargo run --release --example http_hello -- 127.0.0.1:8080
//! wrk -t1 -c64 -d10s http://127.0.0.1:8080/
//! ```
//!
//! The first line of output is `listening on ADDR` (pass port 0 to let the
//! system pick one).
//!
//! Pipelining: every complete request in what one read returned is
//! answered, and all the answers go out in one write. A request with a body
//! (`Content-Length`, up to 1 MiB, else `413` and the connection closed)
//! has the body skipped once it is all there; `Transfer-Encoding` is not
//! supported and gets `501`. A malformed request gets `400` and the
//! connection is closed (after a short linger that reads and drops what
//! the client still sends, so the answer is not lost to a reset), as is
//! one that asks for `Connection: close` (or is HTTP/1.0 without
//! `keep-alive`).

use std::cell::Cell;
use std::io::{self, BufRead, Read, Write};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::time::Duration;

use green::io::BufReader;
use green::net::{StreamServer, TcpStream};

const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nServer: green\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const NOT_IMPLEMENTED: &[u8] =
    b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const TOO_LARGE: &[u8] =
    b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// Most headers a request may carry.
const MAX_HEADERS: usize = 32;
/// Largest request head accepted before answering 400.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted (it is buffered whole, then skipped)
/// before answering 413: a `Content-Length` is the client's word, and the
/// reader's buffer grows to hold it.
const MAX_BODY: usize = 1024 * 1024;

/// What one parsed request asks of the connection.
enum Parsed {
    /// A whole request of this many bytes (head and body).
    Request { len: usize, keep_alive: bool },
    /// More bytes are needed.
    Partial,
    /// Answer with this and close.
    Reject(&'static [u8]),
}

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
    let http10 = req.version == Some(0);
    let mut keep_alive = !http10;
    let mut body = 0usize;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            let v = h.value;
            if v.eq_ignore_ascii_case(b"close") {
                keep_alive = false;
            } else if v.eq_ignore_ascii_case(b"keep-alive") {
                keep_alive = true;
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(n) if n <= MAX_BODY => body = n,
                Some(_) => return Parsed::Reject(TOO_LARGE),
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

thread_local! {
    /// The answers to one read's requests, shared by every connection of
    /// the thread: filled, written and emptied before the next read, so it
    /// stays one hot buffer instead of one per connection.
    static OUT: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Serves one connection until the client closes it or asks to.
///
/// The request bytes go through `green::io::BufReader`, which holds a
/// pooled buffer only while a request is incomplete: a connection waiting
/// for its next request holds no buffer at all.
fn serve(conn: TcpStream) -> io::Result<()> {
    let mut requests = BufReader::new(&conn);
    loop {
        if requests.fill_more()? == 0 {
            return Ok(()); // the client closed
        }
        // A greenlet whose write parked still holds the shared buffer; the
        // others meanwhile get a new one.
        let mut out = OUT.take();
        let mut start = 0;
        let mut close = false;
        let mut rejected = false;
        let buf = requests.buffer();
        while start < buf.len() {
            match parse(&buf[start..]) {
                Parsed::Request { len, keep_alive } => {
                    out.extend_from_slice(HELLO);
                    start += len;
                    if !keep_alive {
                        close = true;
                        break;
                    }
                }
                Parsed::Partial => break,
                Parsed::Reject(answer) => {
                    out.extend_from_slice(answer);
                    close = true;
                    rejected = true;
                    break;
                }
            }
        }
        requests.consume(start);
        let written = if out.is_empty() {
            Ok(())
        } else {
            (&conn).write_all(&out)
        };
        out.clear();
        // A burst of pipelined requests may have grown it; do not keep a
        // large buffer for ever.
        if out.capacity() > 64 * 1024 {
            out = Vec::new();
        }
        OUT.set(out);
        written?;
        if rejected {
            linger_close(&conn);
        }
        if close {
            return Ok(());
        }
    }
}

/// Closes a connection that may still have unread input (a rejected
/// request's rest) gently: closing with unread input makes the kernel send
/// a reset, which can destroy the answer before the client has read it.
/// Half-closes, then reads and drops what the client still sends, for at
/// most half a second and 256 KiB.
#[cold]
#[inline(never)]
fn linger_close(conn: &TcpStream) {
    if conn.shutdown(Shutdown::Write).is_err()
        || conn
            .set_read_timeout(Some(Duration::from_millis(500)))
            .is_err()
    {
        return;
    }
    let mut sink = [0u8; 4096];
    let mut budget = 256 * 1024usize;
    while budget > 0 {
        match (&*conn).read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => budget = budget.saturating_sub(n),
        }
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let server = StreamServer::bind(addr.as_str(), |conn: TcpStream, _peer| serve(conn))?;
    println!("listening on {}", server.local_addr()?);
    server.serve_forever()
}
