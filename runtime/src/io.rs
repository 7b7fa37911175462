//! Readiness: how a file descriptor waits greenly.
//!
//! A descriptor is registered with a hub's `mio::Poll` once, for both
//! directions, edge-triggered, the first time an operation on it would
//! block on that hub's thread. A socket used from several threads (an
//! `Arc<TcpListener>` accepted on by each, a reader thread and a writer
//! thread on one `&TcpStream`) is registered with each of their hubs —
//! epoll allows one descriptor in several sets — so no hub ever takes it
//! from another. The hub keeps a [`Source`] record per registration: a cached
//! readiness flag per direction and the greenlets waiting for each, kept
//! apart so a reader and a writer on one socket wait independently.
//!
//! [`Registration::io`] is the one retry loop every socket operation uses:
//! try the operation; on `WouldBlock` clear that direction's readiness and
//! park until an event sets it again; repeat. Readiness is only ever cleared
//! by an operation that saw `WouldBlock` (or by a caller that knows the
//! socket is drained, see [`Registration::clear_readiness`]), so an event is
//! never lost between a failed attempt and the park. Events may be spurious;
//! the loop simply tries again.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Interest, Token};
use parking_lot::Mutex;

use crate::greenlet::{Record, Wait};
use crate::hub::{hub, try_hub, Hub, HubShared, Message};
use crate::park::{consume_budget, park_with};
use crate::slab::Key;

/// A direction of readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Readable (data, EOF, a pending connection, an error).
    Read,
    /// Writable (buffer space, a completed connect, an error).
    Write,
}

/// The hub's record of one registered descriptor.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer closed its side (or the descriptor has an error): a read
    /// will not block again, and no further edge will say so, so
    /// [`Registration::clear_readiness`] must not clear `readable`.
    pub(crate) read_closed: bool,
    /// As `read_closed`, for writes.
    pub(crate) write_closed: bool,
    /// The descriptor has had urgent data (`EPOLLPRI`: a TCP peer sent a
    /// byte with `MSG_OOB`). A read stops short at the urgent mark with
    /// data still queued behind it, so from then on a short read says
    /// nothing about the receive buffer and
    /// [`Registration::clear_readiness`] leaves `readable` set: the next
    /// read tries, and only a `WouldBlock` clears it.
    pub(crate) urgent: bool,
    pub(crate) readers: Waiters,
    pub(crate) writers: Waiters,
}

/// The greenlets waiting for one direction of a [`Source`]. The first is
/// kept inline — one reader and one writer per socket is the usual case,
/// and then waiting allocates nothing and a wake-up touches no other
/// memory — and any others in a boxed vector, allocated the first time a
/// direction has a second waiter. Two words, so a whole [`Source`] with its
/// slab slot takes 48 bytes: at many connections the record of the socket
/// a greenlet waited on is cold when it wakes, and one line is cheaper
/// than two.
///
/// Entries are records, not slab keys, so a wake-up goes straight to the
/// record. An entry is in the list only while its greenlet is inside
/// [`Registration::wait`] (whose drop guard takes it out before the wait
/// returns or unwinds), and a greenlet inside a wait has not ended, so its
/// record is in the hub's greenlet slab, alive and at a fixed address.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    first: Option<NonNull<Record>>,
    // One word where a `Vec` takes three (see above); the extra allocation
    // happens only for a second waiter in one direction.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<NonNull<Record>>>>,
}

impl Waiters {
    #[inline]
    fn push(&mut self, rec: NonNull<Record>) {
        if self.first.is_none() {
            self.first = Some(rec);
        } else {
            self.push_more(rec);
        }
    }

    #[cold]
    #[inline(never)]
    fn push_more(&mut self, rec: NonNull<Record>) {
        self.more.get_or_insert_with(Box::default).push(rec);
    }

    #[inline]
    fn remove(&mut self, rec: NonNull<Record>) {
        if self.first == Some(rec) {
            self.first = None;
        } else {
            self.remove_more(rec);
        }
    }

    #[cold]
    #[inline(never)]
    fn remove_more(&mut self, rec: NonNull<Record>) {
        if let Some(more) = self.more.as_mut() {
            if let Some(i) = more.iter().position(|w| *w == rec) {
                more.swap_remove(i);
            }
        }
    }

    /// Empties the list; [`Woken::wake`] then wakes everyone who waited.
    #[inline]
    pub(crate) fn take(&mut self) -> Woken {
        let more = match self.more.as_mut() {
            Some(v) => std::mem::take(&mut **v),
            None => Vec::new(),
        };
        Woken(self.first.take(), more)
    }
}

