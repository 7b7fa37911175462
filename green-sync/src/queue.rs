//! Queue: a multi-producer multi-consumer queue of items, bounded or not,
//! with close (gevent's `Queue`, `JoinableQueue`, `PriorityQueue`,
//! `LifoQueue` and `Channel`).

use std::collections::{BinaryHeap, VecDeque};
use std::error::Error;
use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use green_runtime::{consume_budget, deadline_after, Unparker, Wake};

use crate::waitq::{
    block, block_then, no_pass_on, Lock, LockGuard, Outcome, PassOn, WaitList, Wakes,
};

mod sealed {
    /// The storage of a queue: the order in which items come out.
    pub trait Store<T>: Default {
        /// Adds a newly put item.
        fn push(&mut self, item: T);
        /// Removes the next item to get.
        fn pop(&mut self) -> Option<T>;
        /// Puts back an item that was taken but not delivered (its taker
        /// was killed or timed out), so that it comes out next.
        fn give_back(&mut self, item: T);
        /// Number of items stored.
        fn len(&self) -> usize;
    }
}

use sealed::Store;

/// In which order a [`Queue`] hands out its items: [`Fifo`], [`Lifo`] or
/// [`Priority`]. Sealed: implemented only by those three.
///
/// ```
/// use green_sync::{Fifo, Lifo, LifoQueue, Queue};
///
/// let fifo: &Queue<u8, Fifo<u8>> = &Queue::new();
/// let lifo = LifoQueue::new();
/// let lifo: &Queue<u8, Lifo<u8>> = &lifo; // through Deref
/// for q in [fifo.put(1), fifo.put(2), lifo.put(1), lifo.put(2)] { q.unwrap(); }
/// assert_eq!((fifo.get().unwrap(), lifo.get().unwrap()), (1, 2));
/// ```
pub trait Order<T>: sealed::Store<T> {}

/// First in, first out: the order of [`Queue`] (see [`Order`] for an
/// example).
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);

/// Last in, first out: the order of [`LifoQueue`] (see [`Order`] for an
/// example).
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);

