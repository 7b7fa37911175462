//! The green core every socket type wraps: a std socket in non-blocking
//! mode, its [`Registration`], and the timeouts and mode std would observe.
//!
//! Every blocking operation of every socket goes through [`Sock::read`] or
//! [`Sock::write`], which hand the operation to the runtime's one retry loop,
//! [`Registration::io`]: try it; on `WouldBlock` park until the hub sees the
//! direction ready; try again. Readiness is cached per direction in the hub
//! and cleared only by an attempt that saw `WouldBlock` (see
//! [`Sock::read_stream`] for the short-read rule).

use std::io;
use std::io::IoSlice;
use std::os::fd::AsFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use green_runtime::{Direction, Registration};
use socket2::SockRef;

/// Stored in a timeout slot for "no timeout".
const NO_TIMEOUT: u64 = u64::MAX;

fn encode(d: Option<Duration>) -> u64 {
    match d {
        None => NO_TIMEOUT,
        Some(d) => u64::try_from(d.as_nanos()).map_or(NO_TIMEOUT - 1, |n| n.min(NO_TIMEOUT - 1)),
    }
}

/// The error std gives on Linux when `SO_RCVTIMEO`/`SO_SNDTIMEO` expires:
/// `EAGAIN`, whose kind is `WouldBlock`.
fn timed_out() -> io::Error {
    io::Error::from_raw_os_error(libc::EAGAIN)
}

/// What std keeps per socket rather than per handle: `SO_RCVTIMEO`,
/// `SO_SNDTIMEO` and `O_NONBLOCK` belong to the socket (the open file), so
/// every `try_clone` of it sees a change made through any other.
#[derive(Debug)]
struct Mode {
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
    /// The mode the user asked for with `set_nonblocking` (the descriptor
    /// itself is always non-blocking).
    nonblocking: AtomicBool,
}

impl Mode {
    const fn new() -> Mode {
        Mode {
            read_timeout: AtomicU64::new(NO_TIMEOUT),
            write_timeout: AtomicU64::new(NO_TIMEOUT),
            nonblocking: AtomicBool::new(false),
        }
    }

    fn snapshot(&self) -> Mode {
        Mode {
            read_timeout: AtomicU64::new(self.read_timeout.load(Ordering::Relaxed)),
            write_timeout: AtomicU64::new(self.write_timeout.load(Ordering::Relaxed)),
            nonblocking: AtomicBool::new(self.nonblocking.load(Ordering::Relaxed)),
        }
    }
}

/// A std socket made green.
///
/// Its [`Mode`] lives in the `Sock` itself (no allocation, no indirection
/// on the hot path) until the first `try_clone`; from then on the handle
/// and all its clones use one shared `Mode`, as std's clones share one
/// socket.
#[derive(Debug)]
pub(crate) struct Sock<S: AsFd> {
    /// Declared before `sock`: dropped first, so the descriptor leaves the
    /// hub's poll while it still exists.
    reg: Registration,
    /// The mode while this handle was never cloned.
    own: Mode,
    /// The mode shared with the clones, once there are any.
    shared: OnceLock<Arc<Mode>>,
    /// Serialises the setters with the first `try_clone`, so a change made
    /// while `own` is copied into `shared` is not lost.
    setting: Mutex<()>,
    pub(crate) sock: S,
}

impl<S: AsFd> Sock<S> {
    /// Wraps a socket that is already in non-blocking mode and has std's
    /// defaults (no timeouts, blocking from the user's point of view).
    pub(crate) fn from_nonblocking(sock: S) -> Sock<S> {
        use std::os::fd::AsRawFd;
        Sock {
            reg: Registration::new(sock.as_fd().as_raw_fd()),
            own: Mode::new(),
            shared: OnceLock::new(),
            setting: Mutex::new(()),
            sock,
        }
    }

