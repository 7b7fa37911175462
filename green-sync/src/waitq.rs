//! Wait queue: the one FIFO list of parked waiters every primitive of this
//! crate is built on.
//!
//! A primitive keeps its state (a permit count, a buffer of items, a flag)
//! and one or more [`WaitList`]s behind a single short [`Lock`]. A waiter
//! is an entry in a list: a [`WakeRef`] to the greenlet (or main context,
//! or plain thread) that waits, an optional *deposit* (the item a blocked
//! `put` wants to deliver, whether a blocked `RwLock` waiter wants to read
//! or write) and a pointer to the waiter's *slot*, a small cell on the
//! waiter's own stack where its *gift* (the item, permit or lock handed to
//! it) is delivered.
//!
//! # The wake-up protocol
//!
//! 1. **Check, then register, under the lock.** A blocking operation takes
//!    the primitive's lock, tries to complete at once, and only if it
//!    cannot, pushes an entry at the back of the list and releases the lock
//!    ([`block`]). Whoever changes the state takes the same lock, so it
//!    either ran before the check (and the check saw its change) or after
//!    the registration (and it sees the entry): no lost wake-up.
//! 2. **Hand-off, not wake-and-retry.** A releaser never puts a resource
//!    back where anyone could grab it while a waiter is queued: it pops the
//!    *first* waiting entry, moves the resource into that entry's slot as
//!    its gift ([`WaitList::hand`]), and wakes it. The resource belongs to
//!    that waiter from that instant, even before it runs. So:
//!    * wake-up order is FIFO;
//!    * a greenlet that releases and at once re-acquires in a loop cannot
//!      starve a waiter: its release gave the resource away, and its
//!      re-acquire finds nothing free (the free count or buffer stays empty
//!      while anyone waits) and queues *behind* the waiter it served;
//!    * a woken waiter never finds that someone else got there first, so it
//!      never has to re-queue and lose its place.
//! 3. **Park until gifted.** The waiter parks with
//!    [`green_runtime::park_until`]. A park may return early (a permit left
//!    from an earlier wake, a spurious wake-up): the waiter looks at its
//!    slot's `done` flag (one acquire load, no lock); only a gift or its
//!    deadline ends the wait. A wake that arrives before the waiter parked
//!    is kept by the runtime as a permit, so the order *register → unlock
//!    → park* is safe.
//! 4. **Leave at once, pass on what you were given.** The wait is guarded
//!    by a drop guard. If the waiter times out, or a kill or an expired
//!    [`Timeout`](green_runtime::Timeout) unwinds out of the park, the guard
//!    takes the lock and removes the entry. If a gift had already been
//!    handed to it, the guard gives the gift to the primitive's *pass-on*
//!    function, which hands it to the next waiter or puts it back (an item
//!    to the head of the queue, a permit to the count). Nothing is lost and
//!    nothing is taken by a waiter that is no longer there. A deadline that
//!    passes after the gift was handed still returns the gift: an item that
//!    arrived in time is never dropped because the timer fired too.
//!
//! # Why the slot and the `WakeRef` are sound
//!
//! An entry points into its waiter's stack frame (the slot) and names its
//! waiter by a [`WakeRef`], which holds no reference count. Both are valid
//! exactly while the entry is in the list: the waiter's frame cannot end
//! before its drop guard has taken the lock and found the entry gone (or
//! removed it). A releaser pops the entry, turns its `WakeRef` into an
//! owned [`Wake`], writes the gift and sets `done` — all under the lock,
//! in that order — and touches neither afterwards; the `Wake` is used
//! after the lock is released. That is the whole cost of a hand-off
//! between two greenlets of one hub: the two locked instructions of the
//! two lock acquisitions, and no allocation.
//!
//! Waking happens after the lock is released where the code allows, so
//! the woken greenlet (possibly on another hub) does not find it held. A
//! wake from another thread goes through the target hub's inbox and
//! `mio::Waker`; nothing busy-polls.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use green_runtime::{current_wake_ref, park_until, Unparker, Wake, WakeRef};

