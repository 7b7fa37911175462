//! Echo server: every byte a client sends comes back, one greenlet per
//! connection, with `StreamServer`.
//!
//! ```text
//! cargo run --release --example echo -- 127.0.0.1:7000
//! ```
//!
//! The first line of output is `listening on ADDR` with the real address
//! (pass port 0 to let the system pick one). Try it with
//! `ncat 127.0.0.1 7000`.

use std::io;

use green::net::{StreamServer, TcpStream};

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let server = StreamServer::bind(addr.as_str(), |conn: TcpStream, _peer| {
        // `&TcpStream` reads and writes: one stream is both ends of the
        // copy. `green::io::copy` is `std::io::copy` for green sockets that
        // waits for data without holding a buffer (std's would do too,
        // with an 8 KiB buffer on each greenlet's stack).
        green::io::copy(&mut &conn, &mut &conn).map(drop)
    })?;
    println!("listening on {}", server.local_addr()?);
    server.serve_forever()
}