    /// The mode in force: this handle's own, or the one shared with its
    /// clones.
    #[inline(always)]
    fn mode(&self) -> &Mode {
        match self.shared.get() {
            Some(m) => m,
            None => &self.own,
        }
    }

    /// Held by every change of the mode.
    fn setting(&self) -> MutexGuard<'_, ()> {
        self.setting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wraps `sock`, a `dup` of this socket (std's `try_clone`), sharing
    /// the timeouts and the non-blocking mode with this handle, as std's
    /// clones share them through the kernel. The clone has its own
    /// registration.
    pub(crate) fn clone_with(&self, sock: S) -> Sock<S> {
        let shared = {
            let _g = self.setting();
            Arc::clone(self.shared.get_or_init(|| Arc::new(self.own.snapshot())))
        };
        let s = Sock::from_nonblocking(sock);
        // A fresh `OnceLock`: this `set` cannot find it full.
        let _ = s.shared.set(shared);
        s
    }

    /// Wraps a socket std just created (blocking, no timeouts).
    pub(crate) fn fresh(sock: S) -> io::Result<Sock<S>> {
        SockRef::from(&sock).set_nonblocking(true)?;
        Ok(Sock::from_nonblocking(sock))
    }

    /// Wraps a socket in any state, keeping what std would observe: its
    /// mode (a socket the user made non-blocking stays so) and its
    /// `SO_RCVTIMEO`/`SO_SNDTIMEO` timeouts.
    pub(crate) fn adopt(sock: S) -> io::Result<Sock<S>> {
        let r = SockRef::from(&sock);
        let user_nonblocking = r.nonblocking()?;
        let rt = r.read_timeout().unwrap_or(None);
        let wt = r.write_timeout().unwrap_or(None);
        if !user_nonblocking {
            r.set_nonblocking(true)?;
        }
        let s = Sock::from_nonblocking(sock);
        s.own.nonblocking.store(user_nonblocking, Ordering::Relaxed);
        s.own.read_timeout.store(encode(rt), Ordering::Relaxed);
        s.own.write_timeout.store(encode(wt), Ordering::Relaxed);
        Ok(s)
    }

    /// [`adopt`](Self::adopt) for infallible conversions (`From`,
    /// `FromRawFd`): the same, a caller-set non-blocking mode included. A
    /// descriptor whose mode cannot even be read is not a socket anyone
    /// can use; it is wrapped as is and the failure logged.
    pub(crate) fn adopt_lossy(sock: S) -> Sock<S> {
        use std::os::fd::AsRawFd;
        let fd = sock.as_fd().as_raw_fd();
        let r = SockRef::from(&sock);
        let user_nonblocking = match r.nonblocking() {
            Ok(nb) => nb,
            Err(e) => {
                log::warn!(target: "green", "green-net: cannot read the mode of fd {fd}: {e}");
                false
            }
        };
        if !user_nonblocking {
            if let Err(e) = r.set_nonblocking(true) {
                log::warn!(target: "green", "green-net: cannot make fd {fd} non-blocking: {e}");
            }
        }
        let rt = r.read_timeout().unwrap_or(None);
        let wt = r.write_timeout().unwrap_or(None);
        let s = Sock::from_nonblocking(sock);
        s.own.nonblocking.store(user_nonblocking, Ordering::Relaxed);
        s.own.read_timeout.store(encode(rt), Ordering::Relaxed);
        s.own.write_timeout.store(encode(wt), Ordering::Relaxed);
        s
    }

    /// Takes the std socket back, in the mode std would show: blocking
    /// unless `set_nonblocking(true)` was called. Timeouts live in the
    /// kernel too, so they carry over.
    pub(crate) fn into_inner(self) -> io::Result<S> {
        let nonblocking = self.is_nonblocking();
        let Sock { reg, sock, .. } = self;
        drop(reg);
        SockRef::from(&sock).set_nonblocking(nonblocking)?;
        Ok(sock)
    }

    /// [`into_inner`](Self::into_inner) for infallible conversions: a
    /// failure to restore the mode is logged.
    pub(crate) fn into_inner_lossy(self) -> S {
        let nonblocking = self.is_nonblocking();
        let Sock { reg, sock, .. } = self;
        drop(reg);
        if let Err(e) = SockRef::from(&sock).set_nonblocking(nonblocking) {
            log::warn!(target: "green", "green-net: cannot restore the blocking mode of a socket: {e}");
        }
        sock
    }

    /// Runs a read-side operation (read, recv, accept, peek) greenly.
    #[inline(always)]
    pub(crate) fn read<R>(&self, op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        self.io(Direction::Read, op)
    }

    /// Runs a write-side operation (write, send) greenly.
    #[inline(always)]
    pub(crate) fn write<R>(&self, op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        self.io(Direction::Write, op)
    }

    /// A write on a stream socket, as a blocking one behaves on Linux: it
    /// returns once the whole of `buf` is in the kernel, not after the
    /// first short send, so `write(&big)` gives `big.len()` as std's does.
    /// Once some bytes went, whatever stops the rest gives their count: the
    /// write timeout (one deadline for the whole call, as `SO_SNDTIMEO`),
    /// an error (the next write reports it), or a green `Timeout` (as std's
    /// write returns the count when a signal interrupts it; the `Timeout`
    /// is delivered again at its region's next blocking point). A kill
    /// unwinds as everywhere. In non-blocking mode one send, as std.
    #[inline(always)]
    pub(crate) fn write_stream(
        &self,
        buf: &[u8],
        mut send: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.write_stream_from(buf.len(), |done| send(&buf[done..]))
    }

    /// [`write_stream`](Self::write_stream) for a vectored write.
    #[inline(always)]
    pub(crate) fn write_stream_vectored(
        &self,
        bufs: &[IoSlice<'_>],
        mut send: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let total = bufs.iter().fold(0usize, |t, b| t.saturating_add(b.len()));
        // From offset `done`: the slices past what went. Rare (the send
        // buffer filled), so the copy of the slice list that can be
        // advanced is made only then.
        let mut rest: Vec<IoSlice<'_>> = Vec::new();
        let (mut first, mut sent) = (0, 0);
        let send_from = |done: usize| {
            if done == 0 {
                return send(bufs);
            }
            if rest.is_empty() {
                rest.extend_from_slice(bufs);
            }
            let left = rest.len() - first;
            let mut view: &mut [IoSlice<'_>] = &mut rest[first..];
            IoSlice::advance_slices(&mut view, done - sent);
            first += left - view.len();
            sent = done;
            send(view)
        };
        self.write_stream_from(total, send_from)
    }

    /// A stream write of `total` bytes in the socket's mode: one send in
    /// non-blocking mode, else the whole of it (see
    /// [`write_stream`](Self::write_stream)); `send_from(done)` sends from
    /// offset `done`.
    #[inline(always)]
    fn write_stream_from(
        &self,
        total: usize,
        mut send_from: impl FnMut(usize) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let m = self.mode();
        if m.nonblocking.load(Ordering::Relaxed) {
            return io_nonblocking(|| send_from(0));
        }
        let t = m.write_timeout.load(Ordering::Relaxed);
        if t != NO_TIMEOUT {
            return self.write_whole_timed(t, total, send_from);
        }
        self.write_whole(None, total, send_from)
    }

    /// A whole stream write of `total` bytes under a write timeout of `t`
    /// nanoseconds; `send_from(done)` sends from offset `done`.
    #[cold]
    #[inline(never)]
    fn write_whole_timed(
        &self,
        t: u64,
        total: usize,
        send_from: impl FnMut(usize) -> io::Result<usize>,
    ) -> io::Result<usize> {
        with_deadline(t, |deadline| self.write_whole(deadline, total, send_from))
    }

    /// The first send of a whole stream write (see
    /// [`write_stream`](Self::write_stream)), then the rest if it was short.
    #[inline(always)]
    fn write_whole(
        &self,
        deadline: Option<Instant>,
        total: usize,
        mut send_from: impl FnMut(usize) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let n = self.reg.io(Direction::Write, deadline, || send_from(0))?;
        if n >= total || n == 0 {
            return Ok(n);
        }
        Ok(self.write_rest(total, n, deadline, send_from))
    }

    /// Sends the rest of a stream write of `total` bytes of which `done`
    /// went, parking between sends, and returns how much went in all.
    /// Once bytes went, their count is the result whatever stops the rest
    /// (see [`write_stream`](Self::write_stream)): an error, the
    /// `deadline`, or a `Timeout` unwinding from a park, which is caught
    /// here and delivered again at the region's next blocking point, so a
    /// caller that retries never sends these bytes twice. A kill unwinds
    /// on: the greenlet ends, and nobody retries.
    #[cold]
    #[inline(never)]
    fn write_rest(
        &self,
        total: usize,
        mut done: usize,
        deadline: Option<Instant>,
        mut send_from: impl FnMut(usize) -> io::Result<usize>,
    ) -> usize {
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            while done < total {
                match self.reg.io(Direction::Write, deadline, || send_from(done)) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => done += n,
                }
            }
        }));
        if let Err(payload) = r {
            // Only a `Timeout`: a killed greenlet ends, so the count is
            // moot, and catching the kill could lose it for good if the
            // greenlet never blocked again.
            if !green_runtime::is_timeout(payload.as_ref()) {
                panic::resume_unwind(payload);
            }
        }
        done
    }

    /// Waits until a read would not block, as a read would wait (the read
    /// timeout applies and gives `WouldBlock`), without reading. In
    /// non-blocking mode it never waits: it asks the kernel (`poll` with a
    /// zero timeout) and gives `WouldBlock` if nothing is there. The hub's
    /// cached readiness cannot answer that: a non-blocking user may never
    /// let the hub poll, or have no hub at all. Spends a unit of the
    /// fairness budget, like every green operation.
    pub(crate) fn wait_readable(&self) -> io::Result<()> {
        if self.is_nonblocking() {
            return poll_readable_now(self.reg.fd());
        }
        green_runtime::consume_budget();
        let t = self.mode().read_timeout.load(Ordering::Relaxed);
        if t == NO_TIMEOUT {
            return self.reg.wait_event(Direction::Read, None);
        }
        with_deadline(t, |deadline| self.reg.wait_event(Direction::Read, deadline))
    }

    /// Inlined, with the rare modes out of line, so that between the
    /// user's `read`/`write` and the park there is one stack frame: at
    /// many connections every frame on that path is a cold cache line
    /// after each wake-up.
    #[inline(always)]
    fn io<R>(&self, dir: Direction, op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        let m = self.mode();
        if m.nonblocking.load(Ordering::Relaxed) {
            return io_nonblocking(op);
        }
        let t = match dir {
            Direction::Read => &m.read_timeout,
            Direction::Write => &m.write_timeout,
        }
        .load(Ordering::Relaxed);
        if t == NO_TIMEOUT {
            return self.reg.io(dir, None, op);
        }
        self.io_timed(dir, t, op)
    }

    /// [`io`](Self::io) with a timeout of `t` nanoseconds.
    #[cold]
    #[inline(never)]
    fn io_timed<R>(
        &self,
        dir: Direction,
        t: u64,
        op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        with_deadline(t, |deadline| self.reg.io(dir, deadline, op))
    }

    /// A write-side operation whose `WouldBlock` may have no readiness
    /// event to wait for, retried after a green sleep of `backoff.0`
    /// doubling to `backoff.1` instead of a wait for the hub's edge; the
    /// write timeout applies (`WouldBlock` when it expires). For a Unix
    /// datagram sent to a receiver whose queue is full: the kernel wakes
    /// only a *connected* sender when that queue drains, and each failed
    /// send raises a writable edge on the sender by itself, so waiting
    /// for edges would busy-wait until the receiver reads.
    pub(crate) fn write_backoff<R>(
        &self,
        backoff: (Duration, Duration),
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        if self.is_nonblocking() {
            return io_nonblocking(op);
        }
        green_runtime::consume_budget();
        let t = self.mode().write_timeout.load(Ordering::Relaxed);
        let deadline = deadline_in(t);
        let mut pause = backoff.0;
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let nap = match deadline {
                        None => pause,
                        Some(d) => match d.checked_duration_since(Instant::now()) {
                            Some(left) if !left.is_zero() => pause.min(left),
                            _ => return Err(timed_out()),
                        },
                    };
                    green_runtime::sleep(nap);
                    pause = (pause * 2).min(backoff.1);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// Records a timeout already validated and stored in the kernel by the
    /// std socket's own setter.
    /// Shared with the clones, as the kernel's value is.
    pub(crate) fn store_timeout(&self, dir: Direction, d: Option<Duration>) {
        let _g = self.setting();
        let m = self.mode();
        let slot = match dir {
            Direction::Read => &m.read_timeout,
            Direction::Write => &m.write_timeout,
        };
        slot.store(encode(d), Ordering::Relaxed);
    }

    /// `set_nonblocking` as std has it: operations return `WouldBlock`
    /// instead of parking. Shared with the clones, as `O_NONBLOCK` is.
    pub(crate) fn set_nonblocking(&self, nonblocking: bool) {
        let _g = self.setting();
        self.mode()
            .nonblocking
            .store(nonblocking, Ordering::Relaxed);
    }

    /// The registration, for waits that are not a retried operation
    /// (a connect in progress).
    pub(crate) fn reg(&self) -> &Registration {
        &self.reg
    }

    /// True if the user asked for non-blocking mode.
    #[inline(always)]
    pub(crate) fn is_nonblocking(&self) -> bool {
        self.mode().nonblocking.load(Ordering::Relaxed)
    }
}

