//! Borrowed wake handles: what wait lists store instead of an [`Unparker`].
//!
//! An [`Unparker`] owns a reference count on its hub's shared part, so it
//! may outlive the wait it was made for and be used from anywhere. Taking
//! and dropping that count costs two locked atomic instructions per wait,
//! a good part of a green hand-off between two greenlets of one hub.
//!
//! A [`WakeRef`] is the same address (hub and greenlet) without the count.
//! It is only valid while the greenlet it names is still inside the wait
//! it was taken for: a wait list whose entries are removed, under the
//! list's lock, before their waiter leaves the wait (a drop guard does
//! that) can keep `WakeRef`s. Whoever pops an entry turns it into a
//! [`Wake`] with [`WakeRef::prepare`] while still holding the lock; the
//! `Wake` owns what it needs and is used after the lock is released. For a
//! waiter on the caller's own hub it is just the greenlet's key (no atomic
//! at all); for a waiter on another hub, `prepare` takes the reference
//! count then, so only cross-thread wakes pay for it.
//!
//! Why the hub is alive while one of its greenlets waits: a hub is dropped
//! at thread exit only after every greenlet has ended (each is killed and
//! its drop guards run); a greenlet that refuses to end is leaked together
//! with its stack and the hub's shared part (see `Hub::teardown`). Such a
//! greenlet stays in the wait lists it was in but never runs again;
//! [`WakeRef::prepare`] then returns `None`, telling the list to skip it
//! rather than hand it something that would be lost with it.

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::rc::Rc;
use std::sync::Arc;

use crate::greenlet::Record;
use crate::hub::{Hub, HubShared};
use crate::park::Unparker;
use crate::slab::Key;

/// A borrowed, copyable handle to a waiting greenlet (or main context):
/// its hub and its key, without a reference count. See
/// [`current_wake_ref`] and [`prepare`](WakeRef::prepare).
///
/// This is the building block of wait lists that must not pay for an
/// [`Unparker`] per wait; most code should use `Unparker`.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// // A one-entry wait list, on one thread (`spawn` needs no `Send`).
/// let entry: Rc<Cell<Option<green_runtime::WakeRef>>> = Rc::new(Cell::new(None));
/// let done = Rc::new(Cell::new(false));
/// let waker = green_runtime::spawn({
///     let (entry, done) = (entry.clone(), done.clone());
///     move || {
///         let me = loop {
///             match entry.take() {
///                 Some(w) => break w,
///                 None => green_runtime::yield_now(),
///             }
///         };
///         done.set(true);
///         // SAFETY: the main context is still in its wait: it cannot run
///         // (and see `done`) before this greenlet yields or ends.
///         if let Some(wake) = unsafe { me.prepare() } {
///             wake.wake();
///         }
///     }
/// });
/// entry.set(Some(green_runtime::current_wake_ref()));
/// while !done.get() {
///     green_runtime::park("the example");
/// }
/// waker.join().unwrap();
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WakeRef {
    hub: *const HubShared,
    key: Key,
    /// The greenlet's record (`Rc::as_ptr` of the hub's `Rc<Record>`),
    /// only used on its hub's thread: a local wake holds the record itself
    /// instead of looking the key up in the greenlet slab.
    rec: *const Record,
}

// SAFETY: a `WakeRef` is an address; it is only dereferenced in `prepare`,
// whose contract (the waiter is still waiting, so its hub and the hub's
// shared part are alive) holds on whichever thread calls it. `HubShared`
// itself is `Send + Sync`. The record pointer is only followed on the
// record's own hub thread (`prepare` compares the hubs first).
unsafe impl Send for WakeRef {}
// SAFETY: as above; `prepare` takes `&self` and only reads.
unsafe impl Sync for WakeRef {}

impl fmt::Debug for WakeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WakeRef")
            .field("greenlet", &self.key.to_u64())
            .finish()
    }
}

/// A [`WakeRef`] to the running greenlet (or main context). No atomic
/// operation, no allocation.
#[inline]
pub fn current_wake_ref() -> WakeRef {
    let h = crate::hub::hub();
    let rec = h.current_rec();
    WakeRef {
        hub: Arc::as_ptr(&h.shared),
        key: rec.key.get(),
        rec,
    }
}

