//! Wait queue: the one FIFO list of parked waiters every primitive of this
//! crate is built on.
//!
//! A primitive keeps its state (a permit count, a buffer of items, a flag)
//! and one or more [`WaitList`]s behind a single short `parking_lot` lock.
//! A waiter is an entry in a list: the [`Unparker`] of the greenlet (or
//! main context, or plain thread) that waits, an optional *deposit* (the
//! item a blocked `put` wants to deliver, whether a blocked `RwLock` waiter
//! wants to read or write) and, once it has been woken, its *gift* (the
//! item, permit or lock handed to it).
//!
//! # The wake-up protocol
//!
//! 1. **Check, then register, under the lock.** A blocking operation takes
//!    the primitive's lock, tries to complete at once, and only if it
//!    cannot, pushes an entry at the back of the list ([`Waiter::register`])
//!    and releases the lock. Whoever changes the state takes the same lock,
//!    so it either ran before the check (and the check saw its change) or
//!    after the registration (and it sees the entry): no lost wake-up.
//! 2. **Hand-off, not wake-and-retry.** A releaser never puts a resource
//!    back where anyone could grab it while a waiter is queued: it pops the
//!    *first* waiting entry, moves the resource into that entry as its gift
//!    ([`WaitList::hand`]), and unparks it. The resource belongs to that
//!    waiter from that instant, even before it runs. So:
//!    * wake-up order is FIFO;
//!    * a greenlet that releases and at once re-acquires in a loop cannot
//!      starve a waiter: its release gave the resource away, and its
//!      re-acquire finds nothing free (the free count or buffer stays empty
//!      while anyone waits) and queues *behind* the waiter it served;
//!    * a woken waiter never finds that someone else got there first, so it
//!      never has to re-queue and lose its place.
//! 3. **Park until gifted.** The waiter parks with
//!    [`green_runtime::park_until`]. A park may return early (a permit left
//!    from an earlier wake, a spurious wake-up): the waiter re-takes the
//!    lock and looks at its own entry; only a gift or its deadline ends the
//!    wait. A wake that arrives before the waiter parked is kept by the
//!    runtime as a permit, so the order *register → unlock → park* is safe.
//! 4. **Leave at once, pass on what you were given.** [`Waiter`] is a drop
//!    guard. If the waiter times out, or a kill or an expired
//!    [`Timeout`](green_runtime::Timeout) unwinds out of the park, the guard
//!    takes the lock and removes the entry. If a gift had already been
//!    handed to it, the guard gives the gift to the primitive's *pass-on*
//!    function, which hands it to the next waiter or puts it back (an item
//!    to the head of the queue, a permit to the count). Nothing is lost and
//!    nothing is taken by a waiter that is no longer there. A deadline that
//!    passes after the gift was handed still returns the gift: an item that
//!    arrived in time is never dropped because the timer fired too.
//!
//! Unparking happens after the lock is released where the code allows, so
//! the woken greenlet (possibly on another hub) does not find it held.
//! [`Unparker::unpark`] works from any thread: on another hub it goes
//! through that hub's inbox and `mio::Waker`; nothing busy-polls.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use green_runtime::{current_unparker, park_until, Unparker};
use parking_lot::Mutex;

/// A FIFO list of waiters with per-entry deposit `D` and gift `G`.
///
/// Waiting entries are ordered by ticket (arrival order); woken entries
/// sit in `woken` with their gift until their owner collects it. Entries
/// are only ever woken from the front of `waiting`, so `woken` is sorted by
/// ticket too, and both lookups are binary searches. Neither queue
/// allocates once it has grown to the usual number of waiters.
pub(crate) struct WaitList<D, G> {
    next: u64,
    waiting: VecDeque<(u64, Unparker, D)>,
    woken: VecDeque<(u64, G)>,
}

impl<D, G> fmt::Debug for WaitList<D, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList")
            .field("waiting", &self.waiting.len())
            .field("woken", &self.woken.len())
            .finish()
    }
}

impl<D, G> Default for WaitList<D, G> {
    fn default() -> Self {
        Self::new()
    }
}

/// A waiting entry taken off the front of a list, to be handed its gift.
#[must_use = "hand the popped waiter its gift"]
pub(crate) struct Popped {
    ticket: u64,
    unparker: Unparker,
}

/// What became of an entry when its owner looked.
pub(crate) enum Taken<D, G> {
    /// It was handed a gift.
    Woken(G),
    /// It was still waiting; here is its deposit back.
    Waiting(D),
    /// Not in the list (already collected).
    Gone,
}

impl<D, G> WaitList<D, G> {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        WaitList {
            next: 0,
            waiting: VecDeque::new(),
            woken: VecDeque::new(),
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

    /// The deposit of the first waiting entry.
    pub(crate) fn front(&self) -> Option<&D> {
        self.waiting.front().map(|e| &e.2)
    }

    /// Pushes a waiting entry at the back; returns its ticket.
    pub(crate) fn push(&mut self, unparker: Unparker, data: D) -> u64 {
        let t = self.next;
        self.next += 1;
        self.waiting.push_back((t, unparker, data));
        t
    }

    /// Takes the first waiting entry off the list, with its deposit.
    pub(crate) fn pop_front(&mut self) -> Option<(Popped, D)> {
        self.waiting
            .pop_front()
            .map(|(ticket, unparker, d)| (Popped { ticket, unparker }, d))
    }