/// The deadline of a timeout of `t` nanoseconds (as stored), from now:
/// `None` for no timeout, or one too far to represent.
fn deadline_in(t: u64) -> Option<Instant> {
    if t == NO_TIMEOUT {
        return None;
    }
    Instant::now().checked_add(Duration::from_nanos(t))
}

/// Runs a green wait with a deadline `t` nanoseconds from now, and gives
/// its expiry as std does (`timed_out`). A `TimedOut` that comes from the
/// operation itself, before the deadline, is passed through.
fn with_deadline<R>(t: u64, wait: impl FnOnce(Option<Instant>) -> io::Result<R>) -> io::Result<R> {
    let deadline = deadline_in(t);
    match wait(deadline) {
        Err(e)
            if e.kind() == io::ErrorKind::TimedOut
                && deadline.is_some_and(|d| Instant::now() >= d) =>
        {
            Err(timed_out())
        }
        r => r,
    }
}

/// `Ok` if a read on `fd` would not block now (data, EOF, an error),
/// `WouldBlock` otherwise; never waits.
#[cold]
fn poll_readable_now(fd: std::os::fd::RawFd) -> io::Result<()> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    loop {
        // SAFETY: `p` is one valid, initialised pollfd that outlives the
        // call; a zero timeout means the call does not block.
        let r = unsafe { libc::poll(&mut p, 1, 0) };
        if r >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    if p.revents != 0 {
        Ok(())
    } else {
        Err(io::Error::from(io::ErrorKind::WouldBlock))
    }
}

