//! wait and iwait: block until any or all of several waitables are ready
//! (gevent's `gevent.wait` and `gevent.iwait`).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use green_runtime::{current_unparker, deadline_after, park_until, JoinHandle, Unparker};

use crate::async_result::AsyncResult;
use crate::event::Event;
use crate::queue::{Channel, JoinableQueue, LifoQueue, Order, PriorityQueue, Queue};

/// Something [`wait`] and [`iwait`] can wait for: a greenlet's
/// [`JoinHandle`] (ready when it has ended), an [`Event`] (when set), an
/// [`AsyncResult`] (when set), a [`Queue`] (when a `get` would not block:
/// it has an item, a blocked putter, or is closed).
///
/// Implement it for your own types with the runtime's [`Unparker`]: `watch`
/// must arrange for the unparker to be unparked (at least) when the object
/// may have become ready, and `unwatch` must undo that.
///
/// ```
/// use green_sync::{wait, AsyncResult, Event, Queue, Waitable};
///
/// let ev = Event::new();
/// let res: AsyncResult<u8, ()> = AsyncResult::new();
/// let q = Queue::new();
/// let handle = green_runtime::spawn(|| ());
/// q.put(1).unwrap();
/// res.set(2).unwrap();
/// // Mixed waitables in one call; `ev` is never set.
/// let objects: [&dyn Waitable; 4] = [&ev, &res, &q, &handle];
/// let ready = wait(&objects, Some(std::time::Duration::from_secs(5)), Some(3));
/// assert_eq!(ready, [1, 2, 3]);
/// ```
pub trait Waitable {
    /// True if the object is ready now.
    fn is_ready(&self) -> bool;

    /// Registers `unparker` to be woken when the object may have become
    /// ready; returns a token for [`unwatch`](Waitable::unwatch).
    fn watch(&self, unparker: &Unparker) -> u64;

    /// Removes a registration made by [`watch`](Waitable::watch).
    fn unwatch(&self, unparker: &Unparker, token: u64);
}

impl<T> Waitable for JoinHandle<T> {
    fn is_ready(&self) -> bool {
        self.is_finished()
    }
    fn watch(&self, unparker: &Unparker) -> u64 {
        self.notify_on_finish(unparker.clone());
        0
    }
    fn unwatch(&self, unparker: &Unparker, _token: u64) {
        self.cancel_notify(unparker);
    }
}

impl Waitable for Event {
    fn is_ready(&self) -> bool {
        self.is_set()
    }
    fn watch(&self, unparker: &Unparker) -> u64 {
        self.subscribe(unparker.clone())
    }
    fn unwatch(&self, _unparker: &Unparker, token: u64) {
        self.unsubscribe(token);
    }
}

impl<T, E> Waitable for AsyncResult<T, E> {
    fn is_ready(&self) -> bool {
        AsyncResult::is_ready(self)
    }
    fn watch(&self, unparker: &Unparker) -> u64 {
        self.subscribe(unparker.clone())
    }
    fn unwatch(&self, _unparker: &Unparker, token: u64) {
        self.unsubscribe(token);
    }
}

impl<T, O: Order<T>> Waitable for Queue<T, O> {
    fn is_ready(&self) -> bool {
        Queue::is_ready(self)
    }
    fn watch(&self, unparker: &Unparker) -> u64 {
        self.subscribe(unparker.clone())
    }
    fn unwatch(&self, _unparker: &Unparker, token: u64) {
        self.unsubscribe(token);
    }
}

/// The other queue kinds wait like the [`Queue`] they wrap.
macro_rules! waitable_via_deref {
    ($($t:ident $(: $b:path)?),*) => {$(
        impl<T $(: $b)?> Waitable for $t<T> {
            fn is_ready(&self) -> bool {
                (**self).is_ready()
            }
            fn watch(&self, unparker: &Unparker) -> u64 {
                (**self).watch(unparker)
            }
            fn unwatch(&self, unparker: &Unparker, token: u64) {
                (**self).unwatch(unparker, token)
            }
        }
    )*};
}

waitable_via_deref!(JoinableQueue, LifoQueue, Channel, PriorityQueue: Ord);

impl<W: Waitable + ?Sized> Waitable for &W {
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
    fn watch(&self, unparker: &Unparker) -> u64 {
        (**self).watch(unparker)
    }
    fn unwatch(&self, unparker: &Unparker, token: u64) {
        (**self).unwatch(unparker, token)
    }
}

impl<W: Waitable + ?Sized> Waitable for Arc<W> {
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
    fn watch(&self, unparker: &Unparker) -> u64 {
        (**self).watch(unparker)
    }
    fn unwatch(&self, unparker: &Unparker, token: u64) {
        (**self).unwatch(unparker, token)
    }
}

/// Registrations on every object not yet ready; removed on drop, also
/// when a kill or `Timeout` unwinds out of the park.
struct Watches<'a> {
    unparker: Unparker,
    tokens: Vec<(&'a dyn Waitable, u64)>,
}

