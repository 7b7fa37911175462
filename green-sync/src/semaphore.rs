//! Semaphore: a count of permits, with RAII permit guards (gevent's
//! `Semaphore` and `BoundedSemaphore`).

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use green_runtime::{consume_budget, deadline_after, Wake};

use crate::waitq::{block, Lock, Outcome, PassOn, WaitList, Wakes};

struct State {
    permits: usize,
    /// For a bounded semaphore, the most permits it may hold.
    bound: Option<usize>,
    waiters: WaitList<(), ()>,
}

fn waiters(s: &mut State) -> &mut WaitList<(), ()> {
    &mut s.waiters
}

/// Gives a permit to the first waiter, or back to the count.
fn release_locked(s: &mut State) -> Option<Wake> {
    match s.waiters.hand_front(()) {
        Ok(u) => Some(u),
        Err(()) => {
            // Saturates: a semaphore with usize::MAX free permits stays so.
            s.permits = s.permits.saturating_add(1);
            None
        }
    }
}

fn pass_on(s: &mut State, (): ()) -> PassOn<()> {
    Ok(Wakes::from(release_locked(s)))
}

/// The shared core of both semaphore types.
struct Core {
    state: Lock<State>,
}

impl Core {
    fn new(permits: usize, bound: Option<usize>) -> Arc<Core> {
        Arc::new(Core {
            state: Lock::new(State {
                permits,
                bound,
                waiters: WaitList::new(),
            }),
        })
    }

    fn try_acquire(&self) -> bool {
        let mut st = self.state.lock();
        // Hand-off keeps `permits` at zero while anyone waits, so this
        // cannot overtake a queued waiter.
        if st.permits > 0 {
            st.permits -= 1;
            true
        } else {
            false
        }
    }

    /// Takes a permit, waiting at most `timeout` (`None`: for ever).
    fn acquire(&self, timeout: Option<Duration>) -> bool {
        consume_budget();
        let deadline = timeout.and_then(deadline_after);
        let mut st = self.state.lock();
        if st.permits > 0 {
            st.permits -= 1;
            return true;
        }
        if timeout == Some(Duration::ZERO) {
            return false;
        }
        matches!(
            block(st, waiters, pass_on, (), deadline, "Semaphore::acquire"),
            Outcome::Woken(())
        )
    }

    fn release(&self) -> Result<(), ReleaseError> {
        let mut st = self.state.lock();
        if let Some(b) = st.bound {
            if st.waiters.is_empty() && st.permits >= b {
                return Err(ReleaseError { bound: b });
            }
        }
        let w = release_locked(&mut st);
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
    }

    /// Returns a permit taken by a guard.
    fn give_back(&self) {
        let w = release_locked(&mut self.state.lock());
        if let Some(w) = w {
            w.wake();
        }
    }

    fn available(&self) -> usize {
        self.state.lock().permits
    }

    fn waiting(&self) -> usize {
        self.state.lock().waiters.len()
    }
}

/// A counting semaphore: at most `permits` holders at once.
///
/// [`acquire`](Semaphore::acquire) returns a [`SemaphorePermit`] that gives
/// its permit back when dropped. Waiters are served in FIFO order with
/// hand-off: a released permit goes straight to the longest waiter, so a
/// greenlet that releases and re-acquires in a loop queues behind it.
///
/// ```
/// use std::sync::Arc;
/// use green_sync::Semaphore;
///
/// let sem = Arc::new(Semaphore::new(2));
/// let a = sem.acquire();
/// let b = sem.acquire();
/// assert!(sem.try_acquire().is_none()); // both permits are out
/// drop(a);
/// assert_eq!(sem.available_permits(), 1);
/// # drop(b);
/// ```
///
/// # Notes
/// [`release`](Semaphore::release) adds a permit without a guard (gevent's
/// `release`), so an unbounded `Semaphore` can grow past its initial count;
/// [`BoundedSemaphore`] refuses that.
pub struct Semaphore {
    core: Arc<Core>,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .finish()
    }
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            core: Core::new(permits, None),
        }
    }

    /// Takes a permit, blocking (greenly) until one is free.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.core.acquire(None);
        SemaphorePermit { core: &self.core }
    }

    /// Like [`acquire`](Semaphore::acquire), giving up after `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.core
            .acquire(Some(timeout))
            .then(|| SemaphorePermit { core: &self.core })
    }

    /// Takes a permit if one is free now; never blocks.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.core
            .try_acquire()
            .then(|| SemaphorePermit { core: &self.core })
    }

    /// Like [`acquire`](Semaphore::acquire), but the permit owns a handle on
    /// the semaphore and can be moved into a spawned greenlet.
    pub fn acquire_owned(&self) -> OwnedSemaphorePermit {
        self.core.acquire(None);
        OwnedSemaphorePermit::new(self.core.clone())
    }

    /// Like [`acquire_owned`](Semaphore::acquire_owned), giving up after
    /// `timeout`.
    pub fn acquire_owned_timeout(&self, timeout: Duration) -> Option<OwnedSemaphorePermit> {
        self.core
            .acquire(Some(timeout))
            .then(|| OwnedSemaphorePermit::new(self.core.clone()))
    }

    /// Like [`try_acquire`](Semaphore::try_acquire), with an owned permit.
    pub fn try_acquire_owned(&self) -> Option<OwnedSemaphorePermit> {
        self.core
            .try_acquire()
            .then(|| OwnedSemaphorePermit::new(self.core.clone()))
    }

    /// Adds one permit: it goes to the longest waiter if any. Never blocks.
    /// The count saturates at `usize::MAX`.
    pub fn release(&self) {
        // Unbounded: cannot fail.
        let _ = self.core.release();
    }

    /// Permits free right now.
    pub fn available_permits(&self) -> usize {
        self.core.available()
    }

    /// How many are blocked in `acquire` right now.
    pub fn waiters(&self) -> usize {
        self.core.waiting()
    }
}

