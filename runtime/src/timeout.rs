//! Timeout: a deadline over a region of blocking code.
//!
//! gevent's `Timeout` raises an exception into the greenlet at the
//! deadline. Here the region is a closure: while it runs, every blocking
//! point of the greenlet (a park: socket wait, sleep, join, queue get, …)
//! checks the region's deadline; once it has passed, the blocking point
//! *unwinds* instead of returning, running destructors on the way, and
//! [`Timeout::run`] catches that unwind and returns [`Elapsed`].
//!
//! * Code that never blocks is not interrupted (as in gevent: the timeout
//!   is only delivered at a switch).
//! * Nested regions each keep their own deadline; a greenlet waits until
//!   the earliest. The inner one's expiry is caught by the inner `run`; an
//!   outer one that expires inside an inner region unwinds through the
//!   inner `run` to its own.
//! * If the region's code catches the unwind with `catch_unwind` and blocks
//!   again, the timeout is delivered again at that blocking point.

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::hub::hub;

static NEXT_TIMEOUT: AtomicU64 = AtomicU64::new(1);

/// The unwind payload that delivers an expired `Timeout`.
pub(crate) struct TimeoutSignal(pub(crate) u64);

/// A deadline for a region of blocking code.
///
/// ```
/// use std::time::Duration;
/// use green_runtime::{Timeout, sleep};
///
/// let r = Timeout::new(Duration::from_millis(10)).run(|| sleep(Duration::from_secs(60)));
/// assert!(r.is_err());
/// let r = Timeout::new(Duration::from_secs(60)).run(|| 7);
/// assert_eq!(r.unwrap(), 7);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Timeout {
    deadline: Option<Instant>,
}

impl Timeout {
    /// A timeout `dur` from now. A duration too large to represent never
    /// expires.
    pub fn new(dur: Duration) -> Timeout {
        Timeout {
            deadline: Instant::now().checked_add(dur),
        }
    }

    /// A timeout at an instant.
    pub fn at(deadline: Instant) -> Timeout {
        Timeout {
            deadline: Some(deadline),
        }
    }

    /// A timeout that never expires.
    pub fn never() -> Timeout {
        Timeout { deadline: None }
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Runs `f`; if the deadline passes while `f` is blocked, `f` unwinds
    /// from that blocking point and this returns [`Elapsed`].
    ///
    /// Panics and kills inside `f` pass through unchanged. Code that
    /// catches the unwind sees it again at its next blocking point in the
    /// region; one that catches it and then ends without blocking makes
    /// this return `Ok`. green-net's stream `write` is such code once part
    /// of its buffer went: it returns that count (see `docs/concepts.md`,
    /// "Timeout").
    pub fn run<T>(self, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
        let Some(deadline) = self.deadline else {
            return Ok(f());
        };
        let id = NEXT_TIMEOUT.fetch_add(1, Ordering::Relaxed);
        let hub = hub();
        hub.push_deadline(id, deadline);
        struct Pop(u64);
        impl Drop for Pop {
            fn drop(&mut self) {
                crate::hub::hub().pop_deadline(self.0);
            }
        }
        let pop = Pop(id);
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        drop(pop);
        match r {
            Ok(v) => Ok(v),
            Err(payload) => match payload.downcast::<TimeoutSignal>() {
                Ok(sig) if sig.0 == id => Err(Elapsed { deadline }),
                Ok(other) => panic::resume_unwind(other),
                Err(payload) => panic::resume_unwind(payload),
            },
        }
    }
}

/// Runs `f` with a deadline `dur` from now; gevent's `with_timeout`.
///
/// ```
/// use std::time::Duration;
/// let r = green_runtime::with_timeout(Duration::from_millis(5), || green_runtime::sleep(Duration::from_secs(10)));
/// assert!(r.unwrap_err().to_string().contains("deadline"));
/// ```
pub fn with_timeout<T>(dur: Duration, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    Timeout::new(dur).run(f)
}

/// True if `payload` (caught with `catch_unwind`) is an expired
/// [`Timeout`] being delivered rather than a panic, as
/// [`is_kill`](crate::is_kill) is for a kill. Code that catches unwinds
/// inside a `Timeout` region should re-raise such payloads with
/// [`std::panic::resume_unwind`]; one that swallows it sees it again at its
/// next blocking point, as long as the region lasts.
///
/// ```
/// use std::panic::{self, AssertUnwindSafe};
/// use std::time::Duration;
///
/// let r = green_runtime::with_timeout(Duration::from_millis(5), || {
///     let caught = panic::catch_unwind(AssertUnwindSafe(|| {
///         green_runtime::sleep(Duration::from_secs(10))
///     }));
///     let payload = caught.unwrap_err();
///     assert!(green_runtime::is_timeout(payload.as_ref()));
///     assert!(!green_runtime::is_kill(payload.as_ref()));
///     panic::resume_unwind(payload)
/// });
/// assert!(r.is_err());
/// ```
pub fn is_timeout(payload: &(dyn std::any::Any + Send)) -> bool {
    payload.is::<TimeoutSignal>()
}

/// The error of a region whose [`Timeout`] expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    deadline: Instant,
}

impl Elapsed {
    /// The deadline that passed.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(e: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, e)
    }
}