pub(crate) use crate::lock::{Lock, LockGuard};

/// Where a waiter's gift is delivered: on the waiter's stack, for the life
/// of its wait.
struct Slot<G> {
    done: AtomicBool,
    gift: UnsafeCell<Option<G>>,
}

impl<G> Slot<G> {
    fn new() -> Self {
        Slot {
            done: AtomicBool::new(false),
            gift: UnsafeCell::new(None),
        }
    }

    /// Takes the gift once `done` was seen set (with acquire ordering, or
    /// under the lock after the entry was found gone).
    fn take(&self) -> Option<G> {
        // SAFETY: the releaser wrote the gift before setting `done` with
        // release ordering and never touches the slot again; the caller
        // saw `done` (or holds the lock the releaser released after
        // setting it), so no other access can happen now.
        unsafe { (*self.gift.get()).take() }
    }
}

/// A pointer to a waiter's [`Slot`], stored in its list entry.
struct SlotPtr<G>(NonNull<Slot<G>>);

// SAFETY: the pointer is only dereferenced by `WaitList::hand` under the
// primitive's lock while the entry is in the list, which keeps the slot
// alive (see the module comment); the gift it moves across threads is a
// `G`, which the primitive requires to be `Send` for it to be `Send` at
// all (the list sits in its state).
unsafe impl<G: Send> Send for SlotPtr<G> {}

/// Who an entry belongs to.
enum Who<G> {
    /// A blocked call: wake it with its gift in its slot.
    Waiter { wake: WakeRef, slot: SlotPtr<G> },
    /// A `wait`/`iwait` watcher: only woken (lists with `()` gifts only).
    Subscriber(Unparker),
}

struct Entry<D, G> {
    ticket: u64,
    who: Who<G>,
    data: D,
}

/// A FIFO list of waiters with per-entry deposit `D` and gift `G`.
///
/// Entries are ordered by ticket (arrival order), so removal by ticket is
/// a binary search; the queue does not allocate once it has grown to the
/// usual number of waiters.
pub(crate) struct WaitList<D, G> {
    next: u64,
    waiting: VecDeque<Entry<D, G>>,
}

impl<D, G> fmt::Debug for WaitList<D, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList")
            .field("waiting", &self.waiting.len())
            .finish()
    }
}

impl<D, G> Default for WaitList<D, G> {
    fn default() -> Self {
        Self::new()
    }
}

/// A waiting entry taken off the front of a list, to be handed its gift
/// (under the same lock, before it is released).
#[must_use = "hand the popped waiter its gift"]
pub(crate) struct Popped<G> {
    to: To<G>,
}

/// A popped entry's waiter, its wake-up already prepared.
enum To<G> {
    Waiter { wake: Wake, slot: SlotPtr<G> },
    Subscriber(Unparker),
}

/// Whom to wake once the lock is released: usually nobody or one, so the
/// first is kept inline and only more allocate.
#[derive(Default)]
#[must_use = "wake them after unlocking"]
pub(crate) struct Wakes {
    first: Option<Wake>,
    more: Vec<Wake>,
}

impl Wakes {
    /// Nobody to wake.
    pub(crate) const fn new() -> Wakes {
        Wakes {
            first: None,
            more: Vec::new(),
        }
    }

    /// One to wake.
    pub(crate) fn one(w: Wake) -> Wakes {
        Wakes {
            first: Some(w),
            more: Vec::new(),
        }
    }

    /// Adds one.
    pub(crate) fn push(&mut self, w: Wake) {
        if self.first.is_none() {
            self.first = Some(w);
        } else {
            self.more.push(w);
        }
    }

    /// Adds all of `other`.
    pub(crate) fn extend(&mut self, other: Wakes) {
        if let Some(w) = other.first {
            self.push(w);
        }
        self.more.extend(other.more);
    }

