//! Echo server on green: the code of `examples/echo.rs` (one greenlet per
//! connection from `StreamServer`, `io::copy` from the stream to itself
//! through `&TcpStream`, std's 8 KiB copy buffer on the greenlet's stack),
//! plus `TCP_NODELAY`, which every echo server of the benchmark sets:
//! without it a 16 KiB message echoed in two 8 KiB writes waits for the
//! client's delayed ACK (40 ms) before its second half goes out.
//!
//! ```text
//! echo_green 127.0.0.1:0              # prints `listening on ADDR`
//! ```

use std::io::{self, Write};

use green_net::{StreamServer, TcpStream};

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let server = StreamServer::bind(addr.as_str(), |conn: TcpStream, _peer| {
        conn.set_nodelay(true)?;
        io::copy(&mut &conn, &mut &conn).map(drop)
    })?;
    println!("listening on {}", server.local_addr()?);
    io::stdout().flush()?;
    server.serve_forever()
}
