//! The HTTP benchmark's hyper server: tokio current-thread, a task per
//! connection serving hyper 1.x's HTTP/1.1 connection with a service that
//! answers every request `Hello, World!` (a `Full<Bytes>` body, `Server` and
//! `Content-Type` as `examples/http_hello.rs` sends them; hyper adds
//! `content-length` and `date`). Pipelined answers are flushed together
//! (`pipeline_flush(true)`), as hyper's own benchmark setups do.
//!
//! ```text
//! http_hyper 127.0.0.1:0      # prints `listening on ADDR`
//! ```

use std::convert::Infallible;
use std::io::{self, Write};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
    let headers = resp.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static("green"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

async fn run(addr: String) -> io::Result<()> {
    let listener = TcpListener::bind(addr.as_str()).await?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    loop {
        let (conn, _) = listener.accept().await?;
        conn.set_nodelay(true)?;
        tokio::spawn(async move {
            // A connection error (a reset, a malformed request) ends only
            // that connection.
            let _ = http1::Builder::new()
                .pipeline_flush(true)
                .serve_connection(TokioIo::new(conn), service_fn(hello))
                .await;
        });
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