/// The former entries of a [`Waiters`] list, to be woken once the borrow
/// of the hub's sources is released. Woken at once: between `take` and
/// `wake` no greenlet runs, so every entry still names a waiting greenlet.
#[must_use]
pub(crate) struct Woken(Option<NonNull<Record>>, Vec<NonNull<Record>>);

impl Woken {
    /// Nobody to wake.
    pub(crate) fn none() -> Woken {
        Woken(None, Vec::new())
    }

    /// Unparks every greenlet taken from the list.
    #[inline]
    pub(crate) fn wake(self, hub: &Hub) {
        for rec in self.0.into_iter().chain(self.1) {
            // SAFETY: the entry was in a waiter list of this hub when it was
            // taken (see `Waiters`), so its greenlet was inside a wait; no
            // greenlet has run since, so it still is, and its record is
            // alive in the slab.
            hub.unpark_rec(unsafe { rec.as_ref() });
        }
    }
}

static NEXT_REGISTRATION: AtomicU64 = AtomicU64::new(1);

/// The green side of one file descriptor: registers it with the hub of
/// each thread that has to wait on it. `Send + Sync`, so the socket that
/// owns it can be.
///
/// The first hub it registers with keeps its record's key in the
/// registration itself; any other hub finds its record in a table indexed
/// by the descriptor number and checked against the registration's unique
/// id. Either way the fast path takes no lock and no read-modify-write
/// atomic, and a descriptor number reused after a close is never mistaken
/// for the old one.
///
/// The owner must drop the `Registration` *before* closing the descriptor
/// (declare it first among the fields), so the descriptor leaves every
/// poll while it still exists.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use green_runtime::{Direction, Registration};
///
/// let (a, mut b) = UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// let reg = Registration::new(a.as_raw_fd());
/// let writer = green_runtime::spawn(move || b.write_all(b"ping"));
/// let mut buf = [0u8; 4];
/// // Would block at first: parks this context until the writer has run.
/// let n = reg.io(Direction::Read, None, || (&a).read(&mut buf))?;
/// assert_eq!(&buf[..n], b"ping");
/// writer.join().unwrap()?;
/// drop(reg); // before `a` closes
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Registration {
    fd: RawFd,
    id: u64,
    /// Id of the hub it was first registered with (0: none yet), whose
    /// record key is `home_key`: that hub finds its record here, in memory
    /// the socket operation touches anyway, instead of in its descriptor
    /// table. Both are written once, by that hub's thread, under `bound`'s
    /// lock; only a thread whose hub id matches reads `home_key`, so it
    /// reads its own write.
    home_hub: AtomicU64,
    home_key: AtomicU64,
    /// The hubs it is registered with and its record on each.
    bound: Mutex<Vec<(Arc<HubShared>, Key)>>,
}

impl Registration {
    /// A registration for `fd`, which must be in non-blocking mode. Nothing
    /// is registered until an operation would block.
    pub fn new(fd: RawFd) -> Registration {
        Registration {
            fd,
            id: NEXT_REGISTRATION.fetch_add(1, Ordering::Relaxed),
            home_hub: AtomicU64::new(0),
            home_key: AtomicU64::new(0),
            bound: Mutex::new(Vec::new()),
        }
    }

    /// The descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Key of the record on `hub`, if registered there.
    #[inline]
    fn key_on(&self, hub: &Hub) -> Option<Key> {
        if self.home_hub.load(Ordering::Relaxed) == hub.shared.id {
            return Some(Key::from_u64(self.home_key.load(Ordering::Relaxed)));
        }
        self.key_in_table(hub)
    }

    /// Key of the record on `hub` from its descriptor table.
    #[cold]
    fn key_in_table(&self, hub: &Hub) -> Option<Key> {
        let i = usize::try_from(self.fd).ok()?;
        match hub.fd_table.borrow().get(i) {
            Some(&(id, key)) if id == self.id => Some(key),
            _ => None,
        }
    }

