//! Echo server on green: the code of `examples/echo.rs` (one greenlet per
//! connection from `StreamServer`, `green::io::copy` from the stream to
//! itself through `&TcpStream`, which waits for data holding no buffer and
//! borrows a pooled 64 KiB one to move it), plus `TCP_NODELAY`, which every
//! echo server of the benchmark sets: without it a 16 KiB message echoed in
//! two 8 KiB writes waits for the client's delayed ACK (40 ms) before its
//! second half goes out.
//!
//! With a second argument `std`, the copy is `std::io::copy` instead (an
//! 8 KiB buffer on each greenlet's stack for the whole connection), for
//! the A/B in `docs/PERFORMANCE.md`.
//!
//! ```text
//! echo_green 127.0.0.1:0              # prints `listening on ADDR`
//! echo_green 127.0.0.1:0 std          # the same with std::io::copy
//! ```

use std::io::{self, Write};

use green_net::{StreamServer, TcpStream};

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7000".into());
    let std_copy = match args.next().as_deref() {
        None => false,
        Some("std") => true,
        Some(other) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown variant {other:?} (expected `std`)"),
            ))
        }
    };
    let server = StreamServer::bind(addr.as_str(), move |conn: TcpStream, _peer| {
        conn.set_nodelay(true)?;
        if std_copy {
            io::copy(&mut &conn, &mut &conn).map(drop)
        } else {
            green_net::io::copy(&mut &conn, &mut &conn).map(drop)
        }
    })?;
    println!("listening on {}", server.local_addr()?);
    io::stdout().flush()?;
    server.serve_forever()
}