    /// Wakes them all (call with no lock held).
    ///
    /// Inlined down to the usual none or one: every unlock of a `Mutex`
    /// and every `put` calls it.
    #[inline(always)]
    pub(crate) fn wake(self) {
        let Wakes { first, more } = self;
        if let Some(first) = first {
            first.wake();
        }
        // `more` only ever grows by pushes, so without an allocation it is
        // empty and has nothing to drop: skip the (out-of-line) drop of
        // the vector on the common path.
        if more.capacity() == 0 {
            std::mem::forget(more);
        } else {
            wake_all(more);
        }
    }
}

/// The rare end of [`Wakes::wake`]: more than one to wake.
#[cold]
#[inline(never)]
fn wake_all(more: Vec<Wake>) {
    for w in more {
        w.wake();
    }
}

impl From<Option<Wake>> for Wakes {
    fn from(w: Option<Wake>) -> Wakes {
        Wakes {
            first: w,
            more: Vec::new(),
        }
    }
}

impl<D, G> WaitList<D, G> {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        WaitList {
            next: 0,
            waiting: VecDeque::new(),
        }
    }

    /// Number of entries still waiting (not yet handed anything).
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// True if no entry is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    fn push(&mut self, who: Who<G>, data: D) -> u64 {
        let ticket = self.next;
        self.next += 1;
        self.waiting.push_back(Entry { ticket, who, data });
        ticket
    }

    /// Takes the first waiting entry off the list, with its deposit.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<(Popped<G>, D)> {
        self.pop_front_if(|_| true)
    }

    /// Takes the first waiting entry off the list if `want` accepts its
    /// deposit.
    ///
    /// An entry whose waiter will never run again (a greenlet leaked at
    /// its thread's exit because it refused to end: `WakeRef::prepare`
    /// returns `None`) is dropped on the way, so what would have been
    /// handed to it goes to the next waiter instead; its deposit is leaked
    /// with it, like everything else on its stack. Each entry is decided
    /// once: the one `want` accepted is the one returned or dropped.
    #[inline]
    pub(crate) fn pop_front_if(&mut self, want: impl Fn(&D) -> bool) -> Option<(Popped<G>, D)> {
        loop {
            if !want(&self.waiting.front()?.data) {
                return None;
            }
            let e = self.waiting.pop_front()?;
            let to = match e.who {
                // SAFETY: the entry was in the list under the lock we hold
                // (`&mut self` is inside the locked state), so its waiter
                // is still in its wait (module comment): its hub's shared
                // part is alive. It stays in its wait until `hand` sets
                // `done`, which the caller does under this same lock.
                Who::Waiter { wake, slot } => match unsafe { wake.prepare() } {
                    Some(wake) => To::Waiter { wake, slot },
                    None => {
                        std::mem::forget(e.data);
                        continue;
                    }
                },
                Who::Subscriber(u) => To::Subscriber(u),
            };
            return Some((Popped { to }, e.data));
        }
    }

    /// Gives a popped entry its gift; returns whom to wake (after the lock
    /// is released). Call under the lock the entry was popped under.
    #[inline]
    pub(crate) fn hand(&mut self, p: Popped<G>, gift: G) -> Wake {
        match p.to {
            To::Waiter { wake, slot } => {
                // SAFETY: the entry was popped under the lock we still hold
                // (`&mut self` is inside the locked state) and its waiter
                // has not been handed anything, so it is still in its wait
                // (module comment) and its slot is alive. We write the gift
                // and set `done`; after the store the waiter may leave and
                // free the slot, and we do not touch it again.
                unsafe {
                    let slot = slot.0.as_ref();
                    *slot.gift.get() = Some(gift);
                    slot.done.store(true, Ordering::Release);
                }
                wake
            }
            // Only lists of `()` gifts have subscribers: nothing to drop.
            To::Subscriber(u) => Wake::from(u),
        }
    }

    /// Hands `gift` to the first waiting entry, if there is one; otherwise
    /// gives the gift back.
    pub(crate) fn hand_front(&mut self, gift: G) -> Result<Wake, G> {
        match self.pop_front() {
            Some((p, _)) => Ok(self.hand(p, gift)),
            None => Err(gift),
        }
    }

    /// Hands every waiting entry a gift made from its deposit; returns
    /// whom to wake.
    #[inline]
    pub(crate) fn hand_all(&mut self, mut gift: impl FnMut(D) -> G) -> Wakes {
        let mut out = Wakes::new();
        if self.waiting.is_empty() {
            return out; // the common case: a `put` with no watchers
        }
        while let Some((p, d)) = self.pop_front() {
            let g = gift(d);
            out.push(self.hand(p, g));
        }
        out
    }

    /// Removes a still-waiting entry and returns its deposit; `None` if it
    /// is not in the list (it was handed its gift).
    pub(crate) fn take(&mut self, ticket: u64) -> Option<D> {
        let i = self
            .waiting
            .binary_search_by_key(&ticket, |e| e.ticket)
            .ok()?;
        self.waiting.remove(i).map(|e| e.data)
    }
}

