//! Event: a flag that greenlets can wait for (gevent's `Event`).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::waitq::{block, no_pass_on, Lock, Outcome, WaitList};
use green_runtime::{consume_budget, deadline_after, Unparker};

struct State {
    waiters: WaitList<(), ()>,
}

fn waiters(s: &mut State) -> &mut WaitList<(), ()> {
    &mut s.waiters
}

/// A flag that greenlets wait for: [`set`](Event::set) wakes every waiter,
/// [`clear`](Event::clear) lowers it again.
///
/// Works across threads: a greenlet on one hub, the main context of
/// another thread, or a plain OS thread may set it or wait on it.
///
/// ```
/// use std::sync::Arc;
/// use green_sync::Event;
///
/// let ready = Arc::new(Event::new());
/// let r = ready.clone();
/// let waiter = green_runtime::spawn(move || { r.wait(); "woken" });
/// let setter = green_runtime::spawn(move || ready.set());
/// setter.join().unwrap();
/// assert_eq!(waiter.join().unwrap(), "woken");
/// ```
///
/// # Notes
/// A waiter woken by `set` returns `true` even if the flag was cleared
/// again before it ran (as in gevent): it saw the flag go up.
pub struct Event {
    flag: AtomicBool,
    state: Lock<State>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl Event {
    /// A new event, not set.
    pub const fn new() -> Event {
        Event {
            flag: AtomicBool::new(false),
            state: Lock::new(State {
                waiters: WaitList::new(),
            }),
        }
    }

    /// True if the flag is up.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Raises the flag and wakes every waiter. Never blocks.
    #[inline]
    pub fn set(&self) {
        let mut st = self.state.lock();
        self.flag.store(true, Ordering::Release);
        if st.waiters.len() <= 1 {
            // The common cases, none or one waiter, without collecting
            // the wakes in a list.
            let one = st.waiters.hand_front(()).ok();
            drop(st);
            if let Some(w) = one {
                w.wake();
            }
            return;
        }
        let woken = st.waiters.hand_all(|()| ());
        drop(st);
        woken.wake();
    }

    /// Lowers the flag; later waiters block until the next `set`.
    #[inline]
    pub fn clear(&self) {
        // No lock needed: `set` hands every registered waiter its wake-up
        // under the lock, so lowering the flag cannot take one back; a
        // waiter that looks after this simply waits for the next `set`.
        self.flag.store(false, Ordering::Release);
    }

    /// Blocks until the flag is set (returns at once if it is).
    #[inline]
    pub fn wait(&self) {
        self.wait_deadline(None);
    }

    /// Like [`wait`](Event::wait) for at most `timeout`; returns whether the
    /// flag was set (`false`: timed out).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_deadline(Some(timeout))
    }

    // Inlined into `wait` and through it into the caller: after the stack
    // switch every frame between the park and the user's code costs a
    // return the CPU mispredicts (see docs/internals.md).
    #[inline(always)]
    fn wait_deadline(&self, timeout: Option<Duration>) -> bool {
        if self.is_set() {
            consume_budget();
            return true;
        }
        let deadline = timeout.and_then(deadline_after);
        let st = self.state.lock();
        if self.is_set() {
            return true;
        }
        if timeout == Some(Duration::ZERO) {
            return false;
        }
        match block(st, waiters, no_pass_on, (), deadline, "Event::wait") {
            Outcome::Woken(()) => true,
            Outcome::TimedOut(()) => self.is_set(),
        }
    }

    /// Registers `u` to be unparked at the next `set` (for `wait`/`iwait`).
    pub(crate) fn subscribe(&self, u: Unparker) -> u64 {
        let mut st = self.state.lock();
        if self.is_set() {
            drop(st);
            u.unpark();
            return u64::MAX;
        }
        st.waiters.subscribe(u, ())
    }

    /// Removes a registration made by [`subscribe`](Event::subscribe).
    pub(crate) fn unsubscribe(&self, ticket: u64) {
        if ticket != u64::MAX {
            self.state.lock().waiters.take(ticket);
        }
    }
}