/// A semaphore that refuses to hold more permits than it started with
/// (gevent's `BoundedSemaphore`): an extra [`release`](Self::release) is an
/// error instead of a silent increase, catching release-without-acquire
/// bugs.
///
/// ```
/// use green_sync::BoundedSemaphore;
///
/// let sem = BoundedSemaphore::new(1);
/// assert!(sem.release().is_err()); // nothing was acquired
/// let p = sem.acquire();
/// p.forget();          // keep the permit without a guard…
/// sem.release().unwrap(); // …and give it back by hand
/// assert_eq!(sem.available_permits(), 1);
/// ```
pub struct BoundedSemaphore {
    core: Arc<Core>,
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available_permits", &self.available_permits())
            .finish()
    }
}

impl BoundedSemaphore {
    /// A bounded semaphore with (and at most) `permits` permits.
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            core: Core::new(permits, Some(permits)),
        }
    }

    /// Takes a permit, blocking (greenly) until one is free.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.core.acquire(None);
        SemaphorePermit { core: &self.core }
    }

    /// Like [`acquire`](Self::acquire), giving up after `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.core
            .acquire(Some(timeout))
            .then(|| SemaphorePermit { core: &self.core })
    }

    /// Takes a permit if one is free now; never blocks.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.core
            .try_acquire()
            .then(|| SemaphorePermit { core: &self.core })
    }

    /// Like [`acquire`](Self::acquire), with a permit that owns a handle on
    /// the semaphore.
    pub fn acquire_owned(&self) -> OwnedSemaphorePermit {
        self.core.acquire(None);
        OwnedSemaphorePermit::new(self.core.clone())
    }

    /// Gives back a permit taken without a guard (see
    /// [`SemaphorePermit::forget`]).
    ///
    /// # Errors
    /// [`ReleaseError`] if the semaphore already holds its initial count.
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.core.release()
    }

    /// Permits free right now.
    pub fn available_permits(&self) -> usize {
        self.core.available()
    }

    /// How many are blocked in `acquire` right now.
    pub fn waiters(&self) -> usize {
        self.core.waiting()
    }
}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`]; gives it back on
/// drop (to the longest waiter, if any).
///
/// ```
/// let sem = green_sync::Semaphore::new(1);
/// {
///     let _permit = sem.acquire();
///     assert_eq!(sem.available_permits(), 0);
/// } // dropped: the permit is back
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    core: &'a Arc<Core>,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken without a guard: it is not given back on drop.
    pub fn forget(self) {
        // Holds only a reference: nothing leaks.
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.core.give_back();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// A permit that owns a handle on its semaphore, so it can move into a
/// spawned greenlet (or another thread); gives the permit back on drop.
///
/// ```
/// let sem = green_sync::Semaphore::new(1);
/// let permit = sem.acquire_owned();
/// let worker = green_runtime::spawn(move || {
///     let _permit = permit; // held for as long as the greenlet runs
/// });
/// worker.join().unwrap();
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permit is released as soon as it is dropped"]
pub struct OwnedSemaphorePermit {
    core: Arc<Core>,
    armed: bool,
}

impl OwnedSemaphorePermit {
    fn new(core: Arc<Core>) -> Self {
        OwnedSemaphorePermit { core, armed: true }
    }

    /// Keeps the permit taken without a guard: it is not given back on drop.
    pub fn forget(mut self) {
        self.armed = false;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.armed {
            self.core.give_back();
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .finish_non_exhaustive()
    }
}

/// [`BoundedSemaphore::release`] beyond the initial count.
///
/// ```
/// let sem = green_sync::BoundedSemaphore::new(1);
/// let err = sem.release().unwrap_err();
/// assert!(err.to_string().contains("released too many times"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseError {
    bound: usize,
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "semaphore released too many times (it holds at most {} permits)",
            self.bound
        )
    }
}

impl Error for ReleaseError {}
