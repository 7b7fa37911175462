//! Condvar: a green condition variable, mirroring `std::sync::Condvar`.

use std::fmt;
use std::time::{Duration, Instant};

use crate::mutex::MutexGuard;
use crate::waitq::{block_then, Lock, Outcome, PassOn, WaitList, Wakes};
use green_runtime::deadline_after;

type List = WaitList<(), ()>;

fn itself(l: &mut List) -> &mut List {
    l
}

/// A notified waiter that leaves (killed, timed out) passes the
/// notification to the next waiter, so `notify_one` is never swallowed.
fn pass_on(l: &mut List, (): ()) -> PassOn<()> {
    Ok(Wakes::from(l.hand_front(()).ok()))
}

/// A condition variable for green [`Mutex`](crate::Mutex)es; mirrors
/// [`std::sync::Condvar`].
///
/// `wait` registers the caller, unlocks the mutex, blocks greenly until
/// notified, and locks the mutex again. Waiters are notified in FIFO
/// order. As with std, a wait may return without a notification (when a
/// notified waiter is killed before it takes it the notification passes to
/// the next waiter instead), so wait in a loop or use
/// [`wait_while`](Condvar::wait_while).
///
/// ```
/// use std::sync::Arc;
/// use green_sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p = pair.clone();
/// green_runtime::spawn(move || {
///     *p.0.lock() = true;
///     p.1.notify_one();
/// });
/// let (lock, cvar) = &*pair;
/// let ready = cvar.wait_while(lock.lock(), |ready| !*ready);
/// assert!(*ready);
/// ```
///
/// # Notes
/// No poisoning: `wait` returns the guard, not a `LockResult`.
pub struct Condvar {
    waiters: Lock<List>,
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar")
            .field("waiters", &self.waiters.lock().len())
            .finish()
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Condvar::new()
    }
}

/// Whether a timed condition-variable wait timed out; mirrors
/// [`std::sync::WaitTimeoutResult`].
///
/// ```
/// use std::time::Duration;
/// use green_sync::{Condvar, Mutex};
///
/// let (m, cv) = (Mutex::new(()), Condvar::new());
/// let (_guard, r) = cv.wait_timeout(m.lock(), Duration::from_millis(1));
/// assert!(r.timed_out()); // nobody notified
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait ended because the timeout elapsed.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    /// A new condition variable with no waiters.
    pub const fn new() -> Condvar {
        Condvar {
            waiters: Lock::new(WaitList::new()),
        }
    }

    fn wait_deadline<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, T>, bool) {
        let l = self.waiters.lock();
        // Registered before unlocking: a notify after the unlock finds us.
        let (mutex, outcome) =
            block_then(l, itself, pass_on, (), deadline, "Condvar::wait", || {
                MutexGuard::unlock(guard)
            });
        let notified = matches!(outcome, Outcome::Woken(()));
        (mutex.lock(), !notified)
    }

    /// Unlocks the guard's mutex, blocks until notified, and locks it again.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_deadline(guard, None).0
    }

    /// Like [`wait`](Condvar::wait), for at most `timeout`.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let (g, timed_out) = self.wait_deadline(guard, deadline_after(timeout));
        (g, WaitTimeoutResult(timed_out))
    }

    /// Waits while `condition` holds for the guarded value.
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Waits while `condition` holds, for at most `timeout` in all.
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult)
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = deadline_after(timeout);
        while condition(&mut *guard) {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return (guard, WaitTimeoutResult(true));
            }
            guard = self.wait_deadline(guard, deadline).0;
        }
        (guard, WaitTimeoutResult(false))
    }

    /// Wakes the longest waiter, if any.
    pub fn notify_one(&self) {
        let w = self.waiters.lock().hand_front(());
        if let Ok(w) = w {
            w.wake();
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        let ws = self.waiters.lock().hand_all(|()| ());
        ws.wake();
    }
}
