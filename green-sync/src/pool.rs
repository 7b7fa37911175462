//! Pool and Group: sets of greenlets to join or kill together, with
//! bounded concurrency for a pool (gevent's `Pool` and `Group`).

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use green_runtime::{
    current_unparker, deadline_after, park_until, spawn, GreenletId, JoinHandle, Unparker,
};
use parking_lot::Mutex;

use crate::queue::Queue;
use crate::semaphore::Semaphore;

/// What a group needs of a member greenlet, whatever its result type.
trait Member: Send + Sync {
    fn is_finished(&self) -> bool;
    fn kill(&self);
    fn notify(&self, u: Unparker);
    fn cancel(&self, u: &Unparker);
}

impl<T: Send> Member for JoinHandle<T> {
    fn is_finished(&self) -> bool {
        JoinHandle::is_finished(self)
    }
    fn kill(&self) {
        JoinHandle::kill(self);
    }
    fn notify(&self, u: Unparker) {
        self.notify_on_finish(u);
    }
    fn cancel(&self, u: &Unparker) {
        self.cancel_notify(u);
    }
}

/// Removes a finish notification when a group wait ends or unwinds.
struct Watch {
    member: Arc<dyn Member>,
    unparker: Unparker,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.member.cancel(&self.unparker);
    }
}

/// An unbounded set of greenlets to wait for or kill together (gevent's
/// `Group`).
///
/// The group owns the [`JoinHandle`]s of its members and forgets each one
/// once it has ended. Results are not kept: pass them back through a
/// [`Queue`] or an [`AsyncResult`](crate::AsyncResult), or use
/// [`Pool::map`].
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use green_sync::Group;
///
/// let done = Arc::new(AtomicUsize::new(0));
/// let group = Group::new();
/// for _ in 0..3 {
///     let d = done.clone();
///     group.spawn(move || { green_runtime::yield_now(); d.fetch_add(1, Ordering::SeqCst); });
/// }
/// group.join();
/// assert_eq!(done.load(Ordering::SeqCst), 3);
/// assert!(group.is_empty());
/// ```
pub struct Group {
    members: Mutex<Members>,
}

/// The member list, purged of finished members whenever it has doubled
/// since the last purge, so a long-lived pool that nobody joins (a
/// server's) does not grow with every greenlet it ever ran.
struct Members {
    list: Vec<Arc<dyn Member>>,
    purge_at: usize,
}

const MIN_PURGE: usize = 64;

impl Members {
    fn purge(&mut self) {
        self.list.retain(|h| !h.is_finished());
        self.purge_at = (self.list.len() * 2).max(MIN_PURGE);
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group").field("len", &self.len()).finish()
    }
}

impl Default for Group {
    fn default() -> Self {
        Group::new()
    }
}

impl Group {
    /// An empty group.
    pub fn new() -> Group {
        Group {
            members: Mutex::new(Members {
                list: Vec::new(),
                purge_at: MIN_PURGE,
            }),
        }
    }

    /// Spawns `f` as a greenlet on this thread's hub and adds it to the
    /// group; returns its id. `f`'s return value is dropped.
    pub fn spawn<F, T>(&self, f: F) -> GreenletId
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let h = spawn(move || drop(f()));
        let id = h.id();
        self.add(h);
        id
    }

    /// Adds a running greenlet to the group (its value is dropped when it
    /// ends).
    pub fn add<T: Send + 'static>(&self, handle: JoinHandle<T>) {
        let mut m = self.members.lock();
        m.list.push(Arc::new(handle));
        if m.list.len() >= m.purge_at {
            m.purge();
        }
    }

    /// Number of members still running.
    pub fn len(&self) -> usize {
        let mut m = self.members.lock();
        m.purge();
        m.list.len()
    }

    /// True if no member is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Blocks until every member has ended, including members added while
    /// waiting.
    pub fn join(&self) {
        self.join_deadline(None);
    }

    /// Like [`join`](Group::join), for at most `timeout`; returns whether
    /// the group is empty.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_deadline(Some(timeout))
    }

    fn join_deadline(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(deadline_after);
        loop {
            let first = {
                let mut m = self.members.lock();
                m.purge();
                match m.list.first() {
                    Some(h) => h.clone(),
                    None => return true,
                }
            };
            if timeout == Some(Duration::ZERO) {
                return false;
            }
            let me = current_unparker();
            first.notify(me.clone());
            let watch = Watch {
                member: first,
                unparker: me,
            };
            let in_time = park_until(deadline, "Group::join");
            drop(watch);
            if !in_time {
                return self.is_empty();
            }
        }
    }

    /// Kills every member and waits until all have ended.
    ///
    /// Calling this from a member of the group waits for itself; kill from
    /// outside the group.
    pub fn kill(&self) {
        self.kill_members();
        self.join();
    }

    /// Kills every member and waits at most `timeout` for them to end;
    /// returns whether all did.
    pub fn kill_timeout(&self, timeout: Duration) -> bool {
        self.kill_members();
        self.join_timeout(timeout)
    }

    fn kill_members(&self) {
        let members: Vec<Arc<dyn Member>> = self.members.lock().list.clone();
        for m in members {
            m.kill();
        }
    }
}

