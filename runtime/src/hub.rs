//! Hub: the per-thread scheduler that runs greenlets, timers and I/O.
//!
//! One hub per OS thread, created the first time the thread does a green
//! operation. The thread's own stack is the *main context*: when code there
//! blocks on a green operation, the thread runs [`Hub::run_until_main_ready`]
//! until the operation can complete, resuming greenlets one at a time. A
//! greenlet that blocks suspends back into that loop.
//!
//! Everything here is thread-local and single-threaded (`Cell`/`RefCell`,
//! never held across a switch). The only state other threads touch is
//! [`HubShared`]: an inbox of messages and a `mio::Waker` to interrupt the
//! poll.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::io;
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosensei::{Coroutine, CoroutineResult, Yielder};
use crossbeam_queue::SegQueue;
use parking_lot::Mutex;

use crate::greenlet::{Record, State, Wait};
use crate::io::{Source, Woken};
use crate::slab::{Key, Slab};
use crate::sleep_flag::SleepFlag;
use crate::stack::{PooledStack, StackPool};
use crate::timer::{TimerKey, Timers};
use crate::{diag, sys};

pub(crate) type Co = Coroutine<(), (), (), PooledStack>;
pub(crate) type GreenYielder = Yielder<(), ()>;

/// Greenlets resumed between two looks at I/O and timers, so a run queue
/// that never empties cannot starve sockets.
const BATCH: usize = 61;
/// Cache lines of a greenlet's stack around its park address that the loop
/// prefetches before resuming it (see `Hub::prefetch_next`).
const PREFETCH_LINES: usize = 12;
/// Green operations a greenlet may complete without blocking before it is
/// made to yield once (see DESIGN.md, "Fairness").
pub(crate) const BUDGET: u32 = 128;
/// How often a hub that looks deadlocked but shares the process with other
/// threads re-checks whether those threads are still there.
const DEADLOCK_RECHECK: Duration = Duration::from_millis(50);

const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

static NEXT_HUB_ID: AtomicU64 = AtomicU64::new(1);

/// Hints the CPU to bring the cache line at `p` into all cache levels.
/// Only a hint: any address is allowed, none is dereferenced.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` belongs to SSE, which every x86_64 CPU has; it
    // never faults and has no effect but on the cache, whatever `p` is.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// What other threads may ask of a hub.
#[derive(Debug)]
pub(crate) enum Message {
    Unpark(Key),
    Kill(Key),
    /// A registration was dropped on another thread.
    Deregister {
        fd: i32,
        registration: u64,
        key: Key,
    },
}

/// The part of a hub other threads can reach.
#[derive(Debug)]
pub(crate) struct HubShared {
    pub(crate) id: u64,
    inbox: SegQueue<Message>,
    sleep: SleepFlag,
    waker: mio::Waker,
    pub(crate) registry: mio::Registry,
    /// `spawn_blocking` jobs of this hub still running on the pool.
    pub(crate) blocking_in_flight: AtomicUsize,
    closed: AtomicBool,
    /// Set at thread exit when greenlets that refused to end were leaked:
    /// they stay in whatever wait lists they were in, but will never run
    /// again, so nothing may be handed to them (see `WakeRef::prepare`).
    abandoned: AtomicBool,
    /// Greenlet switches, mirrored for the watchdog.
    pub(crate) switches: AtomicU64,
    /// Id of the greenlet running now, 0 while the hub loop or the main
    /// context runs.
    pub(crate) running: AtomicU64,
    /// Name of the running greenlet, kept only while the watchdog is on.
    pub(crate) running_name: Mutex<Option<Arc<str>>>,
}

impl HubShared {
    /// Hands a message to the hub from any thread and wakes its poll if it
    /// sleeps. Messages to a hub whose thread has ended are dropped.
    pub(crate) fn send(&self, msg: Message) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        self.inbox.push(msg);
        if self.sleep.notify() {
            // A failed wake leaves the message queued; the hub finds it on
            // its next turn, so nothing is lost.
            let _ = self.waker.wake();
        }
    }

    /// True once the hub's thread has ended leaving greenlets behind that
    /// refused to end (they never run again).
    pub(crate) fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Acquire)
    }
}

