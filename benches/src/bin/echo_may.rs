//! Echo server on may with one worker thread (`may::config().set_workers(1)`,
//! like green's one hub): one coroutine per connection, a read /
//! `write_all` loop with an 8 KiB buffer (the size of std's `io::copy`
//! buffer that the green server uses).
//!
//! ```text
//! echo_may 127.0.0.1:0        # prints `listening on ADDR`
//! ```

use std::io::{self, Read, Write};

use may::net::{TcpListener, TcpStream};

fn serve(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 8192];
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n])?;
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    may::config().set_workers(1).set_stack_size(64 * 1024);
    let listener = TcpListener::bind(addr.as_str())?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    let acceptor = may::go!(move || -> io::Result<()> {
        for conn in listener.incoming() {
            let conn = conn?;
            conn.set_nodelay(true)?;
            may::go!(move || serve(conn));
        }
        Ok(())
    });
    acceptor
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the acceptor panicked")))
}