/// A task of [`Pool::map`] or [`Pool::imap`] did not return a value: it
/// panicked (the runtime reported the panic with the greenlet's name) or
/// was killed.
///
/// ```
/// let pool = green_sync::Pool::new(2);
/// let err = pool.map(0..3, |i: u8| if i == 1 { panic!("bad input") } else { i }).unwrap_err();
/// assert_eq!(err.index(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskError {
    index: usize,
}

impl TaskError {
    /// Position of the failed task's input in the input sequence.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pool task {} did not complete (it panicked or was killed)",
            self.index
        )
    }
}

impl Error for TaskError {}

struct PoolInner {
    slots: Semaphore,
    group: Group,
    size: usize,
}

/// A group that runs at most `size` greenlets at once (gevent's `Pool`):
/// [`spawn`](Pool::spawn) waits for a free slot.
///
/// Cheap to clone: clones share the pool.
///
/// ```
/// use green_sync::Pool;
///
/// let pool = Pool::new(2);
/// let squares = pool.map(1..=4, |x: u64| x * x).unwrap();
/// assert_eq!(squares, [1, 4, 9, 16]);
///
/// let mut firsts: Vec<u64> = pool.imap_unordered(1..=3, |x: u64| x).map(Result::unwrap).collect();
/// firsts.sort();
/// assert_eq!(firsts, [1, 2, 3]);
/// ```
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.inner.size)
            .field("running", &self.len())
            .finish()
    }
}

/// Sends a task's outcome; on unwind (panic, kill, or the task dropped
/// before it ran) reports a [`TaskError`] instead.
struct Report<R> {
    out: Arc<Queue<Msg<R>>>,
    index: usize,
    sent: bool,
}

impl<R> Report<R> {
    fn send(mut self, r: R) {
        self.sent = true;
        let _ = self.out.try_put(Msg::Done(self.index, Ok(r)));
    }
}

impl<R> Drop for Report<R> {
    fn drop(&mut self) {
        if !self.sent {
            let _ = self
                .out
                .try_put(Msg::Done(self.index, Err(TaskError { index: self.index })));
        }
    }
}

/// Reports how many tasks the feeder started, also when it is killed.
struct Total<R> {
    out: Arc<Queue<Msg<R>>>,
    started: usize,
}

impl<R> Drop for Total<R> {
    fn drop(&mut self) {
        let _ = self.out.try_put(Msg::Total(self.started));
    }
}

enum Msg<R> {
    Done(usize, Result<R, TaskError>),
    Total(usize),
}

impl Pool {
    /// A pool of at most `size` concurrent greenlets.
    ///
    /// # Panics
    /// If `size` is zero: such a pool could never run anything.
    pub fn new(size: usize) -> Pool {
        assert!(size > 0, "green_sync::Pool::new: size must be at least 1");
        Pool {
            inner: Arc::new(PoolInner {
                slots: Semaphore::new(size),
                group: Group::new(),
                size,
            }),
        }
    }

    /// The most greenlets the pool runs at once.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Free slots: how many `spawn`s would not wait now.
    pub fn free_count(&self) -> usize {
        self.inner.slots.available_permits()
    }

    /// Greenlets of the pool still running.
    pub fn len(&self) -> usize {
        self.inner.group.len()
    }