/// Greatest first, as [`BinaryHeap`]: the order of [`PriorityQueue`]
/// (see there for an example).
#[derive(Debug)]
pub struct Priority<T: Ord>(BinaryHeap<T>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}
impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}
impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T> Store<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn give_back(&mut self, item: T) {
        self.0.push_front(item);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
impl<T> Store<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn give_back(&mut self, item: T) {
        self.0.push(item);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
impl<T: Ord> Store<T> for Priority<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn give_back(&mut self, item: T) {
        self.0.push(item);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
impl<T> Order<T> for Fifo<T> {}
impl<T> Order<T> for Lifo<T> {}
impl<T: Ord> Order<T> for Priority<T> {}

struct State<T, O> {
    items: O,
    /// `None`: unbounded. `Some(0)`: rendezvous.
    cap: Option<usize>,
    closed: bool,
    /// Blocked `get`s; gift: an item, or `None` when the queue closed.
    getters: WaitList<(), Option<T>>,
    /// Blocked `put`s with their item; gift: `Ok` (taken) or the item back
    /// when the queue closed.
    putters: WaitList<T, Result<(), T>>,
    /// `wait`/`iwait` watchers, woken when the queue may have become ready.
    watchers: WaitList<(), ()>,
    /// Items put and not yet marked done (`JoinableQueue`).
    unfinished: usize,
    joiners: WaitList<(), ()>,
}

fn getters<T, O>(s: &mut State<T, O>) -> &mut WaitList<(), Option<T>> {
    &mut s.getters
}
fn putters<T, O>(s: &mut State<T, O>) -> &mut WaitList<T, Result<(), T>> {
    &mut s.putters
}
fn joiners<T, O>(s: &mut State<T, O>) -> &mut WaitList<(), ()> {
    &mut s.joiners
}

/// Wakes the watchers of a queue whose `put` is about to block: rare, and
/// out of line so the closure that does it stays small enough to inline.
#[cold]
#[inline(never)]
fn wake_watchers(w: Wakes) {
    w.wake();
}

/// A killed or timed-out getter had been handed `gift`: the item goes to
/// the next getter, or back to the head of the queue.
fn getter_pass_on<T, O: Order<T>>(s: &mut State<T, O>, gift: Option<T>) -> PassOn<Option<T>> {
    let Some(item) = gift else {
        return Ok(Wakes::new());
    };
    Ok(match s.getters.pop_front() {
        Some((p, ())) => Wakes::one(s.getters.hand(p, Some(item))),
        None => {
            // May exceed a bound by one: the item was accepted earlier and
            // must not be lost.
            s.items.give_back(item);
            s.watchers.hand_all(|()| ())
        }
    })
}

impl<T, O: Order<T>> State<T, O> {
    fn has_room(&self) -> bool {
        self.cap.is_none_or(|c| self.items.len() < c)
    }

    /// The common `put`: open, room in the buffer, nobody to hand the item
    /// to or to wake. Gives the item back otherwise.
    #[inline]
    fn put_plain(&mut self, item: T) -> Result<(), T> {
        if self.closed || !self.getters.is_empty() || !self.watchers.is_empty() || !self.has_room()
        {
            return Err(item);
        }
        self.items.push(item);
        self.unfinished += 1;
        Ok(())
    }

    /// The common `get`: an item in the buffer and no blocked `put` to
    /// refill it from.
    #[inline]
    fn get_plain(&mut self) -> Option<T> {
        if self.putters.is_empty() {
            self.items.pop()
        } else {
            None
        }
    }

    /// Takes the first blocked putter's item and hands the putter its
    /// success; returns the item and the putter to wake.
    #[inline(always)]
    fn take_from_putter(&mut self) -> Option<(T, Wake)> {
        let (p, item) = self.putters.pop_front()?;
        self.unfinished += 1;
        Some((item, self.putters.hand(p, Ok(()))))
    }

    /// Takes the next item if there is one; refills from the first blocked
    /// `put` (which also serves a rendezvous queue). Returns the item and
    /// whom to wake.
    fn take_now(&mut self) -> Option<(T, Option<Wake>)> {
        let Some((item, refill)) = self.take_from_putter() else {
            return self.items.pop().map(|i| (i, None));
        };
        if self.items.len() == 0 {
            // A rendezvous (or an empty buffer): the putter's item is the
            // next one out whatever the order; skip the buffer.
            return Some((item, Some(refill)));
        }
        self.items.push(item);
        self.items.pop().map(|i| (i, Some(refill)))
    }

    /// Delivers `item` now if possible: to the first blocked getter, else
    /// into the buffer. Gives it back if the queue is full.
    fn put_now(&mut self, item: T) -> Result<Wakes, T> {
        if let Some((p, ())) = self.getters.pop_front() {
            self.unfinished += 1;
            return Ok(Wakes::one(self.getters.hand(p, Some(item))));
        }
        if self.has_room() {
            self.items.push(item);
            self.unfinished += 1;
            return Ok(self.watchers.hand_all(|()| ()));
        }
        Err(item)
    }
}

/// A multi-producer, multi-consumer queue that blocks greenly: `get` waits
/// while it is empty, `put` waits while a bounded queue is full.
///
/// * [`close`](Queue::close) makes every later `put` fail; `get` drains the
///   items left, then reports [`GetError`]; the [iterator](Queue::iter)
///   ends there.
/// * Getters and putters are served in FIFO order, by hand-off: a `put`
///   with getters waiting gives its item to the longest-waiting one; a
///   `get` from a full queue moves the longest-blocked putter's item in.
/// * A getter that is killed, or unwound by an expired
///   [`Timeout`](green_runtime::Timeout), after an item was handed to it
///   passes the item on to the next getter, or back to the head of the
///   queue (this may leave a bounded queue one over its capacity for a
///   moment, rather than lose the item). A `get_timeout` whose deadline
///   passes after an item was handed to it returns the item.
/// * A `put` killed while it waits delivers nothing; one killed after a
///   getter took its item has delivered it.
/// * `Queue::bounded(0)` is a rendezvous queue, like [`Channel`].
///
/// ```
/// use green_sync::{Queue, TryGetError};
///
/// let q = Queue::new();
/// q.put("a").unwrap();
/// q.put("b").unwrap();
/// assert_eq!(q.len(), 2);
/// assert_eq!(q.get().unwrap(), "a");
/// q.close();
/// assert!(q.put("c").is_err());
/// assert_eq!(q.get().unwrap(), "b");   // drains after close…
/// assert_eq!(q.try_get(), Err(TryGetError::Closed)); // …then reports it
/// ```
///
/// The order parameter `O` is [`Fifo`] here; see [`LifoQueue`] and
/// [`PriorityQueue`] for the others.
pub struct Queue<T, O = Fifo<T>> {
    state: Lock<State<T, O>>,
}

impl<T, O: Order<T>> fmt::Debug for Queue<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Queue")
            .field("len", &st.items.len())
            .field("capacity", &st.cap)
            .field("closed", &st.closed)
            .finish()
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::new()
    }
}

impl<T> Queue<T> {
    /// An unbounded FIFO queue: `put` never blocks.
    pub fn new() -> Queue<T> {
        Queue::with_order(None)
    }

    /// A FIFO queue holding at most `cap` items: `put` blocks while it is
    /// full. `cap == 0` makes a rendezvous queue (each `put` waits for a
    /// taker), like [`Channel`].
    pub fn bounded(cap: usize) -> Queue<T> {
        Queue::with_order(Some(cap))
    }
}

impl<T, O: Order<T>> Queue<T, O> {
    fn with_order(cap: Option<usize>) -> Queue<T, O> {
        Queue {
            state: Lock::new(State {
                items: O::default(),
                cap,
                closed: false,
                getters: WaitList::new(),
                putters: WaitList::new(),
                watchers: WaitList::new(),
                unfinished: 0,
                joiners: WaitList::new(),
            }),
        }
    }

    /// Number of items in the queue (not counting blocked `put`s).
    pub fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    /// True if the queue holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if a `put` would block now (always false when unbounded).
    pub fn is_full(&self) -> bool {
        !self.state.lock().has_room()
    }

    /// The bound given at creation; `None` for an unbounded queue.
    pub fn capacity(&self) -> Option<usize> {
        self.state.lock().cap
    }

    /// True once [`close`](Queue::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// How many are blocked in `get` right now.
    pub fn getters(&self) -> usize {
        self.state.lock().getters.len()
    }

    /// Closes the queue: blocked and later `put`s fail and give their item
    /// back; `get` drains what is left, then fails. Blocked getters wake.
    /// Closing twice does nothing more.
    pub fn close(&self) {
        let wake = {
            let mut st = self.state.lock();
            st.closed = true;
            let mut wake = st.getters.hand_all(|()| None);
            wake.extend(st.putters.hand_all(Err));
            wake.extend(st.watchers.hand_all(|()| ()));
            wake
        };
        wake.wake();
    }

    /// Puts an item, blocking while a bounded queue is full.
    ///
    /// # Errors
    /// [`PutError`] with the item if the queue is closed (also if it closes
    /// while this `put` waits).
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_inner(item, None).map_err(|e| match e {
            PutTimeoutError::Closed(i) | PutTimeoutError::Timeout(i) => PutError(i),
        })
    }

    /// Like [`put`](Queue::put), giving up after `timeout`.
    ///
    /// # Errors
    /// [`PutTimeoutError::Timeout`] or [`PutTimeoutError::Closed`], with
    /// the item.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        self.put_inner(item, Some(timeout))
    }

    /// Puts an item only if that needs no waiting; never blocks.
    ///
    /// # Errors
    /// [`TryPutError::Full`] or [`TryPutError::Closed`], with the item.
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        let mut st = self.state.lock();
        let item = match st.put_plain(item) {
            Ok(()) => return Ok(()),
            Err(item) => item,
        };
        if st.closed {
            return Err(TryPutError::Closed(item));
        }
        match st.put_now(item) {
            Ok(wake) => {
                drop(st);
                wake.wake();
                Ok(())
            }
            Err(item) => Err(TryPutError::Full(item)),
        }
    }

    #[inline(always)]
    fn put_inner(&self, item: T, timeout: Option<Duration>) -> Result<(), PutTimeoutError<T>> {
        consume_budget();
        let mut st = self.state.lock();
        match st.put_plain(item) {
            Ok(()) => Ok(()),
            Err(item) => self.put_slow(st, item, timeout),
        }
    }

    #[inline(always)]
    fn put_slow(
        &self,
        st: LockGuard<'_, State<T, O>>,
        item: T,
        timeout: Option<Duration>,
    ) -> Result<(), PutTimeoutError<T>> {
        let mut st = st;
        if st.closed {
            return Err(PutTimeoutError::Closed(item));
        }
        // Nobody to hand the item to and no room (a rendezvous queue, a
        // full one): skip straight to blocking.
        let item = if st.getters.is_empty() && !st.has_room() {
            item
        } else {
            match st.put_now(item) {
                Ok(wake) => {
                    drop(st);
                    wake.wake();
                    return Ok(());
                }
                Err(item) => item,
            }
        };
        if timeout == Some(Duration::ZERO) {
            return Err(PutTimeoutError::Timeout(item));
        }
        // The deadline counts from the call; the lock was held only for
        // the few instructions above.
        let deadline = timeout.and_then(deadline_after);
        // A blocked putter makes `get` ready (it takes the putter's item):
        // on a rendezvous queue, or a full one whose getters are watching
        // through `wait`/`iwait`, that is news for the watchers.
        let mut watchers = (!st.watchers.is_empty()).then(|| st.watchers.hand_all(|()| ()));
        let (_, outcome) = block_then(
            st,
            putters,
            no_pass_on,
            item,
            deadline,
            "Queue::put",
            // By reference: moving the (usually empty) wakes into the
            // closure copied them on every blocking `put`.
            || {
                if let Some(w) = watchers.take() {
                    wake_watchers(w);
                }
            },
        );
        match outcome {
            Outcome::Woken(Ok(())) => Ok(()),
            Outcome::Woken(Err(item)) => Err(PutTimeoutError::Closed(item)),
            Outcome::TimedOut(item) => Err(PutTimeoutError::Timeout(item)),
        }
    }

    /// Takes the next item, blocking while the queue is empty.
    ///
    /// # Errors
    /// [`GetError`] once the queue is closed and drained.
    pub fn get(&self) -> Result<T, GetError> {
        self.get_inner(None).map_err(|_| GetError)
    }

    /// Like [`get`](Queue::get), giving up after `timeout`.
    ///
    /// # Errors
    /// [`GetTimeoutError::Timeout`], or [`GetTimeoutError::Closed`] once
    /// the queue is closed and drained.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        self.get_inner(Some(timeout))
    }

    /// Takes the next item if there is one; never blocks.
    ///
    /// # Errors
    /// [`TryGetError::Empty`], or [`TryGetError::Closed`] once the queue is
    /// closed and drained.
    pub fn try_get(&self) -> Result<T, TryGetError> {
        let mut st = self.state.lock();
        if let Some(item) = st.get_plain() {
            return Ok(item);
        }
        match st.take_now() {
            Some((item, wake)) => {
                drop(st);
                if let Some(w) = wake {
                    w.wake();
                }
                Ok(item)
            }
            None if st.closed => Err(TryGetError::Closed),
            None => Err(TryGetError::Empty),
        }
    }

    #[inline(always)]
    fn get_inner(&self, timeout: Option<Duration>) -> Result<T, GetTimeoutError> {
        consume_budget();
        let mut st = self.state.lock();
        if st.putters.is_empty() {
            return match st.items.pop() {
                Some(item) => Ok(item),
                // Nothing to take: `take_now` would find nothing either.
                None => self.get_slow(st, timeout, false),
            };
        }
        if st.items.len() == 0 {
            // A rendezvous (or an empty buffer) with a blocked putter: its
            // item is the next one out (`take_now`'s first case, inline).
            if let Some((item, wake)) = st.take_from_putter() {
                drop(st);
                wake.wake();
                return Ok(item);
            }
        }
        self.get_slow(st, timeout, true)
    }

    /// The rest of `get`: refill from a blocked putter into a non-empty
    /// buffer (`take`: whether there may be something to take now), or
    /// block.
    #[inline(always)]
    fn get_slow(
        &self,
        st: LockGuard<'_, State<T, O>>,
        timeout: Option<Duration>,
        take: bool,
    ) -> Result<T, GetTimeoutError> {
        let deadline = timeout.and_then(deadline_after);
        let mut first = Some(st);
        let mut take = take;
        loop {
            let mut st = match first.take() {
                Some(st) => st,
                None => self.state.lock(),
            };
            if take {
                if let Some((item, wake)) = st.take_now() {
                    drop(st);
                    if let Some(w) = wake {
                        w.wake();
                    }
                    return Ok(item);
                }
            }
            take = true;
            if st.closed {
                return Err(GetTimeoutError::Closed);
            }
            if timeout == Some(Duration::ZERO) {
                return Err(GetTimeoutError::Timeout);
            }
            let pass_on = getter_pass_on::<T, O>;
            match block(st, getters, pass_on, (), deadline, "Queue::get") {
                Outcome::Woken(Some(item)) => return Ok(item),
                // Closed: drain what is left (an item passed back by a
                // killed getter), then report it.
                Outcome::Woken(None) => continue,
                Outcome::TimedOut(()) => return Err(GetTimeoutError::Timeout),
            }
        }
    }

    /// An iterator that `get`s items until the queue is closed and drained.
    pub fn iter(&self) -> Iter<'_, T, O> {
        Iter { queue: self }
    }

    /// Marks one item taken with `get` as fully processed, for
    /// [`join`](JoinableQueue::join).
    fn task_done(&self) -> Result<(), TaskDoneError> {
        let wake = {
            let mut st = self.state.lock();
            if st.unfinished == 0 {
                return Err(TaskDoneError);
            }
            st.unfinished -= 1;
            if st.unfinished == 0 {
                st.joiners.hand_all(|()| ())
            } else {
                Wakes::new()
            }
        };
        wake.wake();
        Ok(())
    }

    fn join(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(deadline_after);
        let st = self.state.lock();
        if st.unfinished == 0 {
            return true;
        }
        if timeout == Some(Duration::ZERO) {
            return false;
        }
        match block(st, joiners, no_pass_on, (), deadline, "JoinableQueue::join") {
            Outcome::Woken(()) => true,
            Outcome::TimedOut(()) => self.state.lock().unfinished == 0,
        }
    }

    /// True if a `get` would not block (an item, a blocked putter, or
    /// closed).
    pub(crate) fn is_ready(&self) -> bool {
        let st = self.state.lock();
        st.items.len() > 0 || !st.putters.is_empty() || st.closed
    }

    pub(crate) fn subscribe(&self, u: Unparker) -> u64 {
        let mut st = self.state.lock();
        let ticket = st.watchers.subscribe(u.clone(), ());
        let ready = st.items.len() > 0 || !st.putters.is_empty() || st.closed;
        drop(st);
        if ready {
            // Became ready before the watch: wake the watcher at once.
            u.unpark();
        }
        ticket
    }

    pub(crate) fn unsubscribe(&self, ticket: u64) {
        self.state.lock().watchers.take(ticket);
    }
}

