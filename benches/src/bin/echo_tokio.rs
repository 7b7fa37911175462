//! Echo server on tokio: one task per connection, a read / `write_all`
//! loop with an 8 KiB buffer (the size of std's `io::copy` buffer that the
//! green server uses).
//!
//! ```text
//! echo_tokio 127.0.0.1:0          # current-thread runtime
//! echo_tokio 127.0.0.1:0 multi    # multi-thread runtime (one worker per core)
//! ```
//!
//! Prints `listening on ADDR`.

use std::io::{self, Write};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn serve(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 8192];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n]).await?;
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
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7000".into());
    let rt = match args.next().as_deref() {
        Some("multi") => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    };
    rt.block_on(run(addr))
}
