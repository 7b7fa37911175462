//! RwLock: a green reader-writer lock, mirroring `std::sync::RwLock`.

use std::fmt;
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
    if g.waiters.front() == Some(&true) {
        if g.readers == 0 {
            if let Some((p, _)) = g.waiters.pop_front() {
                g.writer = true;
                wake.push(g.waiters.hand(p, true));
            }
        }
        return wake;
    }
    while g.waiters.front() == Some(&false) {
        if let Some((p, _)) = g.waiters.pop_front() {
            g.readers += 1;
            wake.push(g.waiters.hand(p, false));
        }
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
    data: parking_lot::RwLock<T>,
}

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
            data: parking_lot::RwLock::new(value),
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

    fn read_guard(&self) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard {
            data: self.data.read(),
            release: Release {
                lock: self,
                write: false,
            },
        }
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            data: self.data.write(),
            release: Release {
                lock: self,
                write: true,
            },
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

/// Gives the lock back when a guard goes; declared after the data guard
/// so the data is released first.
struct Release<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    write: bool,
}

impl<T: ?Sized> Drop for Release<'_, T> {
    fn drop(&mut self) {
        self.lock.release(self.write);
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
    data: parking_lot::RwLockReadGuard<'a, T>,
    #[allow(dead_code)] // held for its Drop
    release: Release<'a, T>,
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
    data: parking_lot::RwLockWriteGuard<'a, T>,
    #[allow(dead_code)] // held for its Drop
    release: Release<'a, T>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
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