/// std semantics of a non-blocking socket: no waiting at all.
#[cold]
#[inline(never)]
fn io_nonblocking<R>(mut op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// Waits for a non-blocking `connect` in progress to finish, then reports
/// its outcome (`SO_ERROR`), as a blocking `connect` would.
pub(crate) fn finish_connect<S: AsFd>(s: &Sock<S>, deadline: Option<Instant>) -> io::Result<()> {
    loop {
        match s.reg().wait_ready(Direction::Write, deadline) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out",
                ))
            }
            Err(e) => return Err(e),
        }
        let r = SockRef::from(&s.sock);
        if let Some(e) = r.take_error()? {
            return Err(e);
        }
        match r.peer_addr() {
            Ok(_) => return Ok(()),
            // Still in progress (the readiness was the initial assumption
            // or a spurious wake-up): wait for the real edge.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                s.reg().clear_readiness(Direction::Write);
            }
            Err(e) => return Err(e),
        }
    }
}

/// What a short read says about a stream socket's receive buffer.
pub(crate) trait StreamSocket {
    /// True if a read that returned fewer bytes than asked for (and more
    /// than none) has emptied the receive buffer, so the next read can wait
    /// for the hub's edge without trying (see [`Sock::read_stream`]).
    ///
    /// TCP: yes, but for a read that stops at the urgent mark, which the
    /// runtime handles (a socket that has had urgent data keeps its read
    /// readiness). Unix streams: no. A read stops after a segment that
    /// carried descriptors (`SCM_RIGHTS`, closed by a plain read), and
    /// between segments of different senders when `SO_PASSCRED` is set,
    /// with more data queued and no edge to come; nothing tells such a
    /// read from a draining one, so every Unix read tries until
    /// `WouldBlock`.
    const SHORT_READ_DRAINS: bool;
}

