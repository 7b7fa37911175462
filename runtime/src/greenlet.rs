//! Greenlets: spawning, joining and killing green threads, mirroring
//! `std::thread`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::num::NonZeroU64;
use std::panic::{self, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::hub::{hub, Co, GreenYielder, HubShared, Message};
use crate::park::{self, Unparker};
use crate::slab::Key;
use crate::timer::TimerKey;
use crate::{diag, stack};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static DEFAULT_STACK: AtomicU64 = AtomicU64::new(0);

/// Lifecycle state of a greenlet record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// In the run queue (or not yet started).
    Ready,
    /// On the CPU now (or, for the main context, running its own code).
    Running,
    /// Waiting for an unpark, a timer, I/O or a kill.
    Parked,
}

/// What a parked greenlet waits on, for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    Nothing,
    Sleep,
    Idle,
    Join(u64),
    Io { fd: i32, write: bool },
    Blocking,
    Other(&'static str),
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wait::Nothing => f.write_str("nothing"),
            Wait::Sleep => f.write_str("sleep"),
            Wait::Idle => f.write_str("idle()"),
            Wait::Join(id) => write!(f, "join of greenlet {id}"),
            Wait::Io { fd, write: false } => write!(f, "readable fd {fd}"),
            Wait::Io { fd, write: true } => write!(f, "writable fd {fd}"),
            Wait::Blocking => f.write_str("spawn_blocking job"),
            Wait::Other(s) => f.write_str(s),
        }
    }
}

/// The hub's record of one greenlet (or of the main context).
///
/// Records are reference-counted so the hub can hold one across a resume
/// while the greenlet spawns others (which may grow the slab); the mutable
/// parts are `Cell`s, read and written without borrow bookkeeping on the
/// switch path. Only the owning hub's thread ever touches a record.
///
/// `repr(C)`, with the fields every park, wake and resume touches first,
/// together (≈ 170 bytes, three cache lines) and the rest after them: with
/// many greenlets each record is cold when its greenlet is woken, and the
/// compiler's own order spread the hot fields over five lines. The
/// declaration order is also the drop order: `co` (whose drop may unwind
/// an unfinished greenlet) still drops before `packet`.
#[repr(C)]
pub(crate) struct Record {
    /// The coroutine; borrowed mutably by the hub only while resuming it.
    pub(crate) co: RefCell<Option<Co>>,
    pub(crate) state: Cell<State>,
    /// An unpark arrived while not parked: the next park returns at once.
    pub(crate) notified: Cell<bool>,
    pub(crate) killed: Cell<bool>,
    /// The park timer fired.
    pub(crate) timed_out: Cell<bool>,
    /// Set while the captures of a greenlet killed before it started are
    /// dropped: their destructors may block without the kill being thrown
    /// into them (as during the unwind of a kill).
    pub(crate) shielded: Cell<bool>,
    pub(crate) yielder: Cell<*const GreenYielder>,
    /// A stack address of the greenlet's last park or yield (0: none yet),
    /// near the frames its next resume returns through; the hub loop
    /// prefetches them (see `Hub::prefetch_next`).
    pub(crate) park_sp: Cell<usize>,
    /// Lowest stack address seen at a park, to trim deep stacks on reuse.
    pub(crate) deepest: Cell<usize>,
    /// Address of the object the greenlet last waited on for I/O (its
    /// `Registration`, inside the socket), prefetched with the stack; a
    /// stale value is harmless, it is only a hint.
    pub(crate) park_obj: Cell<usize>,
    pub(crate) timer: Cell<Option<TimerKey>>,
    /// The earliest of `deadlines`, kept so a park checks one value.
    pub(crate) earliest: Cell<Option<(u64, Instant)>>,
    pub(crate) wait: Cell<Wait>,
    /// The record's key in the hub's greenlet slab, set when inserted.
    pub(crate) key: Cell<Key>,
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) spawned_at: &'static Location<'static>,
    /// Deadlines of the enclosing `Timeout` regions, innermost last.
    pub(crate) deadlines: RefCell<Vec<(u64, Instant)>>,
    /// The greenlet's join packet, so a greenlet that has to be abandoned
    /// at thread exit still tells its joiners it was killed.
    pub(crate) packet: Option<Arc<dyn Abandon>>,
}

