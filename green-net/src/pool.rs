//! The per-thread pool of I/O buffers that [`copy`](crate::io::copy) and
//! [`BufReader`](crate::io::BufReader) read into.
//!
//! A greenlet parked in a read holds no buffer: it takes one from the pool
//! only once the socket is readable and gives it back before it parks
//! again (a `BufReader` keeps its buffer while a message is incomplete). A
//! thousand idle connections then cost no buffer memory, and the few
//! buffers in use are the same hot ones, taken last-in first-out, so the
//! data lands in lines and pages the CPU has just touched instead of a
//! buffer on each greenlet's own, cold, stack.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::thread::LocalKey;

/// Size of a [`copy`](crate::io::copy) buffer. A buffer per connection is
/// kept small because there are as many as connections; a pooled one is
/// shared by all of them, so it can be as large as one read can usefully
/// fill: a 16 KiB message then arrives in one read that comes back short
/// (so the `EAGAIN` read is skipped) and leaves in one write, where 8 KiB
/// would take two of each and an `EAGAIN` read (measured in
/// `docs/PERFORMANCE.md`). `copy` holds it only between a read and the
/// end of the write of what was read.
pub(crate) const COPY_BUF: usize = 64 * 1024;

/// Size of a [`BufReader`](crate::io::BufReader) buffer, std's. A reader
/// keeps its buffer while a message is incomplete, so a client that sends
/// a few bytes and stops pins one: it should cost what std's `BufReader`
/// does, not a copy buffer.
pub(crate) const READ_BUF: usize = 8 * 1024;

/// Buffers of each size kept for reuse per thread (1 MiB of copy
/// buffers, 128 KiB of reader buffers); more than this many given back at
/// once (greenlets that all blocked while holding one) are freed, so a
/// burst does not pin its memory for ever.
const MAX_SPARE: usize = 16;

type Spare = RefCell<Vec<Box<[u8]>>>;

thread_local! {
    static SPARE_COPY: Spare = const { RefCell::new(Vec::new()) };
    static SPARE_READ: Spare = const { RefCell::new(Vec::new()) };
}

/// The spare list for buffers of `len` bytes, if that is a pooled size.
fn spare_for(len: usize) -> Option<&'static LocalKey<Spare>> {
    match len {
        COPY_BUF => Some(&SPARE_COPY),
        READ_BUF => Some(&SPARE_READ),
        _ => None,
    }
}

/// A buffer taken from this thread's pool, given back when dropped (also
/// when a kill unwinds the greenlet holding it).
pub(crate) struct PooledBuf {
    buf: Box<[u8]>,
}

impl PooledBuf {
    /// The most recently returned buffer of `len` bytes ([`COPY_BUF`] or
    /// [`READ_BUF`]), or a new one.
    #[inline]
    pub(crate) fn take(len: usize) -> PooledBuf {
        let reused = spare_for(len).and_then(|spare| {
            spare
                .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
                .ok()
                .flatten()
        });
        PooledBuf {
            buf: reused.unwrap_or_else(|| vec![0; len].into_boxed_slice()),
        }
    }

    /// Replaces the buffer by one twice as large holding the same bytes,
    /// for a message larger than the buffer. The old one goes back to the
    /// pool; the larger one is pooled when dropped only if it is of a
    /// pooled size.
    pub(crate) fn grow(&mut self) {
        let mut bigger = vec![0; self.buf.len().saturating_mul(2)].into_boxed_slice();
        bigger[..self.buf.len()].copy_from_slice(&self.buf);
        drop(PooledBuf {
            buf: std::mem::replace(&mut self.buf, bigger),
        });
    }
}

impl Drop for PooledBuf {
    #[inline]
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let Some(spare) = spare_for(buf.len()) else {
            return; // grown for one large message: not worth keeping
        };
        // During thread teardown the pool may be gone: the buffer is freed.
        let _ = spare.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                if s.len() < MAX_SPARE {
                    s.push(buf);
                }
            }
        });
    }
}

impl Deref for PooledBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl DerefMut for PooledBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returned_buffer_is_reused_lifo() {
        let a = PooledBuf::take(COPY_BUF);
        let pa = a.as_ptr();
        let b = PooledBuf::take(COPY_BUF);
        let pb = b.as_ptr();
        assert_ne!(pa, pb);
        assert_eq!(a.len(), COPY_BUF);
        drop(a);
        drop(b);
        // b went back last, so it comes out first.
        assert_eq!(PooledBuf::take(COPY_BUF).as_ptr(), pb);
    }

    #[test]
    fn sizes_are_pooled_apart() {
        let r = PooledBuf::take(READ_BUF);
        assert_eq!(r.len(), READ_BUF);
        let pr = r.as_ptr();
        drop(r);
        let c = PooledBuf::take(COPY_BUF);
        assert_ne!(c.as_ptr(), pr, "a copy buffer is never a reader's");
        assert_eq!(c.len(), COPY_BUF);
        assert_eq!(PooledBuf::take(READ_BUF).as_ptr(), pr);
    }

    #[test]
    fn grown_buffer_keeps_its_bytes_and_only_pooled_sizes_return() {
        let mut a = PooledBuf::take(READ_BUF);
        a[..3].copy_from_slice(b"abc");
        let old = a.as_ptr();
        a.grow();
        assert_eq!(a.len(), 2 * READ_BUF);
        assert_eq!(&a[..3], b"abc");
        // The small one went back to the pool; a 16 KiB one will not.
        let b = PooledBuf::take(READ_BUF);
        assert_eq!(b.as_ptr(), old);
        let before = SPARE_READ.with(|s| s.borrow().len()) + SPARE_COPY.with(|s| s.borrow().len());
        drop(a);
        let after = SPARE_READ.with(|s| s.borrow().len()) + SPARE_COPY.with(|s| s.borrow().len());
        assert_eq!(after, before);
    }

    #[test]
    fn pool_keeps_at_most_max_spare() {
        let held: Vec<_> = (0..MAX_SPARE + 10)
            .map(|_| PooledBuf::take(COPY_BUF))
            .collect();
        drop(held);
        assert_eq!(SPARE_COPY.with(|s| s.borrow().len()), MAX_SPARE);
    }
}