    /// Gives a popped entry its gift; returns whom to unpark (after the
    /// lock is released).
    #[must_use = "unpark the waiter"]
    pub(crate) fn hand(&mut self, p: Popped, gift: G) -> Unparker {
        debug_assert!(self.woken.back().is_none_or(|w| w.0 < p.ticket));
        self.woken.push_back((p.ticket, gift));
        p.unparker
    }

    /// Hands `gift` to the first waiting entry, if there is one; otherwise
    /// gives the gift back.
    pub(crate) fn hand_front(&mut self, gift: G) -> Result<Unparker, G> {
        match self.pop_front() {
            Some((p, _)) => Ok(self.hand(p, gift)),
            None => Err(gift),
        }
    }

    /// Hands every waiting entry a gift made from its deposit; returns
    /// whom to unpark.
    #[must_use = "unpark the waiters"]
    pub(crate) fn hand_all(&mut self, mut gift: impl FnMut(D) -> G) -> Vec<Unparker> {
        let mut out = Vec::with_capacity(self.waiting.len());
        while let Some((p, d)) = self.pop_front() {
            let g = gift(d);
            out.push(self.hand(p, g));
        }
        out
    }

    /// Removes an entry, whatever its state.
    pub(crate) fn take(&mut self, ticket: u64) -> Taken<D, G> {
        if let Some(g) = self.take_woken(ticket) {
            return Taken::Woken(g);
        }
        // Waiting entries are sorted by ticket.
        match self.waiting.binary_search_by_key(&ticket, |e| e.0) {
            Ok(i) => match self.waiting.remove(i) {
                Some((_, _, d)) => Taken::Waiting(d),
                None => Taken::Gone,
            },
            Err(_) => Taken::Gone,
        }
    }

    fn take_woken(&mut self, ticket: u64) -> Option<G> {
        let i = self.woken.binary_search_by_key(&ticket, |w| w.0).ok()?;
        self.woken.remove(i).map(|w| w.1)
    }
}

/// Unparks every waiter in `ws`.
pub(crate) fn unpark_all(ws: Vec<Unparker>) {
    for w in ws {
        w.unpark();
    }
}

/// What a pass-on function did with a gift: `Ok` with whom to wake, or
/// `Err` with the gift back, to be dropped once the lock is released (so a
/// user `Drop` never runs under it).
pub(crate) type PassOn<G> = Result<Vec<Unparker>, G>;

/// How a [`Waiter::wait`] ended.
pub(crate) enum Outcome<D, G> {
    /// A gift was handed to the waiter.
    Woken(G),
    /// The deadline passed first; the deposit comes back.
    TimedOut(D),
}

/// A registered waiter: the drop guard of the protocol above.
///
/// `S` is the primitive's locked state; `list` selects the list inside it
/// and `pass_on` passes a gift on when the waiter leaves without taking it.
pub(crate) struct Waiter<'a, S, D, G> {
    lock: &'a Mutex<S>,
    list: fn(&mut S) -> &mut WaitList<D, G>,
    pass_on: fn(&mut S, G) -> PassOn<G>,
    ticket: u64,
    armed: bool,
}

impl<'a, S, D, G> Waiter<'a, S, D, G> {
    /// Pushes an entry for the running greenlet at the back of the list
    /// chosen by `list` in `state` (whose lock the caller holds).
    pub(crate) fn register(
        lock: &'a Mutex<S>,
        state: &mut S,
        list: fn(&mut S) -> &mut WaitList<D, G>,
        pass_on: fn(&mut S, G) -> PassOn<G>,
        deposit: D,
    ) -> Self {
        let ticket = list(state).push(current_unparker(), deposit);
        Waiter {
            lock,
            list,
            pass_on,
            ticket,
            armed: true,
        }
    }

    /// Parks until a gift is handed or `deadline` passes. Call with the
    /// lock released. Unwinds (kill, `Timeout`) through the drop guard.
    pub(crate) fn wait(mut self, deadline: Option<Instant>, reason: &'static str) -> Outcome<D, G> {
        loop {
            let in_time = park_until(deadline, reason);
            let mut st = self.lock.lock();
            let list = (self.list)(&mut st);
            if let Some(g) = list.take_woken(self.ticket) {
                self.armed = false;
                return Outcome::Woken(g);
            }
            if !in_time {
                if let Taken::Waiting(d) = list.take(self.ticket) {
                    self.armed = false;
                    return Outcome::TimedOut(d);
                }
            }
        }
    }
}

impl<S, D, G> Drop for Waiter<'_, S, D, G> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut st = self.lock.lock();
        let taken = (self.list)(&mut st).take(self.ticket);
        let passed = match taken {
            Taken::Woken(g) => (self.pass_on)(&mut st, g),
            Taken::Waiting(_) | Taken::Gone => Ok(Vec::new()),
        };
        drop(st);
        // A deposit or an unpassed gift is dropped here, unlocked.
        if let Ok(wake) = passed {
            unpark_all(wake);
        }
    }
}

impl<S, D, G> fmt::Debug for Waiter<'_, S, D, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("ticket", &self.ticket)
            .finish()
    }
}

/// The pass-on of lists whose gifts need not be passed on: every waiter is
/// woken anyway (events), or the gift is the leaver's own (a queue's item
/// given back to a killed putter).
pub(crate) fn no_pass_on<S, G>(_: &mut S, gift: G) -> PassOn<G> {
    Err(gift)
}
