//! The HTTP benchmark's tokio server: a current-thread runtime, a task per
//! connection running the same loop as `examples/http_hello.rs` (read,
//! answer every complete request in what was read with `httparse`, write
//! all the answers with one `write_all`), the same response bytes.
//!
//! ```text
//! http_tokio 127.0.0.1:0      # prints `listening on ADDR`
//! ```

use std::io::{self, Write};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use green_benches::http::answer;

/// Serves one connection until the client closes it or asks to.
async fn serve(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 8 * 1024];
    let mut filled = 0;
    let mut out = Vec::with_capacity(8 * 1024);
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = conn.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let (start, close) = answer(&buf[..filled], &mut out);
        if !out.is_empty() {
            conn.write_all(&out).await?;
            out.clear();
        }
        if close {
            return Ok(());
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
}

async fn run(addr: String) -> io::Result<()> {
    let listener = TcpListener::bind(addr.as_str()).await?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    loop {
        let (conn, _) = listener.accept().await?;
        conn.set_nodelay(true)?;
        tokio::spawn(serve(conn));
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(addr))
}
