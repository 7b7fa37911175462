//! Benchmarks of green against its peers (see `docs/PERFORMANCE.md`).
//!
//! The benchmarks themselves live in `benches/benches/`; run them all with
//! `cargo bench -p green-benches`. This library holds the few helpers they
//! share.
//!
//! ```
//! // Linux only: the resident set size of this process, in KiB.
//! let kib = green_benches::vm_rss_kib().unwrap();
//! assert!(kib > 0);
//! ```

#![deny(missing_docs, missing_debug_implementations)]

use std::io;

pub mod http;

/// The resident set size of this process in KiB, read from the `VmRSS`
/// line of `/proc/self/status`.
///
/// # Errors
/// If `/proc/self/status` cannot be read or has no parsable `VmRSS` line
/// (for example on a system without procfs).
pub fn vm_rss_kib() -> io::Result<u64> {
    status_field_kib("VmRSS:")
}

/// The number of memory mappings (VMAs) of this process: the lines of
/// `/proc/self/maps`. The kernel caps it at `vm.max_map_count`.
///
/// # Errors
/// If `/proc/self/maps` cannot be read.
pub fn map_count() -> io::Result<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    Ok(maps.lines().count())
}

fn status_field_kib(field: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no {field} line in /proc/self/status"),
            )
        })
}

/// The may servers' `main`: may with one worker (like green's one hub per
/// thread) and 64 KiB coroutine stacks, listening on the first argument
/// (or `default_addr`), printing `listening on ADDR`, and serving each
/// connection (with `TCP_NODELAY`) in its own coroutine.
///
/// # Errors
/// If the address is bad, binding or accepting fails, or the acceptor
/// panics.
pub fn may_serve(
    default_addr: &str,
    serve: fn(may::net::TcpStream) -> io::Result<()>,
) -> io::Result<()> {
    use std::io::Write;
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| default_addr.to_owned());
    may::config().set_workers(1).set_stack_size(64 * 1024);
    let listener = may::net::TcpListener::bind(addr.as_str())?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    let acceptor = may::go!(move || -> io::Result<()> {
        for conn in listener.incoming() {
            let conn = conn?;
            conn.set_nodelay(true)?;
            may::go!(move || serve(conn));
        }
        Ok(())
    });
    acceptor
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the acceptor panicked")))
}