/// Iterator over a queue's items, in `get` order; ends when the queue is
/// closed and drained. Made by [`Queue::iter`].
///
/// ```
/// let q = green_sync::Queue::new();
/// q.put('a').unwrap();
/// q.put('b').unwrap();
/// q.close();
/// assert_eq!(q.iter().collect::<String>(), "ab");
/// ```
pub struct Iter<'a, T, O = Fifo<T>> {
    queue: &'a Queue<T, O>,
}

impl<T, O: Order<T>> fmt::Debug for Iter<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").field("queue", self.queue).finish()
    }
}

impl<T, O: Order<T>> Iterator for Iter<'_, T, O> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.queue.get().ok()
    }
}

impl<'a, T, O: Order<T>> IntoIterator for &'a Queue<T, O> {
    type Item = T;
    type IntoIter = Iter<'a, T, O>;
    fn into_iter(self) -> Iter<'a, T, O> {
        self.iter()
    }
}

/// A [`Queue`] that also counts unfinished tasks (gevent's
/// `JoinableQueue`): every `put` adds one, every
/// [`task_done`](JoinableQueue::task_done) removes one, and
/// [`join`](JoinableQueue::join) waits until none are left. All queue
/// methods are available through `Deref`.
///
/// ```
/// use std::sync::Arc;
/// use green_sync::JoinableQueue;
///
/// let q = Arc::new(JoinableQueue::new());
/// for i in 0..3 { q.put(i).unwrap(); }
/// let w = q.clone();
/// green_runtime::spawn(move || {
///     while let Ok(_job) = w.get() {
///         w.task_done().unwrap();
///     }
/// });
/// q.join(); // every job was taken and marked done
/// assert!(q.is_empty());
/// q.close();
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.queue)
            .field("unfinished", &self.unfinished())
            .finish()
    }
}

