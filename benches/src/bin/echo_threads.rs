//! Echo server with std threads: one OS thread per connection, a blocking
//! read / `write_all` loop with an 8 KiB buffer (the size of std's
//! `io::copy` buffer that the green server uses).
//!
//! ```text
//! echo_threads 127.0.0.1:0    # prints `listening on ADDR`
//! ```

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};

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
    let listener = TcpListener::bind(addr.as_str())?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    for conn in listener.incoming() {
        let conn = conn?;
        conn.set_nodelay(true)?;
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || serve(conn))?;
    }
    Ok(())
}
