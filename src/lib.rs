//! `green`: stackful green threads for Rust in the style of gevent.
//!
//! Write plain blocking code — `sleep`, `join`, socket reads — and it runs
//! cooperatively on one OS thread: whenever a green operation would block,
//! the hub switches to another greenlet.
//!
//! ```
//! use std::time::Duration;
//!
//! let a = green::spawn(|| { green::sleep(Duration::from_millis(20)); "a" });
//! let b = green::spawn(|| { green::sleep(Duration::from_millis(10)); "b" });
//! // Both sleep at once: about 20 ms in all, not 30.
//! assert_eq!((a.join().unwrap(), b.join().unwrap()), ("a", "b"));
//! ```
//!
//! This crate only re-exports: the runtime (`green-runtime`), the
//! synchronisation primitives (`green-sync`, as [`sync`]) and networking
//! (`green-net`, as [`net`], with its I/O helpers as [`io`]).

#![deny(missing_docs, missing_debug_implementations)]

pub use green_runtime::*;

/// Green synchronisation primitives.
pub mod sync {
    pub use green_sync::*;
}

pub use green_sync::{iwait, wait, Group, Pool};

/// Green networking: drop-in replacements for `std::net`.
pub mod net {
    pub use green_net::*;
}

/// Green I/O helpers beyond `std::io`: [`copy`](io::copy), which parks
/// without holding a buffer, and [`BufReader`](io::BufReader), which holds
/// one only while it has unread bytes.
pub mod io {
    pub use green_net::io::*;
}