impl StreamSocket for std::net::TcpStream {
    const SHORT_READ_DRAINS: bool = true;
}

impl StreamSocket for std::os::unix::net::UnixStream {
    const SHORT_READ_DRAINS: bool = false;
}

impl<S: AsFd + StreamSocket> Sock<S> {
    /// A read on a stream socket, with the short-read rule: a read that
    /// returned fewer bytes than asked for (and more than none) drained the
    /// receive buffer, so the read side is marked not ready and the next
    /// read waits for the hub's event instead of making a syscall that
    /// would only return `EAGAIN`. Any data that arrives later raises a new
    /// edge; a FIN or error that arrived together with the data is kept by
    /// the runtime as sticky "read closed" readiness, which clearing does
    /// not touch, so the EOF is still seen.
    #[inline(always)]
    pub(crate) fn read_stream(
        &self,
        want: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        let n = self.read(op)?;
        self.short_read_rule(want, n);
        Ok(n)
    }

    /// The short-read rule of [`read_stream`](Self::read_stream), for a
    /// read of `n` bytes where `want` were asked for.
    #[inline(always)]
    fn short_read_rule(&self, want: usize, n: usize) {
        if S::SHORT_READ_DRAINS && n > 0 && n < want && !self.is_nonblocking() {
            self.reg.clear_readiness(Direction::Read);
        }
    }