impl<D> WaitList<D, ()> {
    /// Adds a watcher that is only woken (by `hand`, `hand_front` or
    /// `hand_all`), for [`wait`](crate::wait)/[`iwait`](crate::iwait);
    /// remove it with [`take`](WaitList::take).
    pub(crate) fn subscribe(&mut self, u: Unparker, data: D) -> u64 {
        self.push(Who::Subscriber(u), data)
    }
}

/// What a pass-on function did with a gift: `Ok` with whom to wake, or
/// `Err` with the gift back, to be dropped once the lock is released (so a
/// user `Drop` never runs under it).
pub(crate) type PassOn<G> = Result<Wakes, G>;

/// How a [`block`] ended.
pub(crate) enum Outcome<D, G> {
    /// A gift was handed to the waiter.
    Woken(G),
    /// The deadline passed first; the deposit comes back.
    TimedOut(D),
}

/// Registers the running greenlet at the back of the list chosen by `list`
/// in the state `guard` holds, releases the lock and parks until a gift is
/// handed or `deadline` passes. Unwinds (kill, `Timeout`) after leaving
/// the list; a gift handed meanwhile goes to `pass_on`.
///
/// `list` and `pass_on` are generic rather than `fn` pointers so that the
/// functions passed (always named functions) take no room in the waiter.
#[inline(always)]
pub(crate) fn block<S, D, G, L, P>(
    guard: LockGuard<'_, S>,
    list: L,
    pass_on: P,
    deposit: D,
    deadline: Option<Instant>,
    reason: &'static str,
) -> Outcome<D, G>
where
    L: Fn(&mut S) -> &mut WaitList<D, G>,
    P: Fn(&mut S, G) -> PassOn<G>,
{
    block_then(guard, list, pass_on, deposit, deadline, reason, || ()).1
}

/// Like [`block`], running `then` after the registration and the unlock,
/// before the park (a condition variable unlocks the user's mutex there).
#[inline(always)]
pub(crate) fn block_then<S, D, G, L, P, R>(
    mut guard: LockGuard<'_, S>,
    list: L,
    pass_on: P,
    deposit: D,
    deadline: Option<Instant>,
    reason: &'static str,
    then: impl FnOnce() -> R,
) -> (R, Outcome<D, G>)
where
    L: Fn(&mut S) -> &mut WaitList<D, G>,
    P: Fn(&mut S, G) -> PassOn<G>,
{
    let slot = Slot::new();
    let who = Who::Waiter {
        wake: current_wake_ref(),
        slot: SlotPtr(NonNull::from(&slot)),
    };
    let ticket = list(&mut guard).push(who, deposit);
    // The guard below is declared after the slot, so it is dropped (and
    // the entry removed) before the slot goes away, on every path.
    let mut waiter = Waiter {
        lock: LockGuard::lock_of(&guard),
        list,
        pass_on,
        ticket,
        slot: &slot,
        armed: true,
    };
    drop(guard);
    let r = then();
    // By reference: moving the guard into the call copied it field by
    // field on every wait.
    let outcome = waiter.wait(deadline, reason);
    (r, outcome)
}

