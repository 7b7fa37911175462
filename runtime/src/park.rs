//! Parking: how a greenlet (or the main context) waits and who may wake it.
//!
//! # The wake-up protocol
//!
//! * Only the hub that owns a greenlet changes its state. An [`Unparker`]
//!   used on that hub's thread wakes the greenlet directly; used on any
//!   other thread it sends a message through the hub's lock-free inbox and
//!   wakes the hub's poll with its `mio::Waker`.
//! * A wake that arrives while the greenlet is not parked is kept as a
//!   *permit*: its next park returns at once (as [`std::thread::park`]).
//!   So the order *register as a waiter → re-check the condition → park*
//!   never loses a wake-up.
//! * Parks may return spuriously (a stale permit, an I/O event for another
//!   direction): callers loop until their condition holds.
//! * A park is a *blocking point*: a pending kill, or an expired deadline of
//!   an enclosing [`Timeout`](crate::Timeout), unwinds from it instead of
//!   returning. Wait lists must therefore remove their entry in a `Drop`
//!   guard.

use std::fmt;
use std::panic;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::greenlet::{KillSignal, Record, State, Wait};
use crate::hub::{hub, try_hub, Hub, HubShared, Message};
use crate::slab::Key;
use crate::timeout::TimeoutSignal;

/// Wakes one parked greenlet (or main context), from any thread.
///
/// Obtained with [`current_unparker`] before parking; cheap to clone.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let done = Arc::new(AtomicBool::new(false));
/// let (d, me) = (done.clone(), green_runtime::current_unparker());
/// let t = std::thread::spawn(move || {
///     d.store(true, Ordering::Release);
///     me.unpark(); // through the hub's inbox and waker
/// });
/// // Register, re-check, park: a wake before the park is not lost.
/// while !done.load(Ordering::Acquire) {
///     green_runtime::park("the other thread");
/// }
/// t.join().unwrap();
/// ```
#[derive(Clone)]
pub struct Unparker {
    hub: Arc<HubShared>,
    key: Key,
}

impl fmt::Debug for Unparker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unparker")
            .field("hub", &self.hub.id)
            .field("greenlet", &self.key.to_u64())
            .finish()
    }
}

impl PartialEq for Unparker {
    fn eq(&self, other: &Self) -> bool {
        self.hub.id == other.hub.id && self.key == other.key
    }
}

impl Eq for Unparker {}

impl Unparker {
    pub(crate) fn from_parts(hub: Arc<HubShared>, key: Key) -> Unparker {
        Unparker { hub, key }
    }

    /// Wakes the greenlet if it is parked; otherwise its next park returns
    /// at once. Waking a greenlet that has ended does nothing.
    #[inline]
    pub fn unpark(&self) {
        match try_hub() {
            Some(h) if h.shared.id == self.hub.id => h.unpark(self.key),
            _ => self.hub.send(Message::Unpark(self.key)),
        }
    }
}

/// An [`Unparker`] for the running greenlet (or main context).
pub fn current_unparker() -> Unparker {
    let h = hub();
    Unparker {
        hub: h.shared.clone(),
        key: h.current(),
    }
}

/// Parks the running greenlet until it is unparked; the hub runs others
/// meanwhile. `reason` shows in [`dump`](crate::dump) and deadlock reports.
///
/// May return spuriously. Unwinds if the greenlet is killed or a
/// [`Timeout`](crate::Timeout) around it expires.
#[inline(always)]
pub fn park(reason: &'static str) {
    park_with(Wait::Other(reason), None);
}

/// Like [`park`], but returns `false` once `deadline` has passed (`None`:
/// no deadline). `true` means unparked, or spurious.
#[inline(always)]
pub fn park_until(deadline: Option<Instant>, reason: &'static str) -> bool {
    park_with(Wait::Other(reason), deadline)
}

/// Puts the record back to running after a park, also when the park
/// unwinds (kill, timeout, or the deadlock panic in the main context).
struct Restore<'a> {
    hub: &'a Hub,
    rec: &'a Record,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        // `wait` is only read while the state is `Parked`: left as it is.
        self.rec.state.set(State::Running);
        if let Some(t) = self.rec.timer.take() {
            self.hub.timers.borrow_mut().cancel(t);
        }
    }
}

fn throw_kill() -> ! {
    panic::resume_unwind(Box::new(KillSignal))
}

/// Delivers a pending kill or an expired `Timeout` of the running greenlet.
///
/// Not while the greenlet is already unwinding: a destructor that blocks
/// (flushing a buffered green socket, taking a green lock) must be able to
/// wait normally, as a gevent `finally:` block can; throwing again from it
/// would abort the process. The kill or timeout is delivered at the next
/// blocking point after the unwind ends.
#[inline]
fn checkpoint(rec: &Record) {
    if !rec.killed.get() && rec.earliest.get().is_none() {
        return;
    }
    if std::thread::panicking() || rec.shielded.get() {
        return;
    }
    if rec.killed.get() {
        throw_kill();
    }
    if let Some((id, at)) = rec.earliest.get() {
        if Instant::now() >= at {
            panic::resume_unwind(Box::new(TimeoutSignal(id)));
        }
    }
}