/// The ready greenlets, first in first out, as pointers to their records.
///
/// Pointers rather than slab keys, so a resume needs neither a slab lookup
/// nor a reference count of its own. Every pointer in the queue is valid:
/// a record is pushed only on its transition into `Ready` (so it is in the
/// queue at most once), and it leaves the greenlet slab — whose `Rc` keeps
/// it alive and at a fixed address — only when its coroutine returns, which
/// happens while it is `Running`, after it was popped. Teardown resumes
/// greenlets without the queue and then empties it unread.
///
/// Each entry also carries the addresses the greenlet's resume will touch
/// first (where it parked, and the socket it waited on), copied from the
/// record when it was queued, so the loop can prefetch them without first
/// waiting for the record itself (see `Hub::prefetch_next`).
struct RunQueue(UnsafeCell<VecDeque<Ready>>);

#[derive(Clone, Copy)]
struct Ready {
    rec: *const Record,
    /// `Record::park_sp` and `Record::park_obj` when queued.
    sp: usize,
    obj: usize,
}

impl RunQueue {
    fn new() -> RunQueue {
        RunQueue(UnsafeCell::new(VecDeque::new()))
    }

    #[inline]
    fn push(&self, rec: &Record) {
        let entry = Ready {
            rec,
            sp: rec.park_sp.get(),
            obj: rec.park_obj.get(),
        };
        // SAFETY: the hub, and so the queue, is used by one thread only
        // (`Hub` is not `Sync`), and no reference into the deque outlives a
        // method call: none of these methods calls out to code that could
        // reach the queue again.
        unsafe { (*self.0.get()).push_back(entry) }
    }

    #[inline]
    fn pop(&self) -> Option<*const Record> {
        // SAFETY: as in `push`.
        unsafe { (*self.0.get()).pop_front().map(|e| e.rec) }
    }

    /// The first entry, without removing it.
    #[inline]
    fn front(&self) -> Option<Ready> {
        // SAFETY: as in `push`.
        unsafe { (*self.0.get()).front().copied() }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        // SAFETY: as in `push`.
        unsafe { (*self.0.get()).is_empty() }
    }

    fn clear(&self) {
        // SAFETY: as in `push`; raw pointers have no destructor to run.
        unsafe { (*self.0.get()).clear() }
    }
}

/// The scheduler of one OS thread.
pub(crate) struct Hub {
    pub(crate) shared: Arc<HubShared>,
    pub(crate) greenlets: RefCell<Slab<Rc<Record>>>,
    pub(crate) main: Key,
    main_rec: Rc<Record>,
    /// Record of the running greenlet (or the main context), kept alive by
    /// the greenlet slab (see [`RunQueue`]) or by `main_rec`. The running
    /// greenlet's key and yielder are read from it.
    current_rec: Cell<*const Record>,
    run_queue: RunQueue,
    idle_queue: RefCell<VecDeque<Key>>,
    pub(crate) timers: RefCell<Timers<Key>>,
    poll: RefCell<mio::Poll>,
    events: RefCell<mio::Events>,
    pub(crate) sources: RefCell<Slab<Source>>,
    /// Per descriptor number: the id of the registration that owns it on
    /// this hub and its record (id 0: none).
    pub(crate) fd_table: RefCell<Vec<(u64, Key)>>,
    pub(crate) stacks: RefCell<StackPool>,
    pub(crate) budget: Cell<u32>,
    pub(crate) io_waiters: Cell<usize>,
    in_loop: Cell<bool>,
    tearing_down: Cell<bool>,
    pub(crate) switches: Cell<u64>,
    pub(crate) polls: Cell<u64>,
    _alt_stack: Option<sys::AltStack>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("id", &self.shared.id).finish()
    }
}

thread_local! {
    /// The hub of this thread, or null before the first green operation.
    static CURRENT: Cell<*const Hub> = const { Cell::new(ptr::null()) };
    /// Set once the hub has been torn down at thread exit.
    static GONE: Cell<bool> = const { Cell::new(false) };
    /// Owns the hub; its destructor tears the hub down at thread exit.
    static OWNER: HubOwner = const { HubOwner(Cell::new(ptr::null())) };
}

struct HubOwner(Cell<*const Hub>);

