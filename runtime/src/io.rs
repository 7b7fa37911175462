//! Readiness: how a file descriptor waits greenly.
//!
//! A descriptor is registered with its hub's `mio::Poll` once, for both
//! directions, edge-triggered, the first time an operation on it would
//! block. The hub keeps a [`Source`] record per registration: a cached
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Interest, Token};
use parking_lot::Mutex;

use crate::greenlet::Wait;
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
    pub(crate) readers: Vec<Key>,
    pub(crate) writers: Vec<Key>,
}

/// Where a registration lives now.
#[derive(Debug)]
struct Binding {
    hub: Arc<HubShared>,
    key: Key,
}

/// The green side of one file descriptor: registers it with the hub of the
/// thread that first has to wait on it, and moves it if it is later used
/// from another thread. `Send + Sync`, so the socket that owns it can be.
///
/// The owner must drop the `Registration` *before* closing the descriptor
/// (declare it first among the fields), so the descriptor leaves the poll
/// while it still exists.
#[derive(Debug)]
pub struct Registration {
    fd: RawFd,
    /// Id of the hub it is registered with, 0 if none (fast-path check).
    hub_id: AtomicU64,
    /// Its key in that hub's source slab.
    key: AtomicU64,
    binding: Mutex<Option<Binding>>,
}

impl Registration {
    /// A registration for `fd`, which must be in non-blocking mode. Nothing
    /// is registered until an operation would block.
    pub fn new(fd: RawFd) -> Registration {
        Registration {
            fd,
            hub_id: AtomicU64::new(0),
            key: AtomicU64::new(0),
            binding: Mutex::new(None),
        }
    }

    /// The descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Key of the record on `hub`, if registered there.
    fn key_on(&self, hub: &Hub) -> Option<Key> {
        if self.hub_id.load(Ordering::Acquire) == hub.shared.id {
            Some(Key::from_u64(self.key.load(Ordering::Relaxed)))
        } else {
            None
        }
    }

    /// Registers with `hub`, moving the registration from another hub if
    /// needed.
    fn bind(&self, hub: &Hub) -> io::Result<Key> {
        if let Some(k) = self.key_on(hub) {
            return Ok(k);
        }
        let mut b = self.binding.lock();
        if let Some(old) = b.take() {
            self.hub_id.store(0, Ordering::Release);
            // Deregistering works from any thread; the old hub drops its
            // record (and wakes its waiters, who re-register where they
            // run) when it reads the message.
            let _ = old.hub.registry.deregister(&mut SourceFd(&self.fd));
            old.hub.send(Message::Deregister(old.key));
        }
        let key = hub.sources.borrow_mut().insert(Source {
            readable: true,
            writable: true,
            read_closed: false,
            write_closed: false,
            readers: Vec::new(),
            writers: Vec::new(),
        });
        let token = Token(key.to_u64() as usize);
        if let Err(e) = hub.shared.registry.register(
            &mut SourceFd(&self.fd),
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            hub.sources.borrow_mut().remove(key);
            return Err(e);
        }
        self.key.store(key.to_u64(), Ordering::Relaxed);
        self.hub_id.store(hub.shared.id, Ordering::Release);
        *b = Some(Binding {
            hub: hub.shared.clone(),
            key,
        });
        Ok(key)
    }

    /// Runs `op` until it does not return `WouldBlock`, parking the calling
    /// greenlet until `dir` is ready between attempts. `Interrupted` is
    /// retried. Gives `TimedOut` once `deadline` has passed.
    ///
    /// Each call spends one unit of the fairness budget first (see
    /// [`consume_budget`]), so a socket that is always ready still lets the
    /// other greenlets run.
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
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let k = self.bind(hub)?;
                    set_ready(hub, k, dir, false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Parks until `dir` is ready (or the deadline passes), without trying
    /// any operation first; for a non-blocking `connect` in progress.
    pub fn wait_ready(&self, dir: Direction, deadline: Option<Instant>) -> io::Result<()> {
        let hub = hub();
        let k = self.bind(hub)?;
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
    /// last data produces no further event, so the next read must try.
    pub fn clear_readiness(&self, dir: Direction) {
        if let Some(hub) = try_hub() {
            if let Some(k) = self.key_on(hub) {
                if let Some(s) = hub.sources.borrow_mut().get_mut(k) {
                    match dir {
                        Direction::Read if !s.read_closed => s.readable = false,
                        Direction::Write if !s.write_closed => s.writable = false,
                        _ => {}
                    }
                }
            }
        }
    }

    #[inline]
    fn wait(&self, hub: &Hub, k: Key, dir: Direction, deadline: Option<Instant>) -> io::Result<()> {
        let me = hub.current();
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
            me: Key,
        }
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.hub.io_waiters.set(self.hub.io_waiters.get() - 1);
                let mut sources = self.hub.sources.borrow_mut();
                if let Some(src) = sources.get_mut(self.k) {
                    let list = match self.dir {
                        Direction::Read => &mut src.readers,
                        Direction::Write => &mut src.writers,
                    };
                    if let Some(i) = list.iter().position(|w| *w == self.me) {
                        list.swap_remove(i);
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
        let Some(b) = self.binding.get_mut().take() else {
            return;
        };
        let _ = b.hub.registry.deregister(&mut SourceFd(&self.fd));
        match try_hub() {
            Some(h) if h.shared.id == b.hub.id => remove_source(h, b.key),
            _ => b.hub.send(Message::Deregister(b.key)),
        }
    }
}

fn is_ready(hub: &Hub, k: Key, dir: Direction) -> bool {
    hub.sources.borrow().get(k).is_none_or(|s| match dir {
        Direction::Read => s.readable,
        Direction::Write => s.writable,
    })
}

fn set_ready(hub: &Hub, k: Key, dir: Direction, ready: bool) {
    if let Some(s) = hub.sources.borrow_mut().get_mut(k) {
        match dir {
            Direction::Read => s.readable = ready,
            Direction::Write => s.writable = ready,
        }
    }
}

/// Drops a source record, waking whoever still waits on it so they retry
/// (and re-register on their own hub if the descriptor moved).
pub(crate) fn remove_source(hub: &Hub, k: Key) {
    let removed = hub.sources.borrow_mut().remove(k);
    if let Some(src) = removed {
        for w in src.readers.into_iter().chain(src.writers) {
            hub.unpark(w);
        }
    }
}
