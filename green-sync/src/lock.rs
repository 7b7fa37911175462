//! The short lock in front of every primitive's state.
//!
//! What it protects is never held across a blocking call: a holder only
//! checks or changes a count, a buffer or a wait list, then lets go. On one
//! OS thread two holders can therefore never meet (greenlets switch only
//! when they block); it is contended only between threads, and then for a
//! few dozen instructions. The one place user code runs under it is a
//! `PriorityQueue` item's `Ord`, which its documentation forbids to block;
//! debug builds turn a violation (the lock taken again by the thread that
//! holds it) into a panic instead of a spin that never ends.
//!
//! So it is a test-and-test-and-set lock whose unlock is a plain release
//! store: one locked instruction per critical section, where a lock that
//! parks its waiters needs a second one on unlock to learn whether anyone
//! sleeps. A thread that finds it taken spins briefly, then yields its
//! core to the holder (which may have been preempted) with
//! `std::thread::yield_now` until it is free.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// Spins before the first yield; a critical section is much shorter.
const SPINS: u32 = 64;

/// A short lock around `S`; see the module comment.
pub(crate) struct Lock<S> {
    locked: AtomicBool,
    /// The thread holding it (debug builds): a holder found on the
    /// caller's own thread means the lock was re-entered, which would spin
    /// for ever (see `lock_contended`).
    #[cfg(debug_assertions)]
    owner: std::sync::atomic::AtomicUsize,
    state: UnsafeCell<S>,
}

// SAFETY: the state is only reached through a `LockGuard`, of which the
// lock admits one at a time (acquire/release on `locked`), so sharing the
// lock between threads hands `S` from one thread to another but never
// shares it: `S: Send` suffices, as for `std::sync::Mutex`.
unsafe impl<S: Send> Sync for Lock<S> {}
// SAFETY: moving the lock moves the `S` it owns.
unsafe impl<S: Send> Send for Lock<S> {}

impl<S> Lock<S> {
    /// A free lock around `state`.
    pub(crate) const fn new(state: S) -> Lock<S> {
        Lock {
            locked: AtomicBool::new(false),
            #[cfg(debug_assertions)]
            owner: std::sync::atomic::AtomicUsize::new(0),
            state: UnsafeCell::new(state),
        }
    }

    /// Takes the lock; spins, then yields the core, while another thread
    /// holds it.
    #[inline]
    pub(crate) fn lock(&self) -> LockGuard<'_, S> {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        #[cfg(debug_assertions)]
        self.owner.store(thread_tag(), Ordering::Relaxed);
        LockGuard {
            lock: self,
            _state: PhantomData,
        }
    }

    #[cold]
    fn lock_contended(&self) {
        #[cfg(debug_assertions)]
        if self.owner.load(Ordering::Relaxed) == thread_tag() {
            panic!(
                "green-sync: a primitive's internal lock was taken again by the thread holding it \
                 (a PriorityQueue item's `Ord` that blocks or uses the same queue?)"
            );
        }
        let mut spins = 0;
        loop {
            // Test before test-and-set: wait on a shared cache line, not
            // by bouncing it between cores with failed exchanges.
            while self.locked.load(Ordering::Relaxed) {
                if spins < SPINS {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

impl<S> fmt::Debug for Lock<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked.load(Ordering::Relaxed))
            .finish()
    }
}

/// Access to a [`Lock`]'s state; unlocks when dropped.
pub(crate) struct LockGuard<'a, S> {
    lock: &'a Lock<S>,
    /// Shared access to the guard gives `&S`: `Sync` only if `S: Sync`,
    /// as for std's guards (the `&Lock` alone would make it `Sync` for any
    /// `S: Send`).
    _state: PhantomData<&'a mut S>,
}

impl<'a, S> LockGuard<'a, S> {
    /// The lock this guard holds (an associated function, like
    /// `parking_lot::MutexGuard::mutex`, so it does not shadow a method of
    /// the state).
    pub(crate) fn lock_of(guard: &Self) -> &'a Lock<S> {
        guard.lock
    }
}

impl<S> Deref for LockGuard<'_, S> {
    type Target = S;
    #[inline]
    fn deref(&self) -> &S {
        // SAFETY: this guard is the only one (see `Lock::lock`), and it
        // borrows the lock for its whole life.
        unsafe { &*self.lock.state.get() }
    }
}

impl<S> DerefMut for LockGuard<'_, S> {
    #[inline]
    fn deref_mut(&mut self) -> &mut S {
        // SAFETY: as in `deref`; `&mut self` makes this borrow exclusive.
        unsafe { &mut *self.lock.state.get() }
    }
}

impl<S> Drop for LockGuard<'_, S> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(debug_assertions)]
        self.lock.owner.store(0, Ordering::Relaxed);
        self.lock.locked.store(false, Ordering::Release);
    }
}

/// A number unique to the calling thread among live threads (the address
/// of a thread-local), never 0.
#[cfg(debug_assertions)]
fn thread_tag() -> usize {
    thread_local!(static TAG: u8 = const { 0 });
    TAG.with(|t| t as *const u8 as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_never_hold_it_together() {
        let lock = Arc::new(Lock::new((0u64, false)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        let mut g = lock.lock();
                        assert!(!g.1, "two holders at once");
                        g.1 = true;
                        g.0 += 1;
                        std::hint::black_box(&mut *g);
                        g.1 = false;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(lock.lock().0, 80_000);
    }
}