    /// Registers with `hub` if not yet.
    fn bind(&self, hub: &Hub) -> io::Result<Key> {
        if let Some(k) = self.key_on(hub) {
            return Ok(k);
        }
        let i = usize::try_from(self.fd)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "negative descriptor"))?;
        let key = hub.sources.borrow_mut().insert(Source {
            readable: true,
            writable: true,
            read_closed: false,
            write_closed: false,
            urgent: false,
            readers: Waiters::default(),
            writers: Waiters::default(),
        });
        let token = Token(key.to_u64() as usize);
        if let Err(e) = hub.shared.registry.register(
            &mut SourceFd(&self.fd),
            token,
            // PRIORITY only to learn of urgent data (see `Source::urgent`).
            Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
        ) {
            hub.sources.borrow_mut().remove(key);
            return Err(e);
        }
        {
            let mut table = hub.fd_table.borrow_mut();
            if table.len() <= i {
                table.resize(i + 1, (0, Key { index: 0, gen: 0 }));
            }
            table[i] = (self.id, key);
        }
        let mut bound = self.bound.lock();
        if bound.is_empty() {
            self.home_key.store(key.to_u64(), Ordering::Relaxed);
            self.home_hub.store(hub.shared.id, Ordering::Relaxed);
        }
        bound.push((hub.shared.clone(), key));
        Ok(key)
    }

    /// Runs `op` until it does not return `WouldBlock`, parking the calling
    /// greenlet until `dir` is ready between attempts. `Interrupted` is
    /// retried. Gives `TimedOut` once `deadline` has passed.
    ///
    /// Each call spends one unit of the fairness budget first (see
    /// [`consume_budget`]), so a socket that is always ready still lets the
    /// other greenlets run.
    //
    // Forced inline, together with `wait` (and green-net's wrappers), so
    // the whole path from a socket's `read`/`write` down to the switch is
    // one stack frame: at a thousand connections every line of that path
    // is cold again at each wake-up, and separate frames (each with its
    // own register saves and spills) made it ≈ 420 bytes instead of ≈ 220.
    #[inline(always)]
    pub fn io<R>(
        &self,
        dir: Direction,
        deadline: Option<Instant>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        // Spend the fairness budget before the attempt, never after a
        // success: the yield it may cause is a blocking point where a kill
        // or Timeout unwinds, and data already read would be lost.
        consume_budget();
        let hub = hub();
        loop {
            if let Some(k) = self.key_on(hub) {
                if !is_ready(hub, k, dir) {
                    self.wait(hub, k, dir, deadline)?;
                    continue;
                }
            }
            match op() {
                Ok(v) => return Ok(v),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.drained(hub, dir)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs `op` once, never parking: what a non-blocking socket would do,
    /// with the bookkeeping of [`io`](Self::io). A `WouldBlock` registers
    /// the descriptor (if not yet) and marks `dir` not ready, so the next
    /// [`wait_ready`](Self::wait_ready) parks for the hub's event instead of
    /// returning at once. `Interrupted` is retried.
    #[inline]
    pub fn try_io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(hub) = try_hub() {
                        self.drained(hub, dir)?;
                    }
                    return Err(e);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// Records that an attempt saw `WouldBlock`: registers with `hub` if
    /// not yet and marks `dir` not ready, so the next wait parks for an
    /// event.
    #[inline(always)]
    fn drained(&self, hub: &Hub, dir: Direction) -> io::Result<()> {
        let k = self.bind(hub)?;
        set_ready(hub, k, dir, false);
        Ok(())
    }

    /// Parks until `dir` is ready (or the deadline passes), without trying
    /// any operation first; for a non-blocking `connect` in progress. A
    /// descriptor not registered yet counts as ready (it is registered and
    /// the call returns at once), so the caller's check comes first.
    pub fn wait_ready(&self, dir: Direction, deadline: Option<Instant>) -> io::Result<()> {
        self.wait_ready_inner(dir, deadline, true)
    }

    /// [`wait_ready`](Self::wait_ready) for a caller with no check of its
    /// own to make, such as a wait for data before choosing a buffer: a
    /// descriptor not registered yet is registered and waited for. epoll
    /// reports the state at registration as an edge, so one that is
    /// already ready wakes the waiter on the hub's next poll.
    pub fn wait_event(&self, dir: Direction, deadline: Option<Instant>) -> io::Result<()> {
        self.wait_ready_inner(dir, deadline, false)
    }

    fn wait_ready_inner(
        &self,
        dir: Direction,
        deadline: Option<Instant>,
        assume_ready: bool,
    ) -> io::Result<()> {
        let hub = hub();
        let k = match self.key_on(hub) {
            Some(k) => k,
            None => {
                let k = self.bind(hub)?;
                set_ready(hub, k, dir, assume_ready);
                k
            }
        };
        if !is_ready(hub, k, dir) {
            self.wait(hub, k, dir, deadline)?;
        }
        Ok(())
    }

    /// Marks `dir` not ready, so the next operation parks for an event
    /// instead of trying a syscall that would return `WouldBlock`. Only for
    /// callers that know the descriptor is drained, such as a read that
    /// returned fewer bytes than asked for on a stream socket.
    ///
    /// Once the hub has seen the peer close that direction (or an error),
    /// readiness stays set: the EOF or error that may have arrived with the
    /// last data produces no further event, so the next read must try. So
    /// does read readiness once the descriptor has had urgent data, after
    /// which a short TCP read no longer means a drained buffer (it stops
    /// at the urgent mark).
    #[inline]
    pub fn clear_readiness(&self, dir: Direction) {
        if let Some(hub) = try_hub() {
            if let Some(k) = self.key_on(hub) {
                if let Some(s) = hub.sources.borrow_mut().get_mut(k) {
                    match dir {
                        Direction::Read if !s.read_closed && !s.urgent => s.readable = false,
                        Direction::Write if !s.write_closed => s.writable = false,
                        _ => {}
                    }
                }
            }
        }
    }

    /// Parks until an event for `dir` (inlined into `io`, see there).
    #[inline(always)]
    fn wait(&self, hub: &Hub, k: Key, dir: Direction, deadline: Option<Instant>) -> io::Result<()> {
        let rec = hub.current_rec();
        rec.park_obj.set(self as *const Registration as usize);
        let me = NonNull::from(rec);
        {
            let mut sources = hub.sources.borrow_mut();
            let Some(src) = sources.get_mut(k) else {
                return Ok(()); // deregistered meanwhile: retry and re-register
            };
            match dir {
                Direction::Read => src.readers.push(me),
                Direction::Write => src.writers.push(me),
            }
        }
        struct Waiting<'a> {
            hub: &'a Hub,
            k: Key,
            dir: Direction,
            me: NonNull<Record>,
        }
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.hub.io_waiters.set(self.hub.io_waiters.get() - 1);
                let mut sources = self.hub.sources.borrow_mut();
                if let Some(src) = sources.get_mut(self.k) {
                    match self.dir {
                        Direction::Read => src.readers.remove(self.me),
                        Direction::Write => src.writers.remove(self.me),
                    }
                }
            }
        }
        hub.io_waiters.set(hub.io_waiters.get() + 1);
        let waiting = Waiting { hub, k, dir, me };
        let woke = park_with(
            Wait::Io {
                fd: self.fd,
                write: dir == Direction::Write,
            },
            deadline,
        );
        drop(waiting);
        if woke {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "operation timed out",
            ))
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let here = try_hub();
        for (shared, key) in self.bound.get_mut().drain(..) {
            // Deregistering works from any thread.
            let _ = shared.registry.deregister(&mut SourceFd(&self.fd));
            match here {
                Some(h) if h.shared.id == shared.id => {
                    forget_source(h, self.fd, self.id, key);
                }
                _ => shared.send(Message::Deregister {
                    fd: self.fd,
                    registration: self.id,
                    key,
                }),
            }
        }
    }
}

#[inline]
fn is_ready(hub: &Hub, k: Key, dir: Direction) -> bool {
    hub.sources.borrow().get(k).is_none_or(|s| match dir {
        Direction::Read => s.readable,
        Direction::Write => s.writable,
    })
}

#[inline]
fn set_ready(hub: &Hub, k: Key, dir: Direction, ready: bool) {
    if let Some(s) = hub.sources.borrow_mut().get_mut(k) {
        match dir {
            Direction::Read => s.readable = ready,
            Direction::Write => s.writable = ready,
        }
    }
}

/// Drops the record of a registration that is going away, and its entry in
/// the descriptor table unless the descriptor number already belongs to a
/// newer registration. Whoever still waits on it is woken to retry.
pub(crate) fn forget_source(hub: &Hub, fd: RawFd, registration: u64, k: Key) {
    if let Ok(i) = usize::try_from(fd) {
        let mut table = hub.fd_table.borrow_mut();
        if let Some(e) = table.get_mut(i) {
            if e.0 == registration {
                e.0 = 0;
            }
        }
    }
    let removed = hub.sources.borrow_mut().remove(k);
    if let Some(mut src) = removed {
        src.readers.take().wake(hub);
        src.writers.take().wake(hub);
    }
}