/// What the hub needs of a join packet without knowing its type.
pub(crate) trait Abandon {
    /// Ends the packet as killed if the greenlet never completed it.
    fn abandon(&self);
}

impl<T> Abandon for Packet<T> {
    fn abandon(&self) {
        if !self.finished.load(Ordering::Acquire) {
            self.complete(Err(JoinError::killed()));
        }
    }
}

impl Record {
    pub(crate) fn new(
        id: u64,
        name: Option<Arc<str>>,
        spawned_at: &'static Location<'static>,
        state: State,
    ) -> Record {
        Record {
            id,
            name,
            spawned_at,
            co: RefCell::new(None),
            yielder: Cell::new(std::ptr::null()),
            key: Cell::new(Key { index: 0, gen: 0 }),
            state: Cell::new(state),
            notified: Cell::new(false),
            killed: Cell::new(false),
            timed_out: Cell::new(false),
            wait: Cell::new(Wait::Nothing),
            timer: Cell::new(None),
            deadlines: RefCell::new(Vec::new()),
            earliest: Cell::new(None),
            deepest: Cell::new(0),
            park_sp: Cell::new(0),
            park_obj: Cell::new(0),
            packet: None,
            shielded: Cell::new(false),
        }
    }

    #[track_caller]
    pub(crate) fn main() -> Record {
        Record::new(
            NEXT_ID.fetch_add(1, Ordering::Relaxed),
            None,
            Location::caller(),
            State::Running,
        )
    }

    pub(crate) fn recompute_earliest(&self) {
        let d = self.deadlines.borrow();
        self.earliest.set(d.iter().copied().min_by_key(|d| d.1));
    }

    pub(crate) fn describe(&self) -> String {
        match &self.name {
            Some(n) => format!("{} '{}'", self.id, n),
            None => format!("{}", self.id),
        }
    }
}

/// A greenlet's unique id, like [`std::thread::ThreadId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GreenletId(NonZeroU64);

impl GreenletId {
    pub(crate) fn new(v: u64) -> GreenletId {
        GreenletId(NonZeroU64::new(v).unwrap_or(NonZeroU64::MIN))
    }

    /// The id as a number, unique within the process.
    pub fn as_u64(&self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for GreenletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A handle on the running greenlet, returned by [`current`]; mirrors
/// [`std::thread::Thread`].
#[derive(Debug, Clone)]
pub struct Greenlet {
    id: GreenletId,
    name: Option<Arc<str>>,
    main: bool,
}

impl Greenlet {
    /// The greenlet's unique id.
    pub fn id(&self) -> GreenletId {
        self.id
    }

    /// The name given with [`Builder::name`], if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// True for the main context: the thread's own stack, outside any
    /// greenlet.
    pub fn is_main(&self) -> bool {
        self.main
    }
}

/// Returns a handle on the running greenlet, or on the main context when
/// called outside any greenlet.
///
/// ```
/// let g = green_runtime::spawn(|| green_runtime::current().name().map(str::to_owned));
/// assert_eq!(g.join().unwrap(), None);
/// assert!(green_runtime::current().is_main());
/// ```
pub fn current() -> Greenlet {
    let hub = hub();
    let rec = hub.current_rec();
    Greenlet {
        id: GreenletId::new(rec.id),
        name: rec.name.clone(),
        main: hub.in_main(),
    }
}

/// Why [`JoinHandle::join`] returned no value.
pub struct JoinError {
    repr: JoinErrorRepr,
}

enum JoinErrorRepr {
    Panicked(Box<dyn Any + Send + 'static>),
    Killed,
    JoinSelf,
}

impl JoinError {
    pub(crate) fn killed() -> JoinError {
        JoinError {
            repr: JoinErrorRepr::Killed,
        }
    }

    /// True if the greenlet panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, JoinErrorRepr::Panicked(_))
    }

    /// True if the greenlet was killed (by [`JoinHandle::kill`] or because
    /// its hub's thread exited).
    pub fn is_killed(&self) -> bool {
        matches!(self.repr, JoinErrorRepr::Killed)
    }

    /// True if a greenlet tried to join itself, which can never complete.
    pub fn is_join_self(&self) -> bool {
        matches!(self.repr, JoinErrorRepr::JoinSelf)
    }

    /// The panic payload, if the greenlet panicked; otherwise gives the
    /// error back.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            JoinErrorRepr::Panicked(p) => Ok(p),
            repr => Err(JoinError { repr }),
        }
    }

