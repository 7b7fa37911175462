//! The runtime of `green`: the hub, greenlets, stacks, timers, `Timeout`
//! and the blocking pool.
//!
//! Most users depend on the `green` facade, which re-exports everything
//! here. Code is written in plain blocking style; whenever a green
//! operation would block, the running greenlet's stack is switched out and
//! the thread's hub runs another greenlet until the operation can complete.
//!
//! ```
//! use std::time::Duration;
//!
//! let handles: Vec<_> = (0..3u64)
//!     .map(|i| green_runtime::spawn(move || {
//!         green_runtime::sleep(Duration::from_millis(30 - 10 * i));
//!         i
//!     }))
//!     .collect();
//! // The main context blocks in `join`, so the hub runs the greenlets; they
//! // sleep concurrently, on one OS thread.
//! let got: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
//! assert_eq!(got, [0, 1, 2]);
//! ```
//!
//! # Implementation
//!
//! * One hub per OS thread, created lazily ([`stats`] are per thread). Greenlets never migrate between threads, so `spawn`
//!   does not require `Send` and thread-locals stay sound.
//! * A greenlet is a `corosensei` coroutine on a stack from a per-hub pool
//!   of guarded stacks carved out of large `mmap` slabs (one VMA per slab
//!   thanks to `MADV_GUARD_INSTALL` on Linux ≥ 6.13).
//! * Blocking means *parking* (see [`park`](crate::park()) for the wake-up
//!   protocol). The main context parks by running the hub loop on the
//!   thread's own stack; a greenlet parks by suspending into that loop.
//! * The loop resumes ready greenlets in FIFO order, fires timers from a
//!   timing wheel (O(1) insert and cancel, exact deadlines), polls `mio` edge-triggered with
//!   readiness cached per descriptor and direction, reads the cross-thread
//!   inbox, and runs [`idle`] greenlets only when nothing else is ready.
//! * When the main context waits on something nothing can ever provide, it
//!   panics with a report of every blocked greenlet instead of hanging.
//!
//! # Panics
//!
//! The first green operation of a thread creates its hub, which needs an
//! epoll instance and an eventfd. If the process is out of descriptors
//! then, that operation panics with the error (`green: cannot create the
//! hub for this thread: …`); so does any green operation called while the
//! thread is exiting, after its hub was dropped.

#![deny(missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

mod blocking;
mod diag;
mod greenlet;
mod hub;
mod io;
mod park;
mod slab;
mod sleep_flag;
mod stack;
mod sync;
mod sys;
mod timeout;
mod timer;
mod wake;

pub use blocking::{set_max_blocking_threads, spawn_blocking};
pub use diag::{
    dump, max_blocking_time, set_max_blocking_time, stats, GreenletInfo, GreenletState, Stats,
};
pub use greenlet::{
    current, is_kill, set_default_stack_size, spawn, spawn_later, Builder, Greenlet, GreenletId,
    JoinError, JoinHandle, KillHandle,
};
pub use io::{Direction, Registration};
pub use park::{
    consume_budget, current_unparker, deadline_after, idle, park, park_until, sleep, sleep_until,
    yield_now, Unparker,
};
pub use timeout::{is_timeout, with_timeout, Elapsed, Timeout};
pub use wake::{current_wake_ref, Wake, WakeRef};

/// Which guard-page mechanism this process uses for greenlet stacks:
/// `Some("madvise")` (`MADV_GUARD_INSTALL`, one VMA per slab),
/// `Some("mprotect")` (older kernels, two VMAs per stack), or `None` before
/// the first greenlet was spawned.
pub fn stack_guard_kind() -> Option<&'static str> {
    sys::guard_kind().map(|k| match k {
        sys::GuardKind::Madvise => "madvise",
        sys::GuardKind::Mprotect => "mprotect",
    })
}
