//! Platform code: the only place that calls `libc` directly.
//!
//! Every backend provides the same small contract, used by `stack` and `hub`:
//!
//! | function | contract |
//! |---|---|
//! | `page_size()` | the size of a memory page, a power of two |
//! | `map_reserve(len)` | reserve `len` bytes of zeroed, readable, writable, lazily committed memory (no swap reservation) |
//! | `unmap(ptr, len)` | give back a region from `map_reserve` |
//! | `install_guard(ptr, len)` | make a page-aligned range fault on any access; reports which mechanism it used |
//! | `install_guards(starts, len)` | `install_guard` for many ranges, batched where the kernel allows |
//! | `populate(starts, len)` | best effort: commit the ranges now, batched; nothing if it cannot batch |
//! | `discard(ptr, len)` | drop the physical pages behind a range; it reads as zeroes afterwards |
//! | `install_fault_handler(f)` | once per process: on SIGSEGV/SIGBUS call `f(addr)` on the alternate signal stack; if it returns false, the previous handler runs |
//! | `ensure_alt_stack()` | give the calling thread an alternate signal stack if it has none |
//! | `thread_count()` | the number of OS threads in this process, if the platform tells |
//! | `write_stderr(bytes)` | async-signal-safe write to standard error |
//! | `abort()` | end the process at once, async-signal-safe |

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
compile_error!(
    "green supports Linux only for now: the stack slabs rely on Linux mmap/madvise semantics"
);