impl<T> Default for JoinableQueue<T> {
    fn default() -> Self {
        JoinableQueue::new()
    }
}

impl<T> JoinableQueue<T> {
    /// An unbounded joinable queue.
    pub fn new() -> JoinableQueue<T> {
        JoinableQueue {
            queue: Queue::new(),
        }
    }

    /// A joinable queue of at most `cap` items.
    pub fn bounded(cap: usize) -> JoinableQueue<T> {
        JoinableQueue {
            queue: Queue::bounded(cap),
        }
    }

    /// Marks one task taken with `get` as done; wakes `join`ers when none
    /// is left.
    ///
    /// # Errors
    /// [`TaskDoneError`] if called more times than items were put.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.queue.task_done()
    }

    /// Blocks until every item put has been marked done.
    pub fn join(&self) {
        self.queue.join(None);
    }

    /// Like [`join`](JoinableQueue::join), for at most `timeout`; returns
    /// whether all tasks are done.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.queue.join(Some(timeout))
    }

    /// Items put and not yet marked done.
    pub fn unfinished(&self) -> usize {
        self.queue.state.lock().unfinished
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

/// A queue that hands out the greatest item first (gevent's
/// `PriorityQueue`, but in [`BinaryHeap`] order: wrap items in
/// [`std::cmp::Reverse`] for smallest-first). All queue methods are
/// available through `Deref`.
///
/// ```
/// use green_sync::PriorityQueue;
///
/// let q = PriorityQueue::new();
/// for p in [2, 9, 4] { q.put(p).unwrap(); }
/// assert_eq!(q.get().unwrap(), 9);
/// assert_eq!(q.get().unwrap(), 4);
/// ```
///
/// # Item ordering runs under the queue's lock
/// The items' `Ord` is called while the queue's short internal lock is
/// held, so it must not block greenly (sleep, take a green lock, do green
/// I/O) or use the same queue: another greenlet of the thread touching the
/// queue meanwhile would spin its thread for ever (debug builds panic
/// with a message instead). A panicking `Ord` loses nothing already handed
/// over: a putter whose item was taken is still woken.
pub struct PriorityQueue<T: Ord> {
    queue: Queue<T, Priority<T>>,
}

impl<T: Ord> fmt::Debug for PriorityQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.queue.fmt(f)
    }
}

