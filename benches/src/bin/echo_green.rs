//! Echo server on green: the code of `examples/echo.rs` (one greenlet per
//! connection from `StreamServer`, `io::copy` from the stream to itself
//! through `&TcpStream`, std's 8 KiB copy buffer), plus `TCP_NODELAY`,
//! which every echo server of the benchmark sets: without it a 16 KiB
//! message echoed in two 8 KiB writes waits for the client's delayed ACK
//! (40 ms) before its second half goes out.
//!
//! ```text
//! echo_green 127.0.0.1:0              # prints `listening on ADDR`
//! echo_green 127.0.0.1:0 shared-buf   # the experiment below
//! ```
//!
//! `shared-buf` is an experiment, not the benchmark: each greenlet reads
//! into one 8 KiB buffer shared by the whole thread (as the hand-written
//! mio loop does) instead of its own `io::copy` buffer on its stack, and
//! falls back to a buffer of its own only while another greenlet holds the
//! shared one across a write that had to wait. It measures what the
//! per-connection buffers cost in cache misses at 16 KiB messages.

use std::cell::RefCell;
use std::io::{self, Read, Write};

use green_net::{StreamServer, TcpStream};

const BUF: usize = 8 * 1024;

thread_local! {
    static SHARED: RefCell<Box<[u8]>> = RefCell::new(vec![0; BUF].into_boxed_slice());
}

/// One read and its echo; `Ok(false)` at end of stream.
fn echo_once(conn: &TcpStream, buf: &mut [u8]) -> io::Result<bool> {
    let n = (&mut &*conn).read(buf)?;
    if n == 0 {
        return Ok(false);
    }
    (&mut &*conn).write_all(&buf[..n])?;
    Ok(true)
}

fn echo_shared(conn: &TcpStream) -> io::Result<()> {
    loop {
        let more = SHARED.with(|shared| match shared.try_borrow_mut() {
            Ok(mut buf) => echo_once(conn, &mut buf),
            Err(_) => echo_once(conn, &mut [0; BUF]),
        })?;
        if !more {
            return Ok(());
        }
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7000".into());
    let shared = args.next().as_deref() == Some("shared-buf");
    let server = StreamServer::bind(addr.as_str(), move |conn: TcpStream, _peer| {
        conn.set_nodelay(true)?;
        if shared {
            echo_shared(&conn)
        } else {
            io::copy(&mut &conn, &mut &conn).map(drop)
        }
    })?;
    println!("listening on {}", server.local_addr()?);
    io::stdout().flush()?;
    server.serve_forever()
}