    /// The panic payload, to re-raise with [`std::panic::resume_unwind`].
    ///
    /// # Panics
    /// If the greenlet did not panic (check [`JoinError::is_panic`]).
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(p) => p,
            Err(e) => panic!("JoinError::into_panic on an error that is not a panic: {e}"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            JoinErrorRepr::Panicked(p) => write!(
                f,
                "JoinError::Panicked({:?})",
                diag::payload_str(p.as_ref())
            ),
            JoinErrorRepr::Killed => f.write_str("JoinError::Killed"),
            JoinErrorRepr::JoinSelf => f.write_str("JoinError::JoinSelf"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            JoinErrorRepr::Panicked(p) => {
                write!(f, "greenlet panicked: {}", diag::payload_str(p.as_ref()))
            }
            JoinErrorRepr::Killed => f.write_str("greenlet was killed"),
            JoinErrorRepr::JoinSelf => f.write_str("a greenlet cannot join itself"),
        }
    }
}

impl std::error::Error for JoinError {}

/// The unwind payload that delivers a kill.
pub(crate) struct KillSignal;

/// Shared between a greenlet and its [`JoinHandle`].
struct Packet<T> {
    state: Mutex<PacketState<T>>,
    finished: AtomicBool,
}

struct PacketState<T> {
    result: Option<Result<T, JoinError>>,
    /// Woken once when the greenlet ends: usually just its joiner, so the
    /// first waiter is kept inline and a join allocates nothing.
    first: Option<Unparker>,
    more: Vec<Unparker>,
}

impl<T> PacketState<T> {
    fn add_waiter(&mut self, u: Unparker) {
        if self.first.as_ref() == Some(&u) || self.more.contains(&u) {
            return;
        }
        if self.first.is_none() {
            self.first = Some(u);
        } else {
            self.more.push(u);
        }
    }

    fn remove_waiter(&mut self, u: &Unparker) {
        if self.first.as_ref() == Some(u) {
            self.first = None;
        }
        self.more.retain(|w| w != u);
    }
}

impl<T> Packet<T> {
    fn complete(&self, result: Result<T, JoinError>) {
        let (first, more) = {
            let mut st = self.state.lock();
            st.result = Some(result);
            self.finished.store(true, Ordering::Release);
            (st.first.take(), std::mem::take(&mut st.more))
        };
        for w in first.into_iter().chain(more) {
            w.unpark();
        }
    }
}