    /// One read attempt on a stream socket that never waits: `WouldBlock`
    /// if nothing is there. Keeps the readiness bookkeeping of
    /// [`read_stream`](Self::read_stream), short-read rule included, so a
    /// following [`wait_readable`](Self::wait_readable) parks exactly when
    /// a read would.
    pub(crate) fn try_read_stream(
        &self,
        want: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        let n = self.reg.try_io(Direction::Read, op)?;
        self.short_read_rule(want, n);
        Ok(n)
    }
}

/// `Read` and `Write` for a green stream type and for `&` it, as std has
/// for its streams, plus `Debug` showing the std socket. Reads apply the
/// short-read rule ([`Sock::read_stream`]); writes send the whole buffer
/// as a blocking socket does ([`Sock::write_stream`]), with
/// `MSG_NOSIGNAL`, so a closed peer gives `BrokenPipe`, never `SIGPIPE`.
macro_rules! stream_read_write {
    ($t:ty) => {
        impl Read for &$t {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let s = &self.inner;
                s.read_stream(buf.len(), || (&s.sock).read(buf))
            }

            fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
                let s = &self.inner;
                let want = bufs.iter().map(|b| b.len()).sum();
                s.read_stream(want, || (&s.sock).read_vectored(bufs))
            }
        }

        impl Write for &$t {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let s = &self.inner;
                s.write_stream(buf, |b| {
                    SockRef::from(&s.sock).send_with_flags(b, libc::MSG_NOSIGNAL)
                })
            }

            fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                let s = &self.inner;
                s.write_stream_vectored(bufs, |b| {
                    SockRef::from(&s.sock).send_vectored_with_flags(b, libc::MSG_NOSIGNAL)
                })
            }

            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }

        impl $crate::io::TryRead for &$t {
            fn readable(&mut self) -> io::Result<()> {
                <$t>::readable(self)
            }

            fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                <$t>::try_read(self, buf)
            }
        }

        impl $crate::io::TryRead for $t {
            fn readable(&mut self) -> io::Result<()> {
                <$t>::readable(self)
            }

            fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                <$t>::try_read(self, buf)
            }
        }

        impl Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                (&*self).read(buf)
            }

            fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }

        impl Write for $t {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                (&*self).write(buf)
            }

            fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                (&*self).write_vectored(bufs)
            }

            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.inner.sock, f)
            }
        }
    };
}
pub(crate) use stream_read_write;

