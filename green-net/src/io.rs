//! Green I/O helpers beyond `std::io`: [`copy`], which parks without
//! holding a buffer, [`BufReader`], which holds one only while it has
//! unread bytes, and the [`TryRead`] trait they are built on.

use std::io::{self, Write};

use crate::pool::{PooledBuf, COPY_BUF};

pub use crate::bufreader::BufReader;

/// A reader that can wait for data without reading it, then read without
/// waiting: what a green stream socket offers besides `Read`.
///
/// Splitting the wait from the read lets the caller choose where the
/// bytes go only once there are some, as [`copy`] does with a pooled
/// buffer. Implemented for [`TcpStream`](crate::TcpStream) and
/// [`UnixStream`](crate::unix::UnixStream) and for `&` each, like `Read`.
pub trait TryRead {
    /// Waits until a read would not block (data, EOF or an error is
    /// there), parking only the calling greenlet. The read timeout applies
    /// and gives `WouldBlock`, as it does for `read`. In non-blocking mode it
    /// never waits: `WouldBlock` if nothing is there now.
    fn readable(&mut self) -> io::Result<()>;

    /// Reads what is there without waiting, as a read on a non-blocking
    /// socket would: `WouldBlock` if nothing is, `Ok(0)` at EOF.
    ///
    /// `buf` may be a pooled buffer that still holds bytes of an earlier
    /// read (of any connection of the thread): an implementation writes
    /// into it and returns how much it wrote, as `Read::read` must.
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

impl<T: TryRead + ?Sized> TryRead for &mut T {
    fn readable(&mut self) -> io::Result<()> {
        (**self).readable()
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).try_read(buf)
    }
}

/// Copies everything `reader` sends to `writer` until EOF and returns the
/// number of bytes copied: [`std::io::copy`] for green sockets, with the
/// same signature and errors.
///
/// Where std's `copy` keeps an 8 KiB buffer on the calling greenlet's
/// stack for as long as the copy lasts, this one waits for data holding no
/// buffer at all and borrows one (64 KiB, shared by every connection of
/// the thread) from a per-thread pool only to move the bytes that
/// arrived. A server with a thousand echoing connections then touches a
/// few hot buffers instead of a thousand cold stack pages (see
/// `docs/PERFORMANCE.md`), and a parked connection's stack stays small.
///
/// A `WouldBlock` from a write (a writer in non-blocking mode) or from
/// the reader in non-blocking mode ends the copy with that error, as
/// with std; `Interrupted` is retried.
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::Shutdown;
/// use green_net::{io, TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let echo = green_runtime::spawn(move || -> std::io::Result<u64> {
///     let (conn, _) = listener.accept()?;
///     // The stream is both ends of the copy: an echo.
///     io::copy(&mut &conn, &mut &conn)
/// });
/// let mut client = TcpStream::connect(addr)?;
/// client.write_all(b"ping")?;
/// client.shutdown(Shutdown::Write)?;
/// let mut back = String::new();
/// client.read_to_string(&mut back)?;
/// assert_eq!(back, "ping");
/// assert_eq!(echo.join().unwrap()?, 4);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: TryRead + ?Sized,
    W: Write + ?Sized,
{
    let mut copied = 0u64;
    loop {
        reader.readable()?;
        let mut buf = PooledBuf::take(COPY_BUF);
        let n = match reader.try_read(&mut buf) {
            Ok(0) => return Ok(copied),
            Ok(n) if n > buf.len() => return Err(overlong_read()),
            Ok(n) => n,
            // Ready was a guess (never registered) or the event spurious:
            // the `WouldBlock` marked the socket drained, so `readable`
            // now waits for a real event.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(&buf[..n])?;
        copied += n as u64;
    }
}

/// What a [`TryRead`] implementation that claims more bytes than the
/// buffer holds gets, instead of a panic on slicing.
pub(crate) fn overlong_read() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "TryRead::try_read returned more bytes than the buffer holds",
    )
}
