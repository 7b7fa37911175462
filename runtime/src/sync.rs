//! Sync facade: the atomics the cross-thread protocols use, from `std`
//! normally and from `loom` when built with `--cfg loom`, so the protocols
//! can be model-checked without changing their code.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
