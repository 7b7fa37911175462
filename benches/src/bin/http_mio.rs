//! The floor of the HTTP benchmark: a hand-written single-threaded mio
//! HTTP/1.1 loop answering `Hello, World!` with the same bytes as
//! `examples/http_hello.rs`.
//!
//! Every socket is registered once for readable and writable
//! (edge-triggered, never re-armed). On an event the loop reads until
//! `WouldBlock`, parses every complete request with `httparse` (the same
//! parsing as the example: keep-alive, pipelining, a `Content-Length` body
//! skipped, `Transfer-Encoding` answered 501, a malformed request 400) and
//! answers all of them in one write. A write that does not complete keeps
//! its rest and stops reading until the socket is writable again.
//!
//! ```text
//! http_mio 127.0.0.1:0        # prints `listening on ADDR`
//! ```

use std::io::{self, ErrorKind, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

use green_benches::http::answer;

struct Conn {
    sock: TcpStream,
    /// Request bytes read, `buf[..filled]`.
    buf: Vec<u8>,
    filled: usize,
    /// Answers not yet written, `out[written..]`.
    out: Vec<u8>,
    written: usize,
    /// Close once `out` is written.
    closing: bool,
}

impl Conn {
    fn new(sock: TcpStream) -> Conn {
        Conn {
            sock,
            buf: vec![0; 8 * 1024],
            filled: 0,
            out: Vec::with_capacity(8 * 1024),
            written: 0,
            closing: false,
        }
    }

    /// Writes `out` out; `Ok(true)` when all of it went.
    fn flush(&mut self) -> io::Result<bool> {
        while self.written < self.out.len() {
            match self.sock.write(&self.out[self.written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.written = 0;
        Ok(true)
    }

    /// Answers every complete request in `buf` into `out` and drops them
    /// from `buf`.
    fn answer(&mut self) {
        if self.closing {
            return;
        }
        let (start, close) = answer(&self.buf[..self.filled], &mut self.out);
        self.closing = close;
        self.buf.copy_within(start..self.filled, 0);
        self.filled -= start;
    }

    /// Handles one event; `Ok(false)` when the connection is finished.
    fn service(&mut self) -> io::Result<bool> {
        if !self.flush()? {
            return Ok(true);
        }
        if self.closing {
            return Ok(false);
        }
        let mut eof = false;
        loop {
            if self.filled == self.buf.len() {
                // Make room by answering what is complete; grow only for a
                // request larger than the buffer.
                self.answer();
                if self.closing {
                    break;
                }
                if self.filled == self.buf.len() {
                    self.buf.resize(self.buf.len() * 2, 0);
                }
            }
            match self.sock.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.answer();
        let done = self.flush()?;
        Ok(!(eof || done && self.closing))
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
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
                            conns[key] = Some(Conn::new(sock));
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
            if !conn.service().unwrap_or(false) {
                if let Some(mut conn) = conns[key].take() {
                    poll.registry().deregister(&mut conn.sock)?;
                }
                free.push(key);
            }
        }
    }
}