/// A registered waiter: the drop guard of the protocol above.
struct Waiter<'a, S, D, G, L, P>
where
    L: Fn(&mut S) -> &mut WaitList<D, G>,
    P: Fn(&mut S, G) -> PassOn<G>,
{
    lock: &'a Lock<S>,
    list: L,
    pass_on: P,
    ticket: u64,
    slot: &'a Slot<G>,
    armed: bool,
}

impl<S, D, G, L, P> Waiter<'_, S, D, G, L, P>
where
    L: Fn(&mut S) -> &mut WaitList<D, G>,
    P: Fn(&mut S, G) -> PassOn<G>,
{
    #[inline(always)]
    fn wait(&mut self, deadline: Option<Instant>, reason: &'static str) -> Outcome<D, G> {
        loop {
            let in_time = park_until(deadline, reason);
            if self.slot.done.load(Ordering::Acquire) {
                self.armed = false;
                return self.gift();
            }
            if !in_time {
                let mut st = self.lock.lock();
                let left = (self.list)(&mut st).take(self.ticket);
                drop(st);
                self.armed = false;
                return match left {
                    Some(d) => Outcome::TimedOut(d),
                    // Handed between the look at `done` and the lock.
                    None => self.gift(),
                };
            }
        }
    }

    fn gift(&self) -> Outcome<D, G> {
        match self.slot.take() {
            Some(g) => Outcome::Woken(g),
            // Unreachable: an entry leaves the list only to be handed (or
            // by its own waiter). Report it loudly in tests; otherwise
            // treat it as a lost race with the deadline.
            None => unreachable!("green-sync: a waiter left its list without a gift"),
        }
    }
}

impl<S, D, G, L, P> Drop for Waiter<'_, S, D, G, L, P>
where
    L: Fn(&mut S) -> &mut WaitList<D, G>,
    P: Fn(&mut S, G) -> PassOn<G>,
{
    #[inline]
    fn drop(&mut self) {
        if self.armed {
            self.leave();
        }
    }
}

impl<S, D, G, L, P> Waiter<'_, S, D, G, L, P>
where
    L: Fn(&mut S) -> &mut WaitList<D, G>,
    P: Fn(&mut S, G) -> PassOn<G>,
{
    /// The waiter leaves without having taken its gift (a kill, a
    /// `Timeout`, a panic): remove the entry or pass the gift on.
    #[cold]
    #[inline(never)]
    fn leave(&mut self) {
        let mut st = self.lock.lock();
        let mut deposit = None;
        let passed = match (self.list)(&mut st).take(self.ticket) {
            Some(d) => {
                deposit = Some(d);
                Ok(Wakes::new())
            }
            // Handed (under the lock we now hold, so the gift is visible).
            None => match self.slot.take() {
                Some(g) => (self.pass_on)(&mut st, g),
                None => Ok(Wakes::new()),
            },
        };
        drop(st);
        // A deposit or an unpassed gift is dropped here, unlocked.
        drop(deposit);
        if let Ok(wake) = passed {
            wake.wake();
        }
    }
}

/// The pass-on of lists whose gifts need not be passed on: every waiter is
/// woken anyway (events), or the gift is the leaver's own (a queue's item
/// given back to a killed putter).
pub(crate) fn no_pass_on<S, G>(_: &mut S, gift: G) -> PassOn<G> {
    Err(gift)
}
