//! Mutex: a green mutual-exclusion lock with a guard, mirroring
//! `std::sync::Mutex`.
//!
//! # Implementation
//!
//! Who holds the lock is one atomic *state word* beside the usual wait
//! list (behind the usual short [`Lock`], see the `waitq` module), so an
//! uncontended lock + unlock is two locked instructions, as for
//! `std::sync::Mutex`, and never touches the wait list:
//!
//! * `LOCKED`: someone holds the mutex (or it has been handed to a waiter
//!   that has not run yet);
//! * `QUEUED`: someone may be in the wait list, so an unlock must look at
//!   it.
//!
//! Lock is a compare-exchange `0 → LOCKED`; unlock subtracts `LOCKED`
//! (one `lock xadd`) and is done if the word was exactly `LOCKED`. The
//! rules that make it race-free:
//!
//! 1. `QUEUED` is set or cleared only with the wait-list lock held. A
//!    locker sets it in the compare-exchange `LOCKED → LOCKED | QUEUED`
//!    that also checks the mutex is still held, then pushes its entry
//!    before it lets go of the list lock.
//! 2. Without the list lock, the word changes only by the fast lock
//!    (`0 → LOCKED`) and by the owner's unlock (minus `LOCKED`). While
//!    `QUEUED` is set the fast lock fails, so only the owner changes the
//!    word, and its unlock then leaves `QUEUED` alone: "released, to be
//!    handed over". That value is not 0, so no fast lock or `try_lock`
//!    takes it, and a slow locker queues behind the waiters (FIFO).
//! 3. An unlock that found `QUEUED` takes the list lock and hands the
//!    mutex to the first waiter, storing `LOCKED` (or `LOCKED | QUEUED` if
//!    more wait): the FIFO hand-off of `docs/sync.md`. If the list turned
//!    out empty it stores 0.
//!
//! So a waiter registering and an unlocker unlocking meet in one of two
//! orders on the word. If the unlock comes first (the word is 0), the
//! waiter's compare-exchange fails, it reads 0 and takes the mutex itself
//! instead of queueing. If the waiter's `LOCKED → LOCKED | QUEUED` comes
//! first, the unlock sees `QUEUED` and takes the list lock, which the
//! waiter lets go of only once its entry is in: it finds the entry and
//! hands the mutex over. No lost wake-up, and never two owners: the mutex
//! goes from one owner to the next either through the word (0) or through
//! exactly one gift slot.
//!
//! `QUEUED` may outlive the entries it announced (a waiter that timed out
//! or was killed removes its entry without touching the word): the next
//! unlock then takes the slow path once, finds the list empty and stores
//! 0. It is never missing while an entry is in the list.
//!
//! The fairness budget: `lock` and `lock_timeout` spend one unit of the
//! greenlet's budget (`consume_budget`, a decrement of the hub's counter)
//! *before* touching the word, so the yield it makes every so many
//! operations never happens while this mutex is held; `try_lock` spends
//! none, as before.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use green_runtime::{consume_budget, deadline_after};

use crate::waitq::{block, Lock, Outcome, PassOn, WaitList, Wakes};

/// The mutex is held (or handed to a waiter that has not run yet).
const LOCKED: u8 = 1;
/// The wait list may hold entries: an unlock must look at it.
const QUEUED: u8 = 2;

type List = WaitList<(), ()>;

fn itself(l: &mut List) -> &mut List {
    l
}

/// Who holds a green lock and who waits for it: a one-permit semaphore
/// with hand-off and a one-instruction fast path each way (see the module
/// comment).
struct Gate {
    state: AtomicU8,
    waiters: Lock<List>,
}

impl Gate {
    const fn new() -> Gate {
        Gate {
            state: AtomicU8::new(0),
            waiters: Lock::new(WaitList::new()),
        }
    }

