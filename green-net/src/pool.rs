//! The per-thread pool of I/O buffers that [`copy`](crate::io::copy) and
//! [`BufReader`](crate::io::BufReader) read into.
//!
//! A greenlet parked in a read holds no buffer: it takes one from the pool
//! only once the socket is readable and gives it back before it parks
//! again. A thousand idle connections then cost no buffer memory, and the
//! few buffers in use are the same hot ones, taken last-in first-out, so the
//! data lands in lines and pages the CPU has just touched instead of a
//! buffer on each greenlet's own, cold, stack.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Size of a pooled buffer. A buffer per connection is kept small because
/// there are as many as connections; a pooled one is shared by all of
/// them, so it can be as large as one read can usefully fill: a 16 KiB
/// message then arrives in one read that comes back short (so the
/// `EAGAIN` read is skipped) and leaves in one write, where 8 KiB would
/// take two of each and an `EAGAIN` read (measured in
/// `docs/PERFORMANCE.md`).
pub(crate) const BUF_SIZE: usize = 64 * 1024;

/// Buffers kept for reuse per thread (1 MiB); more than this many given
/// back at once (greenlets that all blocked in a write while holding one)
/// are freed, so a burst does not pin its memory for ever.
const MAX_SPARE: usize = 16;

thread_local! {
    static SPARE: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of [`BUF_SIZE`] bytes taken from this thread's pool, given back
/// when dropped (also when a kill unwinds the greenlet holding it).
pub(crate) struct PooledBuf {
    buf: Box<[u8]>,
}

impl PooledBuf {
    /// The most recently returned buffer, or a new one.
    #[inline]
    pub(crate) fn take() -> PooledBuf {
        let reused = SPARE
            .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
            .ok()
            .flatten();
        PooledBuf {
            buf: reused.unwrap_or_else(|| vec![0; BUF_SIZE].into_boxed_slice()),
        }
    }
}

impl PooledBuf {
    /// Replaces the buffer by one twice as large holding the same bytes,
    /// for a message larger than a pooled buffer. The larger buffer is
    /// freed, not pooled, when dropped.
    pub(crate) fn grow(&mut self) {
        let mut bigger = vec![0; self.buf.len().saturating_mul(2)].into_boxed_slice();
        bigger[..self.buf.len()].copy_from_slice(&self.buf);
        // The old buffer goes back to the pool through a temporary guard.
        drop(PooledBuf {
            buf: std::mem::replace(&mut self.buf, bigger),
        });
    }
}

impl Drop for PooledBuf {
    #[inline]
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.len() != BUF_SIZE {
            return; // grown for one large message: not worth keeping
        }
        // During thread teardown the pool may be gone: the buffer is freed.
        let _ = SPARE.try_with(|s| {
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
        let a = PooledBuf::take();
        let pa = a.as_ptr();
        let b = PooledBuf::take();
        let pb = b.as_ptr();
        assert_ne!(pa, pb);
        assert_eq!(a.len(), BUF_SIZE);
        drop(a);
        drop(b);
        // b went back last, so it comes out first.
        assert_eq!(PooledBuf::take().as_ptr(), pb);
    }

    #[test]
    fn grown_buffer_keeps_its_bytes_and_is_not_pooled() {
        let mut a = PooledBuf::take();
        a[..3].copy_from_slice(b"abc");
        let old = a.as_ptr();
        a.grow();
        assert_eq!(a.len(), 2 * BUF_SIZE);
        assert_eq!(&a[..3], b"abc");
        // The small one went back to the pool; the large one will not.
        let b = PooledBuf::take();
        assert_eq!(b.as_ptr(), old);
        let before = SPARE.with(|s| s.borrow().len());
        drop(a);
        assert_eq!(SPARE.with(|s| s.borrow().len()), before);
    }

    #[test]
    fn pool_keeps_at_most_max_spare() {
        let held: Vec<_> = (0..MAX_SPARE + 10).map(|_| PooledBuf::take()).collect();
        drop(held);
        assert_eq!(SPARE.with(|s| s.borrow().len()), MAX_SPARE);
    }
}