impl<T: Ord> Default for PriorityQueue<T> {
    fn default() -> Self {
        PriorityQueue::new()
    }
}

impl<T: Ord> PriorityQueue<T> {
    /// An unbounded priority queue.
    pub fn new() -> PriorityQueue<T> {
        PriorityQueue {
            queue: Queue::with_order(None),
        }
    }

    /// A priority queue of at most `cap` items.
    pub fn bounded(cap: usize) -> PriorityQueue<T> {
        PriorityQueue {
            queue: Queue::with_order(Some(cap)),
        }
    }
}

impl<T: Ord> Deref for PriorityQueue<T> {
    type Target = Queue<T, Priority<T>>;
    fn deref(&self) -> &Queue<T, Priority<T>> {
        &self.queue
    }
}

/// A queue that hands out the newest item first (gevent's `LifoQueue`).
/// All queue methods are available through `Deref`.
///
/// ```
/// use green_sync::LifoQueue;
///
/// let q = LifoQueue::new();
/// for i in 1..=3 { q.put(i).unwrap(); }
/// assert_eq!(q.get().unwrap(), 3);
/// ```
pub struct LifoQueue<T> {
    queue: Queue<T, Lifo<T>>,
}

impl<T> fmt::Debug for LifoQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.queue.fmt(f)
    }
}

