//! The request parser and answers shared by the HTTP benchmark's
//! hand-written servers (`http_mio`, `http_tokio`, `http_may`): the same
//! logic and bytes as `examples/http_hello.rs`, so the servers differ only
//! in how they wait for sockets.

use std::mem::MaybeUninit;

/// The answer to every request (89 bytes).
pub const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nServer: green\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
/// The answer to a malformed request, before closing.
pub const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// The answer to a chunked request, before closing.
pub const NOT_IMPLEMENTED: &[u8] =
    b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// Most headers a request may carry.
pub const MAX_HEADERS: usize = 32;
/// Largest request head accepted before answering 400.
pub const MAX_HEAD: usize = 64 * 1024;

/// What one parsed request asks of the connection.
#[derive(Debug)]
pub enum Parsed {
    /// A whole request of this many bytes (head and body).
    Request {
        /// Bytes of the request, head and body.
        len: usize,
        /// Whether the connection stays open after the answer.
        keep_alive: bool,
    },
    /// More bytes are needed.
    Partial,
    /// Answer with this and close.
    Reject(&'static [u8]),
}

/// Parses the request at the start of `buf` (the parser of
/// `examples/http_hello.rs`).
pub fn parse(buf: &[u8]) -> Parsed {
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

/// Answers every complete request at the start of `buf` into `out`, as
/// the example does; returns how many bytes of `buf` they took and whether
/// the connection must close after the answers (asked by the client, or a
/// rejected request). Stops at an incomplete request.
pub fn answer(buf: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
    let mut start = 0;
    while start < buf.len() {
        match parse(&buf[start..]) {
            Parsed::Request { len, keep_alive } => {
                out.extend_from_slice(HELLO);
                start += len;
                if !keep_alive {
                    return (start, true);
                }
            }
            Parsed::Partial => break,
            Parsed::Reject(answer) => {
                out.extend_from_slice(answer);
                return (start, true);
            }
        }
    }
    (start, false)
}
