//! Idle writer: a client that writes 40 MiB (`"foo\n"` × 10 Mi) to ADDR
//! while an idle-priority busy loop runs only when nothing else can: in
//! practice, whenever the socket is not writable and the writer is parked.
//!
//! ```text
//! cargo run --release --example discard -- 127.0.0.1:7001 &
//! cargo run --release --example idle_writer -- 127.0.0.1:7001
//! ```
//!
//! Prints the bytes written, how many times the busy loop ran, and the
//! elapsed time. The busy loop uses `green::idle()`, GLib's idle priority:
//! it never delays the writer.

use std::cell::Cell;
use std::io::{self, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Instant;

use green::net::TcpStream;

/// `"foo\n"` × 10 Mi.
const TOTAL: usize = 4 * 10 * 1024 * 1024;

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7001".into());
    let chunk = b"foo\n".repeat(16 * 1024); // 64 KiB

    let done = Rc::new(Cell::new(false));
    let spins = Rc::new(Cell::new(0u64));
    let (d, s) = (done.clone(), spins.clone());
    let busy = green::spawn(move || {
        while !d.get() {
            green::idle(); // runs only when no greenlet is ready and no I/O is pending
            s.set(s.get() + 1);
        }
    });

    let start = Instant::now();
    let mut conn = TcpStream::connect(addr.as_str())?;
    let mut written = 0usize;
    while written < TOTAL {
        let n = chunk.len().min(TOTAL - written);
        conn.write_all(&chunk[..n])?;
        written += n;
    }
    conn.shutdown(Shutdown::Write)?;
    let elapsed = start.elapsed();
    done.set(true);
    let _ = busy.join();

    println!("wrote {written} bytes");
    println!("busy loop ran {} times", spins.get());
    println!("elapsed {elapsed:?}");
    Ok(())
}
