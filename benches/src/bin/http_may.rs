//! The HTTP benchmark's may server, in the style of may_minihttp but
//! written here: may with one worker thread (`may::config().set_workers(1)`,
//! like green's one hub), a coroutine per connection running the same loop
//! as `examples/http_hello.rs` (read, answer every complete request in what
//! was read with `httparse`, write all the answers with one `write_all`),
//! the same response bytes.
//!
//! ```text
//! http_may 127.0.0.1:0        # prints `listening on ADDR`
//! ```

use std::io::{self, Read, Write};

use may::net::TcpStream;

use green_benches::http::answer;

/// Serves one connection until the client closes it or asks to.
fn serve(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 8 * 1024];
    let mut filled = 0;
    let mut out = Vec::with_capacity(8 * 1024);
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = conn.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let (start, close) = answer(&buf[..filled], &mut out);
        if !out.is_empty() {
            conn.write_all(&out)?;
            out.clear();
        }
        if close {
            return Ok(());
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
}

fn main() -> io::Result<()> {
    green_benches::may_serve("127.0.0.1:8080", serve)
}
