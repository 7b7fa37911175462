//! Echo server on may with one worker thread (`may::config().set_workers(1)`,
//! like green's one hub): one coroutine per connection, a read /
//! `write_all` loop with an 8 KiB buffer (the size of std's `io::copy`
//! buffer that the green server uses).
//!
//! ```text
//! echo_may 127.0.0.1:0        # prints `listening on ADDR`
//! ```

use std::io::{self, Read, Write};

use may::net::TcpStream;

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
    green_benches::may_serve("127.0.0.1:7000", serve)
}