/// An owned permission to join a greenlet (wait for it to end) and to kill
/// it; mirrors [`std::thread::JoinHandle`].
///
/// Dropping the handle detaches the greenlet: it keeps running.
///
/// ```
/// let h = green_runtime::spawn(|| 6 * 7);
/// assert_eq!(h.join().unwrap(), 42);
/// ```
pub struct JoinHandle<T> {
    watch: KillHandle<T>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.watch.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> JoinHandle<T> {
    /// Waits for the greenlet to end and returns its value, or why there is
    /// none: it panicked (with the payload), it was killed, or it is the
    /// caller itself.
    ///
    /// Joining blocks greenly: other greenlets run meanwhile. It may be
    /// called from another greenlet, the main context or another thread.
    pub fn join(self) -> Result<T, JoinError> {
        let h = hub();
        if h.shared.id == self.watch.hub.id && h.current() == self.watch.key && !self.is_finished()
        {
            return Err(JoinError {
                repr: JoinErrorRepr::JoinSelf,
            });
        }
        /// Takes the joiner's unparker off the packet if the join unwinds
        /// (kill, Timeout), so no stale wake-up is left behind.
        struct Leave<'a, T>(&'a Packet<T>, Option<Unparker>);
        impl<T> Drop for Leave<'_, T> {
            fn drop(&mut self) {
                if let Some(u) = &self.1 {
                    self.0.state.lock().remove_waiter(u);
                }
            }
        }
        let me = park::current_unparker();
        loop {
            {
                let mut st = self.watch.packet.state.lock();
                if let Some(r) = st.result.take() {
                    return r;
                }
                st.add_waiter(me.clone());
            }
            let mut leave = Leave(&self.watch.packet, Some(me.clone()));
            park::park_with(Wait::Join(self.watch.id.as_u64()), None);
            leave.1 = None; // woken normally: the waiter list is the packet's business
        }
    }

    /// Like [`join`](Self::join) but gives up at `timeout`, handing the
    /// handle back.
    pub fn join_timeout(self, timeout: Duration) -> Result<Result<T, JoinError>, JoinHandle<T>> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            {
                let mut st = self.watch.packet.state.lock();
                if let Some(r) = st.result.take() {
                    return Ok(r);
                }
                st.add_waiter(park::current_unparker());
            }
            if !park::park_with(Wait::Join(self.watch.id.as_u64()), deadline) {
                let mut st = self.watch.packet.state.lock();
                return match st.result.take() {
                    Some(r) => Ok(r),
                    None => {
                        st.remove_waiter(&park::current_unparker());
                        drop(st);
                        Err(self)
                    }
                };
            }
        }
    }

    /// Asks the greenlet to end: it unwinds from its current (or next)
    /// blocking point, running its destructors, and its joiner gets an error
    /// for which [`JoinError::is_killed`] is true. A greenlet that has not
    /// started never runs; killing a finished one does nothing.
    ///
    /// Like [`std::process::Child::kill`] this does not wait; call
    /// [`join`](Self::join) for that. Works from any thread.
    ///
    /// If the killed code catches the unwind (`catch_unwind`) and blocks
    /// again, the kill is delivered again at that blocking point; if it
    /// returns normally instead, the greenlet ends with that value.
    pub fn kill(&self) {
        self.watch.kill();
    }

    /// True once the greenlet has ended (returned, panicked or was killed).
    pub fn is_finished(&self) -> bool {
        self.watch.is_finished()
    }

    /// The greenlet's id.
    pub fn id(&self) -> GreenletId {
        self.watch.id
    }

    /// Registers `unparker` to be woken once when the greenlet ends, or at
    /// once if it already has. The building block for waiting on several
    /// greenlets at a time (`wait`/`iwait`); registering the same unparker
    /// twice wakes it once.
    pub fn notify_on_finish(&self, unparker: Unparker) {
        self.watch.notify_on_finish(unparker);
    }

    /// Removes an unparker registered with
    /// [`notify_on_finish`](Self::notify_on_finish), if still there.
    pub fn cancel_notify(&self, unparker: &Unparker) {
        self.watch.cancel_notify(unparker);
    }

    /// A cloneable handle that can kill and watch this greenlet but not
    /// join it (gevent lets many hold a greenlet; here one owner joins).
    pub fn kill_handle(&self) -> KillHandle<T> {
        self.watch.clone()
    }
}

/// A cloneable handle on a greenlet that can [`kill`](Self::kill) it and
/// see whether it has ended, but not take its result; from
/// [`JoinHandle::kill_handle`].
///
/// ```
/// let h = green_runtime::spawn(|| green_runtime::sleep(std::time::Duration::from_secs(60)));
/// let k = h.kill_handle();
/// let k2 = k.clone();
/// k2.kill();
/// assert!(h.join().unwrap_err().is_killed());
/// assert!(k.is_finished());
/// ```
pub struct KillHandle<T> {
    packet: Arc<Packet<T>>,
    hub: Arc<HubShared>,
    key: Key,
    id: GreenletId,
}

