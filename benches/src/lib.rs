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