impl<T> Default for LifoQueue<T> {
    fn default() -> Self {
        LifoQueue::new()
    }
}

impl<T> LifoQueue<T> {
    /// An unbounded LIFO queue.
    pub fn new() -> LifoQueue<T> {
        LifoQueue {
            queue: Queue::with_order(None),
        }
    }

    /// A LIFO queue of at most `cap` items.
    pub fn bounded(cap: usize) -> LifoQueue<T> {
        LifoQueue {
            queue: Queue::with_order(Some(cap)),
        }
    }
}

impl<T> Deref for LifoQueue<T> {
    type Target = Queue<T, Lifo<T>>;
    fn deref(&self) -> &Queue<T, Lifo<T>> {
        &self.queue
    }
}

/// A rendezvous channel (gevent's `Channel`): [`put`](Queue::put) waits
/// until a getter has taken the item; nothing is buffered. All queue
/// methods are available through `Deref` (`try_put` succeeds only if a
/// getter is already waiting).
///
/// ```
/// use std::sync::Arc;
/// use green_sync::Channel;
///
/// let ch = Arc::new(Channel::new());
/// let rx = ch.clone();
/// let taker = green_runtime::spawn(move || rx.get().unwrap());
/// ch.put("hello").unwrap(); // returns once the taker has it
/// assert_eq!(taker.join().unwrap(), "hello");
/// ```
pub struct Channel<T> {
    queue: Queue<T>,
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("closed", &self.queue.is_closed())
            .finish()
    }
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Channel::new()
    }
}