impl<T> Clone for KillHandle<T> {
    fn clone(&self) -> Self {
        KillHandle {
            packet: self.packet.clone(),
            hub: self.hub.clone(),
            key: self.key,
            id: self.id,
        }
    }
}

impl<T> fmt::Debug for KillHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KillHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> KillHandle<T> {
    /// Asks the greenlet to end; see [`JoinHandle::kill`].
    pub fn kill(&self) {
        if self.is_finished() {
            return;
        }
        match crate::hub::try_hub() {
            Some(h) if h.shared.id == self.hub.id => h.kill(self.key),
            _ => self.hub.send(Message::Kill(self.key)),
        }
    }

    /// True once the greenlet has ended.
    pub fn is_finished(&self) -> bool {
        self.packet.finished.load(Ordering::Acquire)
    }

    /// The greenlet's id.
    pub fn id(&self) -> GreenletId {
        self.id
    }

    /// See [`JoinHandle::notify_on_finish`].
    pub fn notify_on_finish(&self, unparker: Unparker) {
        let mut st = self.packet.state.lock();
        if self.packet.finished.load(Ordering::Acquire) {
            drop(st);
            unparker.unpark();
        } else {
            st.add_waiter(unparker);
        }
    }

    /// See [`JoinHandle::cancel_notify`].
    pub fn cancel_notify(&self, unparker: &Unparker) {
        self.packet.state.lock().remove_waiter(unparker);
    }
}

/// True if `payload` (caught with `catch_unwind`) is a kill being delivered
/// rather than a panic. Code that catches unwinds inside a greenlet should
/// re-raise such payloads with [`std::panic::resume_unwind`].
pub fn is_kill(payload: &(dyn Any + Send)) -> bool {
    payload.is::<KillSignal>()
}

/// Configures a greenlet before it starts; mirrors
/// [`std::thread::Builder`].
///
/// ```
/// let h = green_runtime::Builder::new()
///     .name("worker".into())
///     .stack_size(64 * 1024)
///     .spawn(|| green_runtime::current().name().map(str::to_owned))
///     .unwrap();
/// assert_eq!(h.join().unwrap().as_deref(), Some("worker"));
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the greenlet; the name shows in panic reports, the stack
    /// overflow report, the watchdog and [`dump`](crate::dump).
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Sets the usable stack size in bytes; it is rounded up to whole pages
    /// and to at least 16 KiB. The default is 128 KiB, or
    /// [`set_default_stack_size`], or the `GREEN_STACK_SIZE` environment
    /// variable (bytes, or with a `K`/`M` suffix).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns the greenlet on the calling thread's hub. It first runs when
    /// the thread next blocks greenly (in a greenlet or the main context).
    ///
    /// Unlike `std::thread`, `f` need not be `Send`: greenlets never leave
    /// the thread that spawned them.
    ///
    /// # Errors
    /// If no stack can be mapped (for example an absurd `stack_size`).
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        spawn_inner(self.name, self.stack_size, Location::caller(), f)
    }
}

/// Spawns a greenlet on the calling thread's hub and returns its
/// [`JoinHandle`]; mirrors [`std::thread::spawn`].
///
/// The new greenlet runs when the caller next blocks greenly (gevent's
/// `spawn`). `f` need not be `Send`.
///
/// ```
/// use std::rc::Rc;
/// let shared = Rc::new(5); // not Send: fine, greenlets stay on this thread
/// let s = shared.clone();
/// let h = green_runtime::spawn(move || *s + 1);
/// assert_eq!(h.join().unwrap(), 6);
/// ```
///
/// # Panics
/// If no stack can be mapped; use [`Builder::spawn`] to get the error.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    match spawn_inner(None, None, Location::caller(), f) {
        Ok(h) => h,
        Err(e) => panic!("green: failed to spawn greenlet: {e}"),
    }
}

