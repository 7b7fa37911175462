//! Mutex: a green mutual-exclusion lock with a guard, mirroring
//! `std::sync::Mutex`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use green_runtime::{consume_budget, deadline_after};

use crate::waitq::{block, Lock, Outcome, PassOn, WaitList, Wakes};

/// Who holds a green lock and who waits for it: a one-permit semaphore with
/// hand-off. Shared by [`Mutex`] and the condition variable.
pub(crate) struct Gate {
    locked: bool,
    waiters: WaitList<(), ()>,
}

impl Gate {
    pub(crate) const fn new() -> Gate {
        Gate {
            locked: false,
            waiters: WaitList::new(),
        }
    }
}

fn gate_waiters(g: &mut Gate) -> &mut WaitList<(), ()> {
    &mut g.waiters
}

/// Hands the lock to the first waiter, or marks it free.
fn gate_release(g: &mut Gate) -> Wakes {
    match g.waiters.hand_front(()) {
        Ok(w) => Wakes::one(w),
        Err(()) => {
            g.locked = false;
            Wakes::new()
        }
    }
}

fn gate_pass_on(g: &mut Gate, (): ()) -> PassOn<()> {
    Ok(gate_release(g))
}

/// Takes the gate, waiting at most `timeout` (`None`: for ever).
fn gate_acquire(gate: &Lock<Gate>, timeout: Option<Duration>) -> bool {
    let deadline = timeout.and_then(deadline_after);
    let mut g = gate.lock();
    if !g.locked {
        g.locked = true;
        return true;
    }
    if timeout == Some(Duration::ZERO) {
        return false;
    }
    matches!(
        block(g, gate_waiters, gate_pass_on, (), deadline, "Mutex::lock"),
        Outcome::Woken(())
    )
}

/// A mutual-exclusion lock whose `lock` blocks greenly: a greenlet waiting
/// for it lets the others run, and it may be held across blocking calls
/// (sleeps, socket I/O, queue gets). Mirrors [`std::sync::Mutex`].
///
/// Waiters get the lock in FIFO order by hand-off: unlocking gives the lock
/// straight to the longest waiter, so a greenlet that unlocks and re-locks
/// in a loop cannot starve it.
///
/// ```
/// use std::sync::Arc;
/// use green_sync::Mutex;
///
/// let counter = Arc::new(Mutex::new(0));
/// let hs: Vec<_> = (0..10)
///     .map(|_| {
///         let c = counter.clone();
///         green_runtime::spawn(move || {
///             let mut n = c.lock();
///             green_runtime::yield_now(); // others run; they wait for the lock
///             *n += 1;
///         })
///     })
///     .collect();
/// for h in hs { h.join().unwrap(); }
/// assert_eq!(*counter.lock(), 10);
/// ```
///
/// # Notes
/// Unlike `std`, there is no poisoning: a greenlet that panics or is
/// killed while holding the guard unlocks it as it unwinds, and `lock`
/// returns the guard directly. `try_lock` and `lock_timeout` return
/// `Option`. Not reentrant: locking twice from one greenlet deadlocks it.
pub struct Mutex<T: ?Sized> {
    gate: Lock<Gate>,
    data: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a `MutexGuard`, and the gate
// admits one guard at a time (a guard exists only between a successful
// `gate_acquire` and the matching `unlock`), so threads sharing the mutex
// hand the value to each other but never share it: `T: Send` suffices, as
// for `std::sync::Mutex`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves the value it owns.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(t: T) -> Self {
        Mutex::new(t)
    }
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            gate: Lock::new(Gate::new()),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Call only once the gate is ours.
    fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            mutex: self,
            _not_send: PhantomData,
        }
    }

    /// Locks the mutex, blocking greenly until it is free.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        consume_budget();
        gate_acquire(&self.gate, None);
        self.guard()
    }

    /// Like [`lock`](Mutex::lock), giving up after `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        consume_budget();
        gate_acquire(&self.gate, Some(timeout)).then(|| self.guard())
    }

    /// Locks the mutex if it is free now; never blocks. Does not overtake a
    /// waiter: while anyone waits, the lock is not free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        gate_acquire(&self.gate, Some(Duration::ZERO)).then(|| self.guard())
    }

    /// True if some greenlet (or thread) holds the lock.
    pub fn is_locked(&self) -> bool {
        self.gate.lock().locked
    }

    /// A mutable reference to the value; no locking needed, since the
    /// borrow is exclusive.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    fn unlock(&self) {
        let wake = gate_release(&mut self.gate.lock());
        wake.wake();
    }
}

/// The lock of a [`Mutex`], held until dropped; derefs to the value.
///
/// ```
/// let m = green_sync::Mutex::new(vec![1]);
/// let mut guard = m.lock();
/// guard.push(2);
/// drop(guard); // unlocks, handing the lock to the longest waiter if any
/// assert_eq!(*m.lock(), [1, 2]);
/// ```
///
/// Like std's, a guard is not `Send`: it stays with the greenlet (or
/// thread) that locked.
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let m = green_sync::Mutex::new(0);
/// send(m.lock());
/// ```
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// Not `Send`, like std's guard (it stands for the holding greenlet).
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard shares `&T` only, as sharing `&T` would.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// Unlocks and gives back the mutex, to lock it again later.
    pub(crate) fn unlock(guard: MutexGuard<'a, T>) -> &'a Mutex<T> {
        let mutex = guard.mutex;
        drop(guard);
        mutex
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the gate, so no other guard exists
        // (see the `Sync` impl of `Mutex`); `&self` borrows it.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes the borrow exclusive.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