/// The one park every blocking operation goes through. Returns `false` if
/// `deadline` passed, `true` if unparked (or spuriously).
#[inline(always)]
pub(crate) fn park_with(wait: Wait, deadline: Option<Instant>) -> bool {
    let hub = hub();
    let rec = hub.current_rec();
    checkpoint(rec);
    if rec.notified.get() {
        rec.notified.set(false);
        return true;
    }
    if let Some(d) = deadline {
        if Instant::now() >= d {
            return false;
        }
    }
    let marker = 0u8;
    let sp = &marker as *const u8 as usize;
    rec.park_sp.set(sp);
    let deepest = rec.deepest.get();
    if deepest == 0 || sp < deepest {
        rec.deepest.set(sp);
    }
    rec.state.set(State::Parked);
    rec.wait.set(wait);
    // A region's deadline is not delivered while the greenlet unwinds or
    // is shielded (see `checkpoint`): a timer for it would only wake this
    // park again and again, a busy wait until the park's own cause comes.
    let region = match rec.earliest.get() {
        Some(e) if !rec.shielded.get() && !std::thread::panicking() => Some(e),
        _ => None,
    };
    let wake_at = match (deadline, region) {
        (Some(a), Some((_, b))) => Some(a.min(b)),
        (a, b) => a.or(b.map(|b| b.1)),
    };
    // `timed_out` is only ever set by the firing of a park timer, so it is
    // false whenever no timer is armed: parks without one leave it alone.
    let timed = wake_at.is_some();
    if let Some(at) = wake_at {
        rec.timed_out.set(false);
        rec.timer.set(Some(hub.insert_timer(at, rec.key.get())));
    }
    let restore = Restore { hub, rec };
    hub.switch_out();
    drop(restore);
    let timed_out = timed && rec.timed_out.replace(false);
    checkpoint(rec);
    !(timed_out && deadline.is_some_and(|d| Instant::now() >= d))
}

/// Lets every other ready greenlet run once, then continues; a blocking
/// point (kill and `Timeout` are delivered here). Mirrors
/// [`std::thread::yield_now`] and gevent's `sleep(0)`.
#[inline(always)]
pub fn yield_now() {
    let hub = hub();
    let rec = hub.current_rec();
    checkpoint(rec);
    // No `wait` to record: it is only read while `Parked`.
    let marker = 0u8;
    rec.park_sp.set(&marker as *const u8 as usize);
    rec.state.set(State::Ready);
    hub.push_ready(rec);
    let restore = Restore { hub, rec };
    hub.switch_out();
    drop(restore);
    checkpoint(rec);
}

/// Blocks the running greenlet for `dur`; other greenlets run meanwhile.
/// `sleep(Duration::ZERO)` yields once, like gevent's `sleep(0)`. A
/// duration too large to represent sleeps for ever (until killed).
///
/// ```
/// use std::time::{Duration, Instant};
/// let t = Instant::now();
/// green_runtime::sleep(Duration::from_millis(10));
/// assert!(t.elapsed() >= Duration::from_millis(10));
/// ```
pub fn sleep(dur: Duration) {
    if dur.is_zero() {
        yield_now();
        return;
    }
    let deadline = Instant::now().checked_add(dur);
    while park_with(Wait::Sleep, deadline) {}
}

/// Blocks the running greenlet until `deadline`.
pub fn sleep_until(deadline: Instant) {
    while park_with(Wait::Sleep, Some(deadline)) {}
}

/// Waits until the hub has nothing else to do: no greenlet ready, no I/O
/// ready, no timer due (GLib's idle priority). Useful for background work
/// that must never delay I/O.
///
/// Like every park it may return early if something unparks the greenlet
/// meanwhile; a background loop simply calls it again.
pub fn idle() {
    let hub = hub();
    hub.current_rec().notified.set(false);
    hub.push_idle(hub.current());
    park_with(Wait::Idle, None);
}

/// Spends one unit of the running greenlet's budget of operations that
/// completed without blocking; when it runs out, yields once so one
/// always-ready socket cannot starve the others. Green operations call this
/// on their fast path; CPU-bound code can call it in its loops.
#[inline]
pub fn consume_budget() {
    let hub = hub();
    let b = hub.budget.get();
    if b == 0 {
        budget_spent();
    } else {
        hub.budget.set(b - 1);
    }
}

/// The rare end of [`consume_budget`], out of line so the fast path stays
/// a few instructions inlined into every green operation.
#[cold]
#[inline(never)]
fn budget_spent() {
    yield_now();
}

/// A deadline `dur` from now, or `None` if it cannot be represented (a
/// duration that large means "no deadline").
pub fn deadline_after(dur: Duration) -> Option<Instant> {
    Instant::now().checked_add(dur)
}