impl<'a> Watches<'a> {
    fn new(objects: impl Iterator<Item = &'a dyn Waitable>) -> Watches<'a> {
        let unparker = current_unparker();
        let tokens = objects.map(|o| (o, o.watch(&unparker))).collect();
        Watches { unparker, tokens }
    }
}

impl Drop for Watches<'_> {
    fn drop(&mut self) {
        for (o, t) in self.tokens.drain(..) {
            o.unwatch(&self.unparker, t);
        }
    }
}

/// Blocks until `count` of `objects` are ready (all of them if `count` is
/// `None`), or until `timeout` passes; returns the indices of the objects
/// ready then, in index order (gevent's `wait`).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use green_sync::{wait, Event, Waitable};
///
/// let a = Arc::new(Event::new());
/// let b = Event::new();
/// let setter = { let a = a.clone(); green_runtime::spawn(move || a.set()) };
/// let ready = wait(&[&*a, &b], Some(Duration::from_secs(5)), Some(1));
/// assert_eq!(ready, [0]); // `a` was set; `b` never is
/// setter.join().unwrap();
/// ```
pub fn wait(
    objects: &[&dyn Waitable],
    timeout: Option<Duration>,
    count: Option<usize>,
) -> Vec<usize> {
    let want = count.unwrap_or(objects.len()).min(objects.len());
    let deadline = timeout.and_then(deadline_after);
    let ready_now = || -> Vec<usize> {
        (0..objects.len())
            .filter(|&i| objects[i].is_ready())
            .collect()
    };
    loop {
        let ready = ready_now();
        if ready.len() >= want || timeout == Some(Duration::ZERO) {
            return ready;
        }
        let watches = Watches::new(
            objects
                .iter()
                .enumerate()
                .filter(|(i, _)| !ready.contains(i))
                .map(|(_, o)| *o),
        );
        // Re-check after registering: a change in between is not lost
        // (it unparked us, so the park below returns at once anyway).
        let in_time = park_until(deadline, "green_sync::wait");
        drop(watches);
        if !in_time {
            return ready_now();
        }
    }
}

/// Yields the indices of `objects` as each becomes ready, in completion
/// order, each once (gevent's `iwait`). Objects ready at the same time
/// come in index order.
///
/// ```
/// use green_sync::{iwait, AsyncResult, Waitable};
///
/// let slow: AsyncResult<u8, ()> = AsyncResult::new();
/// let fast = green_runtime::spawn(|| 1);
/// slow.set(2).unwrap();
/// let order: Vec<usize> = iwait(&[&slow, &fast]).collect();
/// assert_eq!(order.len(), 2);
/// ```
pub fn iwait<'a>(objects: &'a [&'a dyn Waitable]) -> Iwait<'a> {
    Iwait {
        objects,
        yielded: vec![false; objects.len()],
        deadline: None,
        timed: false,
    }
}

/// Like [`iwait`], but ends (yielding no more) once `timeout` has passed.
pub fn iwait_timeout<'a>(objects: &'a [&'a dyn Waitable], timeout: Duration) -> Iwait<'a> {
    Iwait {
        objects,
        yielded: vec![false; objects.len()],
        deadline: deadline_after(timeout),
        timed: true,
    }
}

/// Iterator of [`iwait`]: indices of objects in the order they become
/// ready.
///
/// ```
/// use green_sync::{iwait, Event, Waitable};
///
/// let (a, b) = (Event::new(), Event::new());
/// b.set();
/// let objects: [&dyn Waitable; 2] = [&a, &b];
/// let mut it = iwait(&objects);
/// assert_eq!(it.next(), Some(1)); // `b` is ready first
/// a.set();
/// assert_eq!(it.next(), Some(0));
/// assert_eq!(it.next(), None);
/// ```
pub struct Iwait<'a> {
    objects: &'a [&'a dyn Waitable],
    yielded: Vec<bool>,
    deadline: Option<Instant>,
    timed: bool,
}

impl fmt::Debug for Iwait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iwait")
            .field("objects", &self.objects.len())
            .field("yielded", &self.yielded.iter().filter(|y| **y).count())
            .finish()
    }
}

impl Iterator for Iwait<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            let mut pending = false;
            for (i, o) in self.objects.iter().enumerate() {
                if self.yielded[i] {
                    continue;
                }
                if o.is_ready() {
                    self.yielded[i] = true;
                    return Some(i);
                }
                pending = true;
            }
            if !pending {
                return None;
            }
            if self.timed && self.deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            let yielded = &self.yielded;
            let watches = Watches::new(
                self.objects
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !yielded[*i])
                    .map(|(_, o)| *o),
            );
            let in_time = park_until(self.deadline, "green_sync::iwait");
            drop(watches);
            if !in_time {
                return None;
            }
        }
    }
}