impl Drop for HubOwner {
    fn drop(&mut self) {
        let p = self.0.get();
        if p.is_null() {
            return;
        }
        // SAFETY: `p` came from `Box::into_raw` in `init_hub` and is freed
        // only here, once.
        let hub = unsafe { &*p };
        hub.teardown();
        let _ = CURRENT.try_with(|c| c.set(ptr::null()));
        let _ = GONE.try_with(|g| g.set(true));
        // SAFETY: as above; nothing refers to the hub any more.
        drop(unsafe { Box::from_raw(p as *mut Hub) });
    }
}

/// The hub of the calling thread, created on first use.
///
/// # Panics
/// If called while the thread is being torn down after its hub was dropped.
#[inline]
pub(crate) fn hub() -> &'static Hub {
    let p = CURRENT.with(|c| c.get());
    if !p.is_null() {
        // SAFETY: the hub lives until the OWNER destructor at thread exit,
        // and the returned reference never leaves this thread (Hub is !Send).
        return unsafe { &*p };
    }
    init_hub()
}

/// The hub of the calling thread if it has one.
pub(crate) fn try_hub() -> Option<&'static Hub> {
    let p = CURRENT.try_with(|c| c.get()).ok()?;
    // SAFETY: as in `hub`.
    (!p.is_null()).then(|| unsafe { &*p })
}

#[cold]
fn init_hub() -> &'static Hub {
    if GONE.with(|g| g.get()) {
        panic!("green: a green operation was called while this thread was exiting, after its hub was dropped");
    }
    let hub = match Hub::new() {
        Ok(h) => h,
        Err(e) => panic!("green: cannot create the hub for this thread: {e}"),
    };
    let p = Box::into_raw(Box::new(hub));
    OWNER.with(|o| o.0.set(p));
    CURRENT.with(|c| c.set(p));
    diag::on_hub_created();
    // SAFETY: just created; lives until thread exit as in `hub`.
    let hub = unsafe { &*p };
    diag::register_hub(&hub.shared);
    hub
}