    /// True if no greenlet of the pool is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn start<F, T>(&self, permit: crate::OwnedSemaphorePermit, f: F) -> GreenletId
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        // The permit lives in the closure: it is released when the greenlet
        // ends, or when a greenlet killed before it started is dropped.
        self.inner.group.spawn(move || {
            let _slot = permit;
            drop(f());
        })
    }

    /// Waits (greenly) for a free slot, then spawns `f` in it on this
    /// thread's hub; returns the greenlet's id. `f`'s value is dropped.
    pub fn spawn<F, T>(&self, f: F) -> GreenletId
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let permit = self.inner.slots.acquire_owned();
        self.start(permit, f)
    }

    /// Like [`spawn`](Pool::spawn), waiting at most `timeout` for a slot.
    ///
    /// # Errors
    /// Gives `f` back if no slot freed up in time.
    pub fn spawn_timeout<F, T>(&self, f: F, timeout: Duration) -> Result<GreenletId, F>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        match self.inner.slots.acquire_owned_timeout(timeout) {
            Some(p) => Ok(self.start(p, f)),
            None => Err(f),
        }
    }

    /// Spawns `f` only if a slot is free now; never blocks.
    ///
    /// # Errors
    /// Gives `f` back if the pool is full.
    pub fn try_spawn<F, T>(&self, f: F) -> Result<GreenletId, F>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        match self.inner.slots.try_acquire_owned() {
            Some(p) => Ok(self.start(p, f)),
            None => Err(f),
        }
    }

    /// Blocks until every greenlet of the pool has ended.
    pub fn join(&self) {
        self.inner.group.join();
    }

    /// Like [`join`](Pool::join), for at most `timeout`; returns whether
    /// the pool is empty.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.inner.group.join_timeout(timeout)
    }

    /// Kills every greenlet of the pool (including the feeders of running
    /// `imap`s) and waits until all have ended.
    pub fn kill(&self) {
        self.inner.group.kill();
    }

    /// Kills every greenlet of the pool and waits at most `timeout`;
    /// returns whether all ended.
    pub fn kill_timeout(&self, timeout: Duration) -> bool {
        self.inner.group.kill_timeout(timeout)
    }

    /// Applies `f` to every item, at most `size` at a time, and returns the
    /// results in input order.
    ///
    /// # Errors
    /// The first failed task (in input order), if any panicked or was
    /// killed. The other tasks still run to the end.
    pub fn map<I, F, R>(&self, items: I, f: F) -> Result<Vec<R>, TaskError>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
        R: 'static,
    {
        self.imap(items, f).collect()
    }

    /// Like [`map`](Pool::map), but lazily: yields each result, in input
    /// order, as soon as it and all before it are done. A feeder greenlet
    /// (a member of the pool) spawns the tasks as slots free up.
    ///
    /// Dropping the iterator early does not stop the tasks.
    pub fn imap<I, F, R>(&self, items: I, f: F) -> Imap<R>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
        R: 'static,
    {
        Imap {
            results: self.feed(items, f),
            ordered: true,
        }
    }

    /// Like [`imap`](Pool::imap), but yields results in completion order.
    pub fn imap_unordered<I, F, R>(&self, items: I, f: F) -> Imap<R>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
        R: 'static,
    {
        Imap {
            results: self.feed(items, f),
            ordered: false,
        }
    }

    fn feed<I, F, R>(&self, items: I, f: F) -> Results<R>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
        R: 'static,
    {
        let out = Arc::new(Queue::new());
        let pool = self.clone();
        let f = std::rc::Rc::new(f);
        let feeder_out = out.clone();
        // Created outside the feeder so that a feeder killed before it
        // started still reports a total (of zero).
        let total = Total {
            out: out.clone(),
            started: 0,
        };
        self.inner.group.spawn(move || {
            let mut total = total;
            for (index, item) in items.into_iter().enumerate() {
                let report = Report {
                    out: feeder_out.clone(),
                    index,
                    sent: false,
                };
                // Counted before the wait for a slot: a feeder killed there
                // drops `report`, which reports this task as failed.
                total.started += 1;
                let f = f.clone();
                pool.spawn(move || {
                    let report = report;
                    let r = f(item);
                    report.send(r);
                });
            }
        });
        Results {
            out,
            total: None,
            received: 0,
            pending: BTreeMap::new(),
            next: 0,
        }
    }
}

struct Results<R> {
    out: Arc<Queue<Msg<R>>>,
    total: Option<usize>,
    received: usize,
    pending: BTreeMap<usize, Result<R, TaskError>>,
    next: usize,
}

impl<R> Results<R> {
    /// The next message of a task, in completion order; `None` when all
    /// started tasks reported.
    fn next_done(&mut self) -> Option<(usize, Result<R, TaskError>)> {
        loop {
            if self.total.is_some_and(|t| self.received >= t) {
                return None;
            }
            match self.out.get() {
                Ok(Msg::Done(i, r)) => {
                    self.received += 1;
                    return Some((i, r));
                }
                Ok(Msg::Total(n)) => self.total = Some(n),
                Err(_) => return None,
            }
        }
    }
}

/// Iterator over the results of [`Pool::imap`] (input order) or
/// [`Pool::imap_unordered`] (completion order).
///
/// ```
/// let pool = green_sync::Pool::new(3);
/// let lens: Vec<usize> = pool
///     .imap(["a", "bb", "ccc"], |s: &str| s.len())
///     .collect::<Result<_, _>>()
///     .unwrap();
/// assert_eq!(lens, [1, 2, 3]);
/// ```
pub struct Imap<R> {
    results: Results<R>,
    ordered: bool,
}

impl<R> fmt::Debug for Imap<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imap")
            .field("ordered", &self.ordered)
            .field("received", &self.results.received)
            .finish()
    }
}

impl<R> Iterator for Imap<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.ordered {
            return self.results.next_done().map(|(_, r)| r);
        }
        loop {
            let want = self.results.next;
            if let Some(r) = self.results.pending.remove(&want) {
                self.results.next += 1;
                return Some(r);
            }
            let (i, r) = self.results.next_done()?;
            if i == want {
                self.results.next += 1;
                return Some(r);
            }
            self.results.pending.insert(i, r);
        }
    }
}