impl<T> Channel<T> {
    /// A new, open channel.
    pub fn new() -> Channel<T> {
        Channel {
            queue: Queue::bounded(0),
        }
    }
}

impl<T> Deref for Channel<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

/// [`Queue::put`] on a closed queue; holds the item.
///
/// ```
/// let q = green_sync::Queue::new();
/// q.close();
/// assert_eq!(q.put(5).unwrap_err().into_inner(), 5);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PutError<T>(pub T);

/// Why [`Queue::try_put`] failed; holds the item.
///
/// ```
/// use green_sync::{Queue, TryPutError};
///
/// let q = Queue::bounded(1);
/// q.try_put(1).unwrap();
/// assert!(matches!(q.try_put(2), Err(TryPutError::Full(2))));
/// q.close();
/// assert!(q.try_put(3).unwrap_err().is_closed());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// A bounded queue is full (or a rendezvous queue has no getter).
    Full(T),
    /// The queue is closed.
    Closed(T),
}

/// Why [`Queue::put_timeout`] failed; holds the item.
///
/// ```
/// use std::time::Duration;
///
/// let q = green_sync::Queue::bounded(0); // rendezvous: nobody takes
/// let err = q.put_timeout("x", Duration::from_millis(1)).unwrap_err();
/// assert!(err.is_timeout());
/// assert_eq!(err.into_inner(), "x");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PutTimeoutError<T> {
    /// The queue stayed full until the timeout.
    Timeout(T),
    /// The queue is closed.
    Closed(T),
}

