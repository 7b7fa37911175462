//! Discard server: reads and counts every byte of a connection and, when
//! it ends, prints `received N bytes from PEER` (the `ncat | dd
//! of=/dev/null` of the seed talk), one greenlet per connection.
//!
//! ```text
//! cargo run --release --example discard -- 127.0.0.1:7001
//! ```
//!
//! The first line of output is `listening on ADDR`.

use std::io::{self, Read};

use green::net::{StreamServer, TcpStream};

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7001".into());
    let server = StreamServer::bind(addr.as_str(), |mut conn: TcpStream, peer| {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        let result = loop {
            match conn.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        println!("received {total} bytes from {peer}");
        result
    })?;
    println!("listening on {}", server.local_addr()?);
    server.serve_forever()
}
