//! RwLock: a green reader-writer lock, mirroring `std::sync::RwLock`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use green_runtime::{consume_budget, deadline_after};

use crate::waitq::{block, Lock, Outcome, PassOn, WaitList, Wakes};

/// Readers and writer holding the lock, and who waits (deposit and gift:
/// `true` for a writer).
struct Gate {
    readers: usize,
    writer: bool,
    waiters: WaitList<bool, bool>,
}

fn waiters(g: &mut Gate) -> &mut WaitList<bool, bool> {
    &mut g.waiters
}

/// Grants the lock from the front of the queue: one writer if the lock is
/// free, or every reader up to the next writer if no writer holds it.
fn grant(g: &mut Gate) -> Wakes {
    let mut wake = Wakes::new();
    if g.writer {
        return wake;
    }
    if g.readers == 0 {
        if let Some((p, _)) = g.waiters.pop_front_if(|&write| write) {
            g.writer = true;
            wake.push(g.waiters.hand(p, true));
            return wake;
        }
    }
    // Readers up to the next writer (if the front is a writer and readers
    // hold the lock, it waits for them and nothing is granted).
    while let Some((p, _)) = g.waiters.pop_front_if(|&write| !write) {
        g.readers += 1;
        wake.push(g.waiters.hand(p, false));
    }
    wake
}

fn release(g: &mut Gate, write: bool) -> Wakes {
    if write {
        g.writer = false;
    } else {
        g.readers = g.readers.saturating_sub(1);
    }
    grant(g)
}

fn pass_on(g: &mut Gate, write: bool) -> PassOn<bool> {
    Ok(release(g, write))
}

/// A reader-writer lock whose waits block greenly; mirrors
/// [`std::sync::RwLock`].
///
/// Fair (FIFO, phase-fair): a reader arriving while a writer waits queues
/// behind that writer, so a stream of readers cannot starve writers; when a
/// writer unlocks, every reader queued before the next writer gets the lock
/// together. The lock is handed off: a released lock goes straight to the
/// waiters at the front.
///
/// ```
/// use green_sync::RwLock;
///
/// let lock = RwLock::new(5);
/// {
///     let r1 = lock.read();
///     let r2 = lock.read(); // many readers at once
///     assert_eq!(*r1 + *r2, 10);
///     assert!(lock.try_write().is_none());
/// }
/// *lock.write() += 1;
/// assert_eq!(*lock.read(), 6);
/// ```
///
/// # Notes
/// No poisoning; `try_read`/`try_write` and the `_timeout` forms return
/// `Option`.
pub struct RwLock<T: ?Sized> {
    gate: Lock<Gate>,
    data: UnsafeCell<T>,
}

// SAFETY: the value is reached only through guards, and the gate admits
// either one writer or any number of readers at a time (a guard exists only
// between a successful `acquire` and the matching `release`). Readers on
// several threads share `&T` (so `T: Sync`), a writer may be on any thread
// (so `T: Send`), as for `std::sync::RwLock`.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}
// SAFETY: moving the lock moves the value it owns.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `value`.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            gate: Lock::new(Gate {
                readers: 0,
                writer: false,
                waiters: WaitList::new(),
            }),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    fn acquire(&self, write: bool, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(deadline_after);
        let mut g = self.gate.lock();
        // Nobody queued and compatible: take it (never overtakes a waiter).
        let free = !g.writer && g.waiters.is_empty() && (!write || g.readers == 0);
        if free {
            if write {
                g.writer = true;
            } else {
                g.readers += 1;
            }
            return true;
        }
        if timeout == Some(Duration::ZERO) {
            return false;
        }
        let reason = if write {
            "RwLock::write"
        } else {
            "RwLock::read"
        };
        matches!(
            block(g, waiters, pass_on, write, deadline, reason),
            Outcome::Woken(_)
        )
    }

    fn release(&self, write: bool) {
        let wake = release(&mut self.gate.lock(), write);
        wake.wake();
    }

    /// Call only once the gate admitted a reader.
    fn read_guard(&self) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Call only once the gate admitted a writer.
    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Locks for shared reading, blocking greenly while a writer holds or
    /// waits for the lock.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        consume_budget();
        self.acquire(false, None);
        self.read_guard()
    }

    /// Like [`read`](RwLock::read), giving up after `timeout`.
    pub fn read_timeout(&self, timeout: Duration) -> Option<RwLockReadGuard<'_, T>> {
        consume_budget();
        self.acquire(false, Some(timeout))
            .then(|| self.read_guard())
    }

    /// Locks for reading if that needs no waiting; never blocks.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.acquire(false, Some(Duration::ZERO))
            .then(|| self.read_guard())
    }

    /// Locks for exclusive writing, blocking greenly until no one else
    /// holds the lock.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        consume_budget();
        self.acquire(true, None);
        self.write_guard()
    }

    /// Like [`write`](RwLock::write), giving up after `timeout`.
    pub fn write_timeout(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        consume_budget();
        self.acquire(true, Some(timeout))
            .then(|| self.write_guard())
    }

    /// Locks for writing if that needs no waiting; never blocks.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.acquire(true, Some(Duration::ZERO))
            .then(|| self.write_guard())
    }

    /// A mutable reference to the value; no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Shared read access to an [`RwLock`], held until dropped.
///
/// ```
/// let lock = green_sync::RwLock::new(3);
/// let a = lock.read();
/// let b = lock.read();
/// assert_eq!(*a + *b, 6);
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// Not `Send`, like std's guards (it stands for the holding greenlet).
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release(false);
    }
}

/// Exclusive write access to an [`RwLock`], held until dropped.
///
/// ```
/// let lock = green_sync::RwLock::new(String::from("a"));
/// lock.write().push('b');
/// assert_eq!(*lock.read(), "ab");
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// Not `Send`, like std's guards.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release(true);
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the gate admitted this reader; while any reader holds
        // it no writer is admitted, so only shared borrows exist.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the gate admitted this writer alone.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the gate admitted this writer alone; `&mut self` makes
        // the borrow exclusive.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
