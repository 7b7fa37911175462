//! Bulk downloader: fetches a list of `http://` URLs over green
//! `TcpStream`s with HTTP/1.1, N at a time, and prints each URL's status
//! and body size as it completes.
//!
//! ```text
//! cargo run --release --example download -- -n 4 http://127.0.0.1:8000/a http://127.0.0.1:8000/b
//! ```
//!
//! Output, one line per URL: `URL STATUS SIZE bytes`, or `URL error:
//! REASON`; then `fetched K of M URLs`. Host names resolve on the blocking
//! pool; bodies may be sized by `Content-Length`, chunked, or end at EOF.
//! `tests/net_examples.rs` runs it against a green HTTP file server.

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::rc::Rc;

use green::net::TcpStream;
use green::sync::Pool;

struct Url {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> io::Result<Url> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {why}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        match after.strip_prefix(':') {
            Some(p) => (h, p.parse().map_err(|_| bad("bad port"))?),
            None => (h, 80),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port"))?),
            None => (authority, 80),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(Url {
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}

/// Fetches `url`; returns the status code and the body size.
fn fetch(url: &str) -> io::Result<(u16, u64)> {
    let u = parse_url(url)?;
    let mut conn = TcpStream::connect((u.host.as_str(), u.port))?;
    write!(
        conn,
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: green-download\r\nConnection: close\r\n\r\n",
        u.path, u.host
    )?;

    // Read until the head parses.
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let (status, head_len, length, chunked) = loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the response head",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let mut length = None;
                let mut chunked = false;
                for h in resp.headers.iter() {
                    let v = String::from_utf8_lossy(h.value);
                    if h.name.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse::<u64>().ok();
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = v.to_ascii_lowercase().contains("chunked");
                    }
                }
                break (resp.code.unwrap_or(0), len, length, chunked);
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    };

    let rest = Cursor::new(buf.split_off(head_len));
    let mut body = BufReader::new(rest.chain(&conn));
    let size = if chunked {
        read_chunked(&mut body)?
    } else if let Some(len) = length {
        let got = io::copy(&mut (&mut body).take(len), &mut io::sink())?;
        if got != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("body ended after {got} of {len} bytes"),
            ));
        }
        got
    } else {
        io::copy(&mut body, &mut io::sink())?
    };
    Ok((status, size))
}

/// Reads a chunked body to its end; returns its decoded size.
fn read_chunked(r: &mut impl BufRead) -> io::Result<u64> {
    let mut total = 0;
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let size_hex = line.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size_hex, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(total);
                }
            }
        }
        let got = io::copy(&mut r.take(size), &mut io::sink())?;
        if got != size {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short chunk"));
        }
        total += size;
        line.clear();
        r.read_line(&mut line)?; // the CRLF after the chunk
    }
}

fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut at_once = 4usize;
    if args.first().map(String::as_str) == Some("-n") {
        if args.len() < 2 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "-n needs a number",
            ));
        }
        at_once = args[1]
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("-n: {e}")))?;
        args.drain(..2);
    }
    if args.is_empty() {
        eprintln!("usage: download [-n N] URL...");
        return Ok(());
    }

    // N at a time: the pool's `spawn` waits for a free slot.
    let pool = Pool::new(at_once.max(1));
    let ok = Rc::new(Cell::new(0usize));
    let total = args.len();
    for url in args {
        let ok = ok.clone();
        pool.spawn(move || match fetch(&url) {
            Ok((status, size)) => {
                ok.set(ok.get() + 1);
                println!("{url} {status} {size} bytes");
            }
            Err(e) => println!("{url} error: {e}"),
        });
    }
    pool.join();
    println!("fetched {} of {total} URLs", ok.get());
    Ok(())
}
