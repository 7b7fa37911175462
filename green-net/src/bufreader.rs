//! [`BufReader`]: std's `BufReader` for green sockets, holding a buffer
//! only while it has data.

use std::fmt;
use std::io::{self, BufRead, Read};

use crate::io::{overlong_read, TryRead};
use crate::pool::{PooledBuf, READ_BUF};

/// Adds buffering to a green socket: [`std::io::BufReader`] whose buffer
/// is borrowed from a per-thread pool only while it holds unread bytes.
///
/// std's `BufReader` owns an 8 KiB buffer for its whole life. A server of
/// a thousand connections, each reading requests through one, keeps a
/// thousand buffers, and each wake-up reads into a cold one. This one
/// gives its buffer back as soon as everything in it was consumed, and
/// waits for the next data holding none ([`TryRead::readable`]); it then
/// borrows the most recently returned buffer, one the CPU has just
/// touched.
///
/// It implements [`BufRead`] and [`Read`] (so `read_line`, `lines`,
/// `read_until`, `read_exact` work as with std), and [`TryRead`], so
/// [`copy`](crate::io::copy) can continue from it after a header was
/// read. [`fill_more`](Self::fill_more) appends to what is buffered, for
/// parsers that need a whole message in one slice (an HTTP request head).
///
/// ```
/// use std::io::{BufRead, Write};
/// use green_net::{io::BufReader, TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let client = green_runtime::spawn(move || -> std::io::Result<()> {
///     let mut s = TcpStream::connect(addr)?;
///     s.write_all(b"first line\nsecond line\n")
/// });
/// let (conn, _) = listener.accept()?;
/// let mut lines = BufReader::new(&conn).lines();
/// assert_eq!(lines.next().unwrap()?, "first line");
/// assert_eq!(lines.next().unwrap()?, "second line");
/// assert!(lines.next().is_none()); // EOF
/// client.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct BufReader<R> {
    inner: R,
    /// `Some` exactly while `pos < filled`, except within a method.
    buf: Option<PooledBuf>,
    pos: usize,
    filled: usize,
}

impl<R> BufReader<R> {
    /// Wraps `inner`; no buffer is taken until data arrives.
    pub fn new(inner: R) -> BufReader<R> {
        BufReader {
            inner,
            buf: None,
            pos: 0,
            filled: 0,
        }
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying reader. Reading from it directly skips what is
    /// buffered.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The bytes buffered and not yet consumed.
    pub fn buffer(&self) -> &[u8] {
        match &self.buf {
            Some(b) => &b[self.pos..self.filled],
            None => &[],
        }
    }

    /// Size of the buffer data is read into: a pooled buffer's 8 KiB, or
    /// more after [`fill_more`](Self::fill_more) grew it.
    pub fn capacity(&self) -> usize {
        self.buf.as_ref().map_or(READ_BUF, |b| b.len())
    }

    /// Unwraps the reader. As with std, bytes still buffered are lost.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Gives the buffer back once everything in it is consumed.
    fn release_if_drained(&mut self) {
        if self.pos >= self.filled {
            self.buf = None;
            self.pos = 0;
            self.filled = 0;
        }
    }
}

impl<R: TryRead> BufReader<R> {
    /// Waits for more data and appends it to the bytes already buffered;
    /// returns how many arrived, `0` at EOF. Consumed bytes are dropped
    /// from the front to make room, and a full buffer is doubled, so the
    /// caller bounds how large a message it accepts (as with a `Vec`).
    ///
    /// With nothing buffered, it waits holding no buffer.
    pub fn fill_more(&mut self) -> io::Result<usize> {
        loop {
            self.release_if_drained();
            self.inner.readable()?;
            let (pos, filled) = (self.pos, self.filled);
            let buf = self.buf.get_or_insert_with(|| PooledBuf::take(READ_BUF));
            if pos > 0 {
                buf.copy_within(pos..filled, 0);
                self.filled -= pos;
                self.pos = 0;
            }
            if self.filled == buf.len() {
                buf.grow();
            }
            let room = buf.len() - self.filled;
            match self.inner.try_read(&mut buf[self.filled..]) {
                Ok(n) if n > room => {
                    self.release_if_drained();
                    return Err(overlong_read());
                }
                Ok(n) => {
                    self.filled += n;
                    self.release_if_drained();
                    return Ok(n);
                }
                // A guessed or spurious readiness, now cleared: wait again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    self.release_if_drained();
                    return Err(e);
                }
            }
        }
    }
}

impl<R: TryRead> BufRead for BufReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.filled {
            self.fill_more()?;
        }
        Ok(self.buffer())
    }

    fn consume(&mut self, amt: usize) {
        self.pos = self.pos.saturating_add(amt).min(self.filled);
        self.release_if_drained();
    }
}

impl<R: TryRead> Read for BufReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // Nothing buffered and a large read: straight into the caller's
        // buffer, as std's `BufReader` does.
        if self.pos >= self.filled && out.len() >= READ_BUF {
            loop {
                self.inner.readable()?;
                match self.inner.try_read(out) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    r => return r,
                }
            }
        }
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(out.len());
            out[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

/// Buffered bytes first, then the reader's own.
impl<R: TryRead> TryRead for BufReader<R> {
    fn readable(&mut self) -> io::Result<()> {
        if self.pos < self.filled {
            return Ok(());
        }
        self.inner.readable()
    }

    fn try_read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.filled {
            return self.inner.try_read(out);
        }
        let avail = self.buffer();
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: fmt::Debug> fmt::Debug for BufReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufReader")
            .field("reader", &self.inner)
            .field("buffered", &(self.filled - self.pos))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, Write};

    use super::BufReader;
    use crate::unix::UnixStream;

    /// The buffer is held exactly while unconsumed bytes are in it.
    #[test]
    fn holds_a_buffer_only_while_it_has_data() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut r = BufReader::new(&b);
        assert!(r.buf.is_none());
        a.write_all(b"abc").unwrap();
        assert_eq!(r.fill_buf().unwrap(), b"abc");
        assert!(r.buf.is_some());
        r.consume(2);
        assert!(r.buf.is_some());
        r.consume(1);
        assert!(r.buf.is_none(), "given back once drained");
        drop(a);
        assert_eq!(r.fill_more().unwrap(), 0);
        assert!(r.buf.is_none(), "nothing held at EOF");
    }
}
