//! The floor of the echo benchmark: a hand-written single-threaded mio
//! loop. Every socket is registered once for readable and writable
//! (edge-triggered, never re-armed); on an event the loop reads with one
//! buffer shared by every connection until `WouldBlock` and writes each
//! chunk straight back. A write that does not complete keeps its rest and
//! stops reading until the socket is writable again.
//!
//! The buffer is 64 KiB, the size of the pooled buffer the green server's
//! `green::io::copy` reads into, so the floor makes the same reads and
//! writes; until session 5 both read 8 KiB (std's `io::copy` size), which
//! the second argument restores.
//!
//! ```text
//! echo_mio 127.0.0.1:0        # prints `listening on ADDR`
//! echo_mio 127.0.0.1:0 8192   # the same with an 8 KiB buffer
//! ```

use std::io::{self, ErrorKind, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    sock: TcpStream,
    /// Bytes read but not yet written back.
    pending: Vec<u8>,
}

/// Writes `pending` out; `Ok(true)` when all of it went.
fn flush(conn: &mut Conn) -> io::Result<bool> {
    while !conn.pending.is_empty() {
        match conn.sock.write(&conn.pending) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                conn.pending.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Handles one event; `Ok(false)` when the connection is finished.
fn service(conn: &mut Conn, buf: &mut [u8]) -> io::Result<bool> {
    if !flush(conn)? {
        return Ok(true);
    }
    loop {
        match conn.sock.read(buf) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                let mut off = 0;
                while off < n {
                    match conn.sock.write(&buf[off..n]) {
                        Ok(0) => return Err(ErrorKind::WriteZero.into()),
                        Ok(w) => off += w,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            conn.pending.extend_from_slice(&buf[off..n]);
                            return Ok(true);
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7000".into());
    let buf_size: usize = match args.next() {
        None => 64 * 1024,
        Some(n) => n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
            io::Error::new(
                ErrorKind::InvalidInput,
                "buffer size: a positive number of bytes",
            )
        })?,
    };
    let addr = addr
        .parse()
        .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
    let mut listener = TcpListener::bind(addr)?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;

    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; buf_size];
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in &events {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut sock, _)) => {
                            sock.set_nodelay(true)?;
                            let key = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry().register(
                                &mut sock,
                                Token(key),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            conns[key] = Some(Conn {
                                sock,
                                pending: Vec::new(),
                            });
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let key = event.token().0;
            let Some(conn) = conns.get_mut(key).and_then(Option::as_mut) else {
                continue;
            };
            if !service(conn, &mut buf).unwrap_or(false) {
                if let Some(mut conn) = conns[key].take() {
                    poll.registry().deregister(&mut conn.sock)?;
                }
                free.push(key);
            }
        }
    }
}