    /// Takes the gate if it is free now: one compare-exchange.
    ///
    /// Acquire: on success we read the value the previous owner released
    /// (its unlock's subtraction or the slow unlock's store of 0, both
    /// Release), so its writes to the protected value happen before ours.
    #[inline(always)]
    fn try_acquire(&self) -> bool {
        self.state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the gate, waiting at most until `deadline` (`None`: for ever).
    #[inline]
    fn acquire(&self, deadline: Option<Instant>) -> bool {
        self.try_acquire() || self.acquire_slow(deadline)
    }

    /// The gate was held: queue for it under the list lock (unless it was
    /// freed meanwhile) and wait for the hand-off.
    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, deadline: Option<Instant>) -> bool {
        let q = self.waiters.lock();
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s == 0 {
                // Freed since the fast path, with nobody to hand it to
                // (rule 3). Take it; Acquire as in `try_acquire`.
                match self.state.compare_exchange_weak(
                    0,
                    LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => s = now,
                }
            } else if s & QUEUED != 0 {
                // Announced already, or released and about to be handed
                // to the first waiter by an unlocker that needs the list
                // lock we hold (rule 2): queue behind the others.
                break;
            } else {
                // `LOCKED`: announce ourselves before queueing, in the
                // same atomic step that checks the gate is still held.
                // Relaxed: nothing is published through this bit. An
                // unlocker that reads it then takes the list lock; we hold
                // that lock now, so coherence on the word orders its lock
                // after our unlock of the list (Release): it sees our
                // entry.
                match self.state.compare_exchange_weak(
                    LOCKED,
                    LOCKED | QUEUED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => s = now,
                }
            }
        }
        // The gift is the gate itself; it arrives through the slot's
        // `done` flag (Release/Acquire), which orders the previous owner's
        // writes before ours.
        let pass_on = |q: &mut List, (): ()| -> PassOn<()> { Ok(self.release_locked(q)) };
        matches!(
            block(q, itself, pass_on, (), deadline, "Mutex::lock"),
            Outcome::Woken(())
        )
    }

    /// Lets go of the gate: one atomic subtraction; done if nobody is
    /// queued. (A subtraction, `lock xadd`, measured cheaper than a
    /// compare-exchange here; unlike a swap it leaves `QUEUED` in place.)
    ///
    /// Release: publishes the owner's writes to the next owner, who takes
    /// the gate with an Acquire exchange reading this value (or, after a
    /// hand-off, through the gift slot written after it).
    #[inline(always)]
    fn release(&self) {
        if self.state.fetch_sub(LOCKED, Ordering::Release) != LOCKED {
            self.release_slow();
        }
    }

    /// `QUEUED` was set: the word is now `QUEUED` alone, which nobody but
    /// us may change (rule 2). Hand the gate over under the list lock.
    #[cold]
    #[inline(never)]
    fn release_slow(&self) {
        let wakes = self.release_locked(&mut self.waiters.lock());
        wakes.wake();
    }

    /// Hands the gate to the first waiter, or marks it free. Call with the
    /// list lock held (`q` is its state), owning the gate: after the
    /// unlock's subtraction (the word is `QUEUED`), or as a waiter that
    /// was handed the gate and is leaving (the word is `LOCKED` or
    /// `LOCKED | QUEUED`). Either way nobody else can change the word now
    /// (rule 2), so whole-word stores suffice.
    fn release_locked(&self, q: &mut List) -> Wakes {
        match q.pop_front() {
            Some((p, ())) => {
                // Held again, now by that waiter. The word is stored before
                // the hand-off: once its slot says `done`, the waiter may
                // run before our wake reaches it (its timer fired, or a
                // stale permit) and unlock, and that unlock must find the
                // word as we leave it. It reads its ownership from the slot
                // (`done`, Release/Acquire, written after this store and
                // after our unlock's Release), not from the word, so this
                // store needs no ordering of its own (Relaxed); the new
                // owner's own unlock publishes its writes.
                let word = if q.is_empty() {
                    LOCKED
                } else {
                    LOCKED | QUEUED
                };
                self.state.store(word, Ordering::Relaxed);
                Wakes::one(q.hand(p, ()))
            }
            None => {
                // Free. Release, as in `release`: the next owner takes it
                // with an Acquire exchange that reads this store.
                self.state.store(0, Ordering::Release);
                Wakes::new()
            }
        }
    }

    /// Held, or released and being handed to a waiter.
    fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != 0
    }
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
    gate: Gate,
    data: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a `MutexGuard`, and the gate
// admits one guard at a time (a guard exists only between a successful
// acquire of the gate and the matching `unlock`; see the module comment), so threads sharing the mutex
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
            gate: Gate::new(),
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
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        consume_budget();
        let acquired = self.gate.acquire(None);
        // Without a deadline the wait ends only with the hand-off.
        debug_assert!(acquired, "an untimed Mutex::lock returned without the lock");
        self.guard()
    }

    /// Like [`lock`](Mutex::lock), giving up after `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        consume_budget();
        let acquired = if timeout.is_zero() {
            self.gate.try_acquire()
        } else {
            self.gate.acquire(deadline_after(timeout))
        };
        acquired.then(|| self.guard())
    }

    /// Locks the mutex if it is free now; never blocks. Does not overtake a
    /// waiter: while anyone waits, the lock is not free.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.gate.try_acquire().then(|| self.guard())
    }

    /// True if some greenlet (or thread) holds the lock, or an unlock is
    /// handing it to a waiter right now.
    pub fn is_locked(&self) -> bool {
        self.gate.is_locked()
    }

    /// A mutable reference to the value; no locking needed, since the
    /// borrow is exclusive.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    #[inline]
    fn unlock(&self) {
        self.gate.release();
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
    #[inline]
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