impl WakeRef {
    /// Turns the handle into a [`Wake`] that can be used later, from any
    /// thread, even after the waiter has left its wait.
    ///
    /// Returns `None` if the waiter will never run again: its thread has
    /// ended and it was leaked because it refused to end when killed. A
    /// wait list should then drop the entry and hand what it was about to
    /// give to the next waiter instead. (A hand-off that races with the end
    /// of the waiter's thread, made after the thread's last attempt to end
    /// the greenlet but before it gives up on it, can still go to it and be
    /// lost with it.)
    ///
    /// # Safety
    /// The greenlet (or main context) this handle was taken from must
    /// still be inside the wait it was taken for: it has not yet returned
    /// from it, and cannot until the caller lets it (typically: the caller
    /// holds the lock the waiter must take to leave, and the waiter's entry
    /// was still in the list under that lock).
    #[inline]
    pub unsafe fn prepare(&self) -> Option<Wake> {
        if let Some(h) = Hub::local() {
            if Arc::as_ptr(&h.shared) == self.hub {
                // The caller's own hub is running: not abandoned.
                // SAFETY: by the caller's contract the waiter is still
                // waiting, so its record is alive: the hub's greenlet slab
                // (or `Hub::main_rec`) holds the `Rc` that `rec` was taken
                // from with `Rc::as_ptr`. We are on that hub's thread, the
                // only one that ever touches the record or its count, so
                // taking one more (non-atomic) count is sound; the `Rc`
                // below owns it.
                let rec = unsafe {
                    Rc::increment_strong_count(self.rec);
                    Rc::from_raw(self.rec)
                };
                return Some(Wake(WakeInner::Local(rec), PhantomData));
            }
        }
        // SAFETY: by the caller's contract the waiter is still in its wait,
        // so its hub's shared part is alive: owned by the hub, or leaked
        // together with the waiter at thread exit.
        if unsafe { (*self.hub).is_abandoned() } {
            return None;
        }
        // SAFETY: by the caller's contract the waiter is still waiting, so
        // its hub has not been dropped, and the hub owns one strong count
        // of its `HubShared` (`Hub::shared`) until then: the pointer, from
        // `Arc::as_ptr`, points to a live `Arc` allocation. Taking one more
        // count makes the `Unparker` below own it.
        let hub = unsafe {
            Arc::increment_strong_count(self.hub);
            Arc::from_raw(self.hub)
        };
        Some(Wake(
            WakeInner::Remote(Unparker::from_parts(hub, self.key)),
            PhantomData,
        ))
    }
}

/// A prepared wake-up: [`wake`](Wake::wake) unparks the greenlet it names
/// (or leaves it a permit; see [`park`](crate::park())). Made by
/// [`WakeRef::prepare`] or from an [`Unparker`].
///
/// Used on the thread that prepared it (not `Send`): a wake of a greenlet
/// of that thread's own hub is just the greenlet's key.
///
/// Dropping a `Wake` wakes too, so a panic between the hand-off and the
/// wake (a user's `Ord` panicking under a queue's lock, say) cannot strand
/// a waiter that was already handed what it waited for.
#[derive(Debug)]
pub struct Wake(WakeInner, PhantomData<*const ()>);

enum WakeInner {
    /// A greenlet of the hub of the thread that prepared this, by its
    /// record (kept alive by this count even if the greenlet ends first).
    Local(Rc<Record>),
    Remote(Unparker),
}

impl fmt::Debug for WakeInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WakeInner::Local(rec) => f
                .debug_tuple("Local")
                .field(&rec.key.get().to_u64())
                .finish(),
            WakeInner::Remote(u) => f.debug_tuple("Remote").field(u).finish(),
        }
    }
}

impl Wake {
    /// Unparks the greenlet. Waking one that has ended does nothing.
    #[inline(always)]
    pub fn wake(self) {
        // Not through `Drop`: the drop glue is an out-of-line call on the
        // path of every hand-off.
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped nor used again, so its field is
        // moved out exactly once.
        let inner = unsafe { std::ptr::read(&this.0) };
        inner.wake();
    }
}

impl WakeInner {
    #[inline(always)]
    fn wake(self) {
        match self {
            WakeInner::Local(rec) => wake_local(rec),
            WakeInner::Remote(u) => u.unpark(),
        }
    }
}

/// A local wake, out of line: one call at each of the many wake sites
/// green-sync inlines (as `Hub::unpark` was), with the unpark and the
/// release of the record's count behind it.
#[inline(never)]
fn wake_local(rec: Rc<Record>) {
    unpark_local(&rec);
}

#[inline]
fn unpark_local(rec: &Record) {
    // Prepared on this thread (a `Wake` is not `Send`): this thread's hub
    // is the greenlet's hub.
    if let Some(h) = Hub::local() {
        h.unpark_held(rec);
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        match &self.0 {
            WakeInner::Local(rec) => unpark_local(rec),
            WakeInner::Remote(u) => u.unpark(),
        }
    }
}

impl From<Unparker> for Wake {
    fn from(u: Unparker) -> Wake {
        Wake(WakeInner::Remote(u), PhantomData)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    /// A local `Wake` holds its greenlet's record: used after the greenlet
    /// has ended (and left the slab), it only leaves a permit on the dead
    /// record; it queues nothing, and the hub goes on as before.
    #[test]
    fn a_wake_used_after_its_greenlet_ended_does_nothing() {
        let entry: Rc<Cell<Option<WakeRef>>> = Rc::new(Cell::new(None));
        let g = crate::spawn({
            let entry = entry.clone();
            move || {
                entry.set(Some(current_wake_ref()));
                crate::park("the test");
            }
        });
        crate::yield_now(); // `g` runs up to its park
        let me = entry.take().expect("the greenlet registered");
        // SAFETY: `g` is parked in the wait `me` was taken for, and cannot
        // leave it before this thread lets it run.
        let (first, late) = unsafe { (me.prepare(), me.prepare()) };
        let first = first.expect("a waiter of a running hub is not abandoned");
        let late = late.expect("a waiter of a running hub is not abandoned");
        first.wake();
        g.join().expect("the greenlet ends normally");
        assert_eq!(
            crate::stats().greenlets,
            0,
            "the greenlet has left the slab"
        );
        let switches = crate::stats().switches;
        late.wake();
        crate::yield_now(); // a queued greenlet would be resumed here
        assert_eq!(
            crate::stats().switches,
            switches,
            "a stale wake queues nothing"
        );
        let h = crate::spawn(|| 7);
        assert_eq!(h.join().expect("the hub still runs greenlets"), 7);
    }
}
