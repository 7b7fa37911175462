//! What the kernel alone charges for the memory a million sleeping
//! greenlets need: the floor under `idle green sleep N`.
//!
//! ```text
//! page_floor contig N [STRIDE_KIB]   # N fresh pages, one mapping, one populate call
//! page_floor touch N [STRIDE_KIB]    # one write to the top page of each of N strides
//! page_floor stacks N [STRIDE_KIB]   # green's pattern: guards + populated top pages
//! ```
//!
//! A stackful greenlet that has run and parked owns at least one private
//! page: the top of its stack, which holds its frames. `contig` is the
//! cheapest way any design gets `N` fresh pages (one `MADV_POPULATE_WRITE`
//! over `N` adjacent pages: no trap per page, the fewest page tables);
//! `touch` is a page fault per stack top; `stacks` is what green's stack
//! pool asks of the kernel (see `runtime/src/stack.rs`): a guard page per
//! stride with `MADV_GUARD_INSTALL` in batches of 1,024, and the top page
//! of each stride committed with `MADV_POPULATE_WRITE` in batches of 64,
//! both through `process_madvise`. The stride defaults to 136 KiB, green's
//! for its default 128 KiB stacks (the usable stack, a header page and the
//! guard page).
//!
//! Prints one line of `key=value` fields: the seconds from the first
//! request to the last page committed, and the microseconds per page.

use std::io;
use std::time::Instant;

/// `MADV_POPULATE_WRITE` (Linux 5.14+).
const MADV_POPULATE_WRITE: libc::c_int = 23;
/// `MADV_GUARD_INSTALL` (Linux 6.13+).
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// Ranges per `process_madvise` call for guards (`UIO_MAXIOV`), and for
/// the populated top pages (green's `POPULATE_AHEAD`).
const GUARD_BATCH: usize = 1024;
const POPULATE_BATCH: usize = 64;
const PAGE: usize = 4096;

/// An anonymous private mapping of `len` bytes, reserved without commit.
fn map(len: usize) -> io::Result<*mut u8> {
    // SAFETY: a fresh anonymous mapping at an address the kernel picks
    // touches no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p.cast())
}

/// `advice` for one page at each of `starts`, through `process_madvise`
/// on `pidfd`.
fn advise(pidfd: libc::c_int, starts: &[*mut u8], advice: libc::c_int) -> io::Result<()> {
    let iov: Vec<libc::iovec> = starts
        .iter()
        .map(|&s| libc::iovec {
            iov_base: s.cast(),
            iov_len: PAGE,
        })
        .collect();
    // SAFETY: `iov` holds `iov.len()` initialised entries, each a page of
    // our own mapping that nothing else uses.
    let r = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            pidfd,
            iov.as_ptr(),
            iov.len(),
            advice,
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn run(mode: &str, count: usize, stride: usize) -> io::Result<f64> {
    let len = count
        .checked_mul(stride)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "N * STRIDE overflows"))?;
    let base = map(len)?;
    // The top page of stride `i`, and the guard page at its bottom: inside
    // the mapping for every `i < count`, the only values passed.
    let top = |i: usize| base.wrapping_add(i * stride + stride - PAGE);
    let bottom = |i: usize| base.wrapping_add(i * stride);
    let t0 = Instant::now();
    match mode {
        "contig" => {
            // SAFETY: the first `count` pages of our mapping (count * PAGE
            // <= len, as stride >= PAGE).
            if unsafe { libc::madvise(base.cast(), count * PAGE, MADV_POPULATE_WRITE) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        "touch" => {
            for i in 0..count {
                // SAFETY: a byte of our mapping's page `top(i)`; volatile so
                // the write (and its page fault) happens.
                unsafe { top(i).write_volatile(1) };
            }
        }
        "stacks" => {
            // SAFETY: pidfd_open of our own pid only creates a descriptor.
            let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
            if pidfd < 0 {
                return Err(io::Error::last_os_error());
            }
            let pidfd = pidfd as libc::c_int;
            let mut batch = Vec::with_capacity(GUARD_BATCH);
            for start in (0..count).step_by(GUARD_BATCH) {
                let end = (start + GUARD_BATCH).min(count);
                batch.clear();
                batch.extend((start..end).map(bottom));
                advise(pidfd, &batch, MADV_GUARD_INSTALL)?;
                for chunk in (start..end).step_by(POPULATE_BATCH) {
                    batch.clear();
                    batch.extend((chunk..(chunk + POPULATE_BATCH).min(end)).map(top));
                    advise(pidfd, &batch, MADV_POPULATE_WRITE)?;
                }
            }
        }
        _ => return Err(usage()),
    }
    Ok(t0.elapsed().as_secs_f64())
}

fn usage() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "usage: page_floor contig|touch|stacks N [STRIDE_KIB]",
    )
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, count, stride_kib) = match args.as_slice() {
        [mode, n] => (mode, n, "136"),
        [mode, n, s] => (mode, n, s.as_str()),
        _ => return Err(usage()),
    };
    let count: usize = count.parse().map_err(|_| usage())?;
    let stride = stride_kib
        .parse::<usize>()
        .ok()
        .and_then(|k| k.checked_mul(1024))
        .filter(|s| s % PAGE == 0 && *s >= 2 * PAGE)
        .ok_or_else(usage)?;
    if count == 0 {
        return Err(usage());
    }
    let secs = run(mode, count, stride)?;
    println!(
        "what={mode} count={count} stride_kib={} secs={secs:.3} us_each={:.2}",
        stride / 1024,
        secs * 1e6 / count as f64
    );
    // Leave without unmapping: the floor is the commit, not the release.
    io::Write::flush(&mut io::stdout())?;
    // SAFETY: _exit ends the process at once; stdout was flushed above and
    // nothing else is buffered.
    unsafe { libc::_exit(0) }
}