/// The four timeout methods std's sockets share (`set_read_timeout`,
/// `set_write_timeout`, `read_timeout`, `write_timeout`), for an `impl`
/// block of a type whose `inner` is a [`Sock`]: the kernel keeps the value
/// (so the getters and `into_std` match std) and the green wait uses it.
macro_rules! timeout_methods {
    () => {
        /// Sets the read timeout: a read that waits longer gives `WouldBlock`.
        /// `None` waits for ever.
        ///
        /// # Errors
        /// `InvalidInput` for `Some(Duration::ZERO)`, as std.
        pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
            self.inner.sock.set_read_timeout(dur)?;
            self.inner.store_timeout(Direction::Read, dur);
            Ok(())
        }

        /// Sets the write timeout: a write that waits longer gives
        /// `WouldBlock`. `None` waits for ever.
        ///
        /// # Errors
        /// `InvalidInput` for `Some(Duration::ZERO)`, as std.
        pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
            self.inner.sock.set_write_timeout(dur)?;
            self.inner.store_timeout(Direction::Write, dur);
            Ok(())
        }

        /// The read timeout, as the kernel reports it (like std).
        pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
            self.inner.sock.read_timeout()
        }

        /// The write timeout, as the kernel reports it (like std).
        pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
            self.inner.sock.write_timeout()
        }
    };
}
pub(crate) use timeout_methods;

/// `readable` and `try_read` as inherent methods of a green stream type
/// (the names tokio uses), for an `impl` block of a type whose `inner` is
/// a [`Sock`]; the same operations as its [`TryRead`](crate::io::TryRead)
/// impl.
macro_rules! try_read_methods {
    () => {
        /// Waits until a read would not block (data, EOF or an error is
        /// there) without reading, parking only the calling greenlet. The
        /// read timeout applies (`WouldBlock` when it expires); in
        /// non-blocking mode it never waits and gives `WouldBlock` if
        /// nothing is there now.
        pub fn readable(&self) -> io::Result<()> {
            self.inner.wait_readable()
        }

        /// Reads what is there without waiting: `WouldBlock` if nothing
        /// is, `Ok(0)` at EOF. After a `WouldBlock`, [`readable`](Self::readable)
        /// waits for new data.
        pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
            let s = &self.inner;
            s.try_read_stream(buf.len(), || (&s.sock).read(buf))
        }
    };
}
pub(crate) use try_read_methods;