/// [`Queue::get`] on a closed, drained queue.
///
/// ```
/// let q: green_sync::Queue<u8> = green_sync::Queue::new();
/// q.close();
/// assert_eq!(q.get(), Err(green_sync::GetError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetError;

/// Why [`Queue::try_get`] failed.
///
/// ```
/// use green_sync::{Queue, TryGetError};
///
/// let q: Queue<u8> = Queue::new();
/// assert_eq!(q.try_get(), Err(TryGetError::Empty));
/// q.close();
/// assert_eq!(q.try_get(), Err(TryGetError::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryGetError {
    /// No item now.
    Empty,
    /// Closed and drained.
    Closed,
}

/// Why [`Queue::get_timeout`] failed.
///
/// ```
/// use std::time::Duration;
/// use green_sync::{GetTimeoutError, Queue};
///
/// let q: Queue<u8> = Queue::new();
/// assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(GetTimeoutError::Timeout));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetTimeoutError {
    /// No item came before the timeout.
    Timeout,
    /// Closed and drained.
    Closed,
}

/// [`JoinableQueue::task_done`] called more times than items were put.
///
/// ```
/// let q: green_sync::JoinableQueue<u8> = green_sync::JoinableQueue::new();
/// assert_eq!(q.task_done(), Err(green_sync::TaskDoneError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneError;

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(t) | TryPutError::Closed(t) => t,
        }
    }

    /// True for [`TryPutError::Full`].
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }

    /// True for [`TryPutError::Closed`].
    pub fn is_closed(&self) -> bool {
        matches!(self, TryPutError::Closed(_))
    }
}

impl<T> PutTimeoutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutTimeoutError::Timeout(t) | PutTimeoutError::Closed(t) => t,
        }
    }

    /// True for [`PutTimeoutError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, PutTimeoutError::Timeout(_))
    }

    /// True for [`PutTimeoutError::Closed`].
    pub fn is_closed(&self) -> bool {
        matches!(self, PutTimeoutError::Closed(_))
    }
}

// As std's channel errors: Debug does not require `T: Debug`.
impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutError").finish_non_exhaustive()
    }
}
impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}
impl<T> fmt::Debug for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            PutTimeoutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("putting into a closed queue")
    }
}
impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("putting into a full queue"),
            TryPutError::Closed(_) => f.write_str("putting into a closed queue"),
        }
    }
}
impl<T> fmt::Display for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutTimeoutError::Timeout(_) => f.write_str("timed out waiting for room in a queue"),
            PutTimeoutError::Closed(_) => f.write_str("putting into a closed queue"),
        }
    }
}
impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("getting from a closed and empty queue")
    }
}
impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("getting from an empty queue"),
            TryGetError::Closed => f.write_str("getting from a closed and empty queue"),
        }
    }
}
impl fmt::Display for GetTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::Timeout => f.write_str("timed out waiting for an item"),
            GetTimeoutError::Closed => f.write_str("getting from a closed and empty queue"),
        }
    }
}
impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called more times than items were put")
    }
}

impl<T> Error for PutError<T> {}
impl<T> Error for TryPutError<T> {}
impl<T> Error for PutTimeoutError<T> {}
impl Error for GetError {}
impl Error for TryGetError {}
impl Error for GetTimeoutError {}
impl Error for TaskDoneError {}