/// Spawns a greenlet that starts `f` after `delay`. Killing it before then
/// means `f` never runs.
#[track_caller]
pub fn spawn_later<F, T>(delay: Duration, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    match spawn_inner(None, None, Location::caller(), move || {
        crate::sleep(delay);
        f()
    }) {
        Ok(h) => h,
        Err(e) => panic!("green: failed to spawn greenlet: {e}"),
    }
}

/// Sets the stack size for greenlets spawned without
/// [`Builder::stack_size`], process-wide.
pub fn set_default_stack_size(size: usize) {
    DEFAULT_STACK.store(size as u64, Ordering::Relaxed);
}

pub(crate) fn default_stack_size() -> usize {
    let v = DEFAULT_STACK.load(Ordering::Relaxed);
    if v != 0 {
        return v as usize;
    }
    static FROM_ENV: OnceLock<usize> = OnceLock::new();
    *FROM_ENV.get_or_init(|| {
        std::env::var("GREEN_STACK_SIZE")
            .ok()
            .and_then(|s| parse_size(&s))
            .unwrap_or(stack::DEFAULT_STACK_SIZE)
    })
}

fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mul) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1024),
        b'm' | b'M' => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    num.trim().parse::<usize>().ok()?.checked_mul(mul)
}

fn spawn_inner<F, T>(
    name: Option<String>,
    stack_size: Option<usize>,
    spawned_at: &'static Location<'static>,
    f: F,
) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let hub = hub();
    let mut stack = hub
        .stacks
        .borrow_mut()
        .get(stack_size.unwrap_or_else(default_stack_size))?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let name: Option<Arc<str>> = name.map(Arc::from);
    stack.set_owner(name.as_deref(), id);
    let packet = Arc::new(Packet {
        state: Mutex::new(PacketState {
            result: None,
            first: None,
            more: Vec::new(),
        }),
        finished: AtomicBool::new(false),
    });
    let mut rec = Record::new(id, name, spawned_at, State::Ready);
    rec.packet = Some(packet.clone());
    let rec = Rc::new(rec);
    let key = hub.greenlets.borrow_mut().insert(rec.clone());
    let theirs = packet.clone();
    let co = Co::with_stack(stack, move |y: &GreenYielder, ()| {
        let hub = crate::hub::hub();
        hub.set_yielder(y);
        let killed = hub.current_rec().killed.get();
        // Everything the greenlet's code can run — `f` itself, or only the
        // destructors of what `f` captured if it was killed before it
        // started (they may block or panic too) — stays inside the catch,
        // so no unwind ever leaves the coroutine into the hub.
        let result = panic::catch_unwind(AssertUnwindSafe(move || {
            if killed {
                let rec = crate::hub::hub().current_rec();
                rec.shielded.set(true);
                drop(f);
                rec.shielded.set(false);
                None
            } else {
                Some(f())
            }
        }));
        let result = match result {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(JoinError::killed()),
            Err(payload) => Err(classify(payload)),
        };
        theirs.complete(result);
    });
    *rec.co.borrow_mut() = Some(co);
    rec.key.set(key);
    hub.push_ready(&rec);
    drop(rec);
    Ok(JoinHandle {
        watch: KillHandle {
            packet,
            hub: hub.shared.clone(),
            key,
            id: GreenletId::new(id),
        },
    })
}

/// Turns what unwound out of a greenlet into a join error (the panic hook
/// already reported real panics).
fn classify(payload: Box<dyn Any + Send>) -> JoinError {
    if is_kill(payload.as_ref()) {
        return JoinError::killed();
    }
    let hub = crate::hub::hub();
    if hub.is_tearing_down() {
        return JoinError::killed();
    }
    JoinError {
        repr: JoinErrorRepr::Panicked(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("64K"), Some(65536));
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_size("lots"), None);
    }
}