impl Hub {
    fn new() -> io::Result<Hub> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        let registry = poll.registry().try_clone()?;
        let shared = Arc::new(HubShared {
            id: NEXT_HUB_ID.fetch_add(1, Ordering::Relaxed),
            inbox: SegQueue::new(),
            sleep: SleepFlag::new(),
            waker,
            registry,
            blocking_in_flight: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            switches: AtomicU64::new(0),
            running: AtomicU64::new(0),
            running_name: Mutex::new(None),
        });
        let mut greenlets = Slab::new();
        let main_rec = Rc::new(Record::main());
        let main = greenlets.insert(main_rec.clone());
        main_rec.key.set(main);
        Ok(Hub {
            shared,
            greenlets: RefCell::new(greenlets),
            main,
            current_rec: Cell::new(Rc::as_ptr(&main_rec)),
            main_rec,
            run_queue: RunQueue::new(),
            idle_queue: RefCell::new(VecDeque::new()),
            timers: RefCell::new(Timers::new()),
            poll: RefCell::new(poll),
            events: RefCell::new(mio::Events::with_capacity(1024)),
            sources: RefCell::new(Slab::new()),
            fd_table: RefCell::new(Vec::new()),
            stacks: RefCell::new(StackPool::new()),
            budget: Cell::new(BUDGET),
            io_waiters: Cell::new(0),
            in_loop: Cell::new(false),
            tearing_down: Cell::new(false),
            switches: Cell::new(0),
            polls: Cell::new(0),
            _alt_stack: sys::ensure_alt_stack(),
        })
    }

    /// Key of the running greenlet (the main context's key outside any).
    #[inline]
    pub(crate) fn current(&self) -> Key {
        self.current_rec().key.get()
    }

    /// Record of the running greenlet (or of the main context).
    pub(crate) fn current_rec(&self) -> &Record {
        // SAFETY: `current_rec` points at the record of the greenlet running
        // now, which stays in the greenlet slab (behind its `Rc`, at a fixed
        // address) until its coroutine has returned and `resume` puts the
        // main context's record back here; or at the main context's record,
        // owned by `main_rec`. Records are only touched on this thread.
        unsafe { &*self.current_rec.get() }
    }

    /// Runs `f` on the record of `key`, if that greenlet still exists.
    pub(crate) fn with_rec<R>(&self, key: Key, f: impl FnOnce(&Record) -> R) -> Option<R> {
        let gs = self.greenlets.borrow();
        gs.get(key).map(|r| f(r))
    }

    #[inline]
    pub(crate) fn in_main(&self) -> bool {
        ptr::eq(self.current_rec.get(), Rc::as_ptr(&self.main_rec))
    }

    pub(crate) fn is_tearing_down(&self) -> bool {
        self.tearing_down.get()
    }

    /// Queues a greenlet that just became ready. `rec` must be in the
    /// greenlet slab (see [`RunQueue`]).
    #[inline]
    pub(crate) fn push_ready(&self, rec: &Record) {
        self.run_queue.push(rec);
    }

    /// Makes a parked greenlet ready; otherwise leaves it a wake-up permit
    /// so its next park returns at once. Stale keys are ignored.
    pub(crate) fn unpark(&self, key: Key) {
        let gs = self.greenlets.borrow();
        if let Some(rec) = gs.get(key) {
            self.unpark_rec(rec);
        }
    }

    /// [`try_hub`], inlined: the wake paths that green-sync inlines into
    /// every hand-off look at the thread's hub twice (`WakeRef::prepare`
    /// and `Wake::wake`), and `try_hub` is a call from another crate.
    #[inline(always)]
    pub(crate) fn local() -> Option<&'static Hub> {
        let p = CURRENT.try_with(|c| c.get()).ok()?;
        // SAFETY: as in `hub`.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// [`unpark`](Self::unpark) for a record the caller keeps alive (a
    /// local `Wake`), without the slab lookup. The record may belong to a
    /// greenlet that has ended since: its state stays `Running` after its
    /// coroutine returns, so it only gets a permit nobody reads. Outside
    /// teardown a record that is `Parked` is therefore still in the slab,
    /// as `unpark_rec` requires; during teardown, records leave the slab
    /// in other states, so the wake goes by key as before.
    #[inline]
    pub(crate) fn unpark_held(&self, rec: &Record) {
        if self.tearing_down.get() {
            self.unpark(rec.key.get());
        } else {
            self.unpark_rec(rec);
        }
    }

    /// [`unpark`](Self::unpark) for a record known to be alive, in the
    /// greenlet slab.
    #[inline]
    pub(crate) fn unpark_rec(&self, rec: &Record) {
        if rec.state.get() == State::Parked {
            rec.state.set(State::Ready);
            self.push_ready(rec);
        } else {
            rec.notified.set(true);
        }
    }

    /// Marks a greenlet killed and wakes it so it unwinds.
    pub(crate) fn kill(&self, key: Key) {
        if key == self.main {
            return;
        }
        let gs = self.greenlets.borrow();
        let Some(rec) = gs.get(key) else { return };
        if rec.killed.replace(true) {
            return;
        }
        if rec.state.get() == State::Parked {
            rec.state.set(State::Ready);
            self.push_ready(rec);
        }
    }

    /// Registers the yielder of the greenlet now starting on its stack.
    pub(crate) fn set_yielder(&self, y: *const GreenYielder) {
        self.current_rec().yielder.set(y);
    }

    /// Switches away from the running greenlet back to the hub loop, or, in
    /// the main context, runs the hub loop until the main context is ready.
    #[inline(always)]
    pub(crate) fn switch_out(&self) {
        if self.in_main() {
            self.run_until_main_ready();
            self.budget.set(BUDGET);
        } else {
            let y = self.current_rec().yielder.get();
            // SAFETY: `y` is the yielder of the running greenlet, recorded
            // when it started; it lives on that greenlet's stack, which is
            // the stack we are running on now.
            unsafe { (*y).suspend(()) };
            // Back from the loop: we are current again, and `resume`
            // refilled the budget.
        }
    }

    /// Resumes one ready greenlet until it suspends or finishes.
    ///
    /// Inlined into the loop, like `switch_out` into the parks: after a
    /// stack switch the CPU's return-address predictions belong to the
    /// other stack, so every extra frame between the switch and the loop
    /// (or the user's code) costs a mispredicted return.
    ///
    /// `rec` must be in the greenlet slab (see [`RunQueue`]); it is removed
    /// from it, and freed, if the greenlet ends.
    #[inline(always)]
    fn resume(&self, rec: *const Record) {
        // SAFETY: the caller passes a record of the slab, where it stays
        // (at a fixed address, behind its `Rc`) until the end of this
        // function: only the return of its own coroutine, below, removes it.
        let rec = unsafe { &*rec };
        if rec.state.get() != State::Ready {
            return;
        }
        rec.state.set(State::Running);
        self.current_rec.set(rec);
        self.budget.set(BUDGET);
        let n = self.switches.get() + 1;
        self.switches.set(n);
        let watched = diag::watchdog_enabled();
        if watched {
            self.shared.switches.store(n, Ordering::Relaxed);
            self.shared.running.store(rec.id, Ordering::Relaxed);
            *self.shared.running_name.lock() = rec.name.clone();
        }
        // The greenlet body catches every unwind of the user's code; one
        // that still escapes `resume` would leave the hub believing the
        // dead greenlet runs (and the main context would suspend on its
        // yielder). That cannot be continued from: end the process.
        struct AbortOnUnwind;
        impl Drop for AbortOnUnwind {
            fn drop(&mut self) {
                crate::sys::write_stderr(
                    b"green: fatal runtime error: an unwind escaped a greenlet into the hub\n",
                );
                crate::sys::abort();
            }
        }
        let bomb = AbortOnUnwind;
        let result = match rec.co.borrow_mut().as_mut() {
            Some(co) => co.resume(()),
            None => CoroutineResult::Yield(()),
        };
        std::mem::forget(bomb);
        self.current_rec.set(Rc::as_ptr(&self.main_rec));
        if watched {
            self.shared.running.store(0, Ordering::Relaxed);
        }
        if let CoroutineResult::Return(()) = result {
            if let Some(t) = rec.timer.take() {
                self.timers.borrow_mut().cancel(t);
            }
            let co = rec.co.borrow_mut().take();
            if let Some(co) = co {
                self.stacks
                    .borrow_mut()
                    .put(co.into_stack(), rec.deepest.get());
            }
            // Last: this drops the record (and with it the join packet,
            // whose value's destructor may run user code). Outside the
            // slab's borrow.
            let removed = self.greenlets.borrow_mut().remove(rec.key.get());
            drop(removed);
        }
    }

    /// Asks the CPU to fetch what the next resume will touch while the
    /// current one runs: the next greenlet's record, the stack frames it
    /// returns through (around where it parked) and the socket it waited
    /// on. All three addresses come from the queue entry, so this waits for
    /// no memory.
    ///
    /// With many connections each greenlet's stack and record have left
    /// the cache by the time it is woken again; without this, every resume
    /// starts with a chain of cache misses the CPU cannot overlap.
    #[inline(always)]
    fn prefetch_next(&self) {
        let Some(next) = self.run_queue.front() else {
            return;
        };
        prefetch(next.rec.cast());
        if next.obj != 0 {
            prefetch(next.obj as *const u8);
            prefetch(next.obj.wrapping_add(64) as *const u8);
        }
        if next.sp != 0 {
            // The frames between the park and the caller's buffers lie
            // above `sp`; corosensei's saved registers just below.
            let base = (next.sp & !63).wrapping_sub(128);
            for i in 0..PREFETCH_LINES {
                prefetch(base.wrapping_add(i * 64) as *const u8);
            }
        }
    }

    /// The hub loop, run on the thread's own stack while the main context
    /// waits: resume ready greenlets, fire timers, poll I/O, read the inbox,
    /// run idle greenlets when nothing else is ready, and fail fast on a
    /// deadlock.
    pub(crate) fn run_until_main_ready(&self) {
        if self.in_loop.replace(true) {
            panic!(
                "green: a blocking green operation was called from code the hub loop runs directly \
                 (a destructor dropped by the hub?); only greenlets and the main context may block"
            );
        }
        struct LeaveLoop<'a>(&'a Cell<bool>);
        impl Drop for LeaveLoop<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _leave = LeaveLoop(&self.in_loop);
        loop {
            let main = Rc::as_ptr(&self.main_rec);
            for _ in 0..BATCH {
                let Some(rec) = self.run_queue.pop() else {
                    break;
                };
                if rec == main {
                    return;
                }
                self.prefetch_next();
                self.resume(rec);
            }
            let fired = self.fire_timers();
            let ready = !self.run_queue.is_empty();
            let idle = !self.idle_queue.borrow().is_empty();
            let timeout = if ready || idle || fired {
                Some(Duration::ZERO)
            } else {
                match self.timers.borrow().next_deadline() {
                    Some(d) => Some(d.saturating_duration_since(Instant::now())),
                    None => self.deadlock_check(),
                }
            };
            let events = self.poll_io(timeout);
            self.drain_inbox();
            if idle && !ready && !fired && events == 0 && self.run_queue.is_empty() {
                self.wake_idle();
            }
        }
    }

    fn fire_timers(&self) -> bool {
        if self.timers.borrow().len() == 0 {
            return false;
        }
        let now = Instant::now();
        let mut fired = false;
        loop {
            let next = self.timers.borrow_mut().pop_expired(now);
            let Some(key) = next else { break };
            fired = true;
            self.with_rec(key, |rec| {
                rec.timer.set(None);
                rec.timed_out.set(true);
            });
            self.unpark(key);
        }
        fired
    }

    fn wake_idle(&self) {
        let waiting: Vec<Key> = self.idle_queue.borrow_mut().drain(..).collect();
        for key in waiting {
            let is_idle = self.with_rec(key, |r| {
                r.state.get() == State::Parked && r.wait.get() == Wait::Idle
            });
            if is_idle == Some(true) {
                self.unpark(key);
            }
        }
    }

    pub(crate) fn push_idle(&self, key: Key) {
        self.idle_queue.borrow_mut().push_back(key);
    }

    /// Polls for I/O; `None` waits for ever. Returns the number of events.
    fn poll_io(&self, mut timeout: Option<Duration>) -> usize {
        let sleeping = timeout != Some(Duration::ZERO);
        if sleeping && !self.shared.sleep.try_sleep() {
            // Another thread sent something since our last look.
            timeout = Some(Duration::ZERO);
        }
        self.polls.set(self.polls.get() + 1);
        let mut events = self.events.borrow_mut();
        let r = self.poll.borrow_mut().poll(&mut events, timeout);
        self.shared.sleep.wake();
        if let Err(e) = r {
            if e.kind() != io::ErrorKind::Interrupted {
                log::error!(target: "green", "green: poll failed: {e}");
            }
            return 0;
        }
        let mut n = 0;
        for ev in events.iter() {
            if ev.token() == WAKER_TOKEN {
                continue;
            }
            n += 1;
            self.on_io_event(Key::from_u64(ev.token().0 as u64), ev);
        }
        n
    }

    fn on_io_event(&self, key: Key, ev: &mio::event::Event) {
        let (readers, writers) = {
            let mut sources = self.sources.borrow_mut();
            let Some(src) = sources.get_mut(key) else {
                return;
            };
            let err = ev.is_error();
            if ev.is_read_closed() || err {
                src.read_closed = true;
            }
            if ev.is_write_closed() || err {
                src.write_closed = true;
            }
            if ev.is_priority() {
                src.urgent = true;
            }
            let mut readers = Woken::none();
            let mut writers = Woken::none();
            // mio counts EPOLLPRI as readable too: urgent data wakes readers.
            if ev.is_readable() || ev.is_read_closed() || err {
                src.readable = true;
                readers = src.readers.take();
            }
            if ev.is_writable() || ev.is_write_closed() || err {
                src.writable = true;
                writers = src.writers.take();
            }
            (readers, writers)
        };
        // Unparked outside the borrow: waking only queues the greenlets.
        readers.wake(self);
        writers.wake(self);
    }

    fn drain_inbox(&self) {
        while let Some(msg) = self.shared.inbox.pop() {
            match msg {
                Message::Unpark(k) => self.unpark(k),
                Message::Kill(k) => self.kill(k),
                Message::Deregister {
                    fd,
                    registration,
                    key,
                } => crate::io::forget_source(self, fd, registration, key),
            }
        }
    }

    /// Called when nothing is ready and no timer is pending. Panics with a
    /// report if nothing can ever wake the main context; otherwise returns
    /// how long to poll.
    fn deadlock_check(&self) -> Option<Duration> {
        if self.io_waiters.get() > 0 {
            return None; // a peer may send
        }
        if self.shared.blocking_in_flight.load(Ordering::Acquire) > 0 {
            return None; // a pool thread will wake us
        }
        if !self.shared.inbox.is_empty() {
            return Some(Duration::ZERO);
        }
        let others = sys::thread_count()
            .map(|n| n.saturating_sub(1 + diag::idle_internal_threads()))
            .unwrap_or(1);
        if others > 0 {
            // Another thread might hold a handle that wakes us; look again
            // soon in case it goes away.
            return Some(DEADLOCK_RECHECK);
        }
        // A thread may have sent us a wake-up and exited between the inbox
        // check above and the thread count: its send happened before its
        // exit, so a second look at the inbox now sees it.
        std::sync::atomic::fence(Ordering::SeqCst);
        if !self.shared.inbox.is_empty() {
            return Some(Duration::ZERO);
        }
        let report = diag::deadlock_report();
        panic!("{report}");
    }

    /// Pushes a deadline of a `Timeout` region onto the running greenlet.
    pub(crate) fn push_deadline(&self, id: u64, deadline: Instant) {
        let rec = self.current_rec();
        rec.deadlines.borrow_mut().push((id, deadline));
        rec.recompute_earliest();
    }

    pub(crate) fn pop_deadline(&self, id: u64) {
        let rec = self.current_rec();
        {
            let mut d = rec.deadlines.borrow_mut();
            if let Some(i) = d.iter().rposition(|d| d.0 == id) {
                d.remove(i);
            }
        }
        rec.recompute_earliest();
    }

    pub(crate) fn insert_timer(&self, deadline: Instant, key: Key) -> TimerKey {
        self.timers.borrow_mut().insert(deadline, key)
    }

    /// Ends every greenlet still alive at thread exit: each is killed and
    /// resumed so its destructors run; one that refuses to end is leaked.
    fn teardown(&self) {
        self.tearing_down.set(true);
        // Every stack is about to come back and the slabs to be unmapped.
        self.stacks.borrow_mut().defer_discards();
        self.shared.closed.store(true, Ordering::Release);
        diag::unregister_hub(self.shared.id);
        for _round in 0..3 {
            let live: Vec<Key> = self
                .greenlets
                .borrow()
                .iter()
                .filter(|(k, _)| *k != self.main)
                .map(|(k, _)| k)
                .collect();
            if live.is_empty() {
                break;
            }
            for key in live {
                let timer = self.with_rec(key, |rec| {
                    rec.killed.set(true);
                    if rec.state.get() == State::Running {
                        return None;
                    }
                    rec.state.set(State::Ready);
                    Some(rec.timer.take())
                });
                let Some(Some(timer)) = timer else { continue };
                if let Some(t) = timer {
                    self.timers.borrow_mut().cancel(t);
                }
                let rec = self.greenlets.borrow().get(key).map(Rc::as_ptr);
                if let Some(rec) = rec {
                    self.resume(rec);
                }
            }
        }
        // Entries of greenlets resumed above may be stale now; the queue is
        // never run again.
        self.run_queue.clear();
        // Whatever still lives refused to end: forget it rather than force
        // an unwind it would catch again.
        let left: Vec<Rc<Record>> = {
            let mut gs = self.greenlets.borrow_mut();
            let keys: Vec<Key> = gs
                .iter()
                .map(|(k, _)| k)
                .filter(|k| *k != self.main)
                .collect();
            keys.into_iter().filter_map(|k| gs.remove(k)).collect()
        };
        if !left.is_empty() {
            // A leaked greenlet may still sit in wait lists as a `WakeRef`
            // (a pointer to this hub's shared part, valid while it waits;
            // see wake.rs): keep that part alive for ever, like its stack.
            std::mem::forget(self.shared.clone());
            // They are out of the slab and will never be resumed: from now
            // on a wait list that meets one of them skips it instead of
            // handing it an item, a permit or a lock nobody would use.
            self.shared.abandoned.store(true, Ordering::Release);
        }
        for rec in left {
            if let Some(p) = &rec.packet {
                p.abandon();
            }
            let co = rec.co.borrow_mut().take();
            if let Some(co) = co {
                log::warn!(target: "green", "green: greenlet {} did not end when killed at thread exit; its stack is leaked", rec.describe());
                std::mem::forget(co);
            }
        }
    }
}
