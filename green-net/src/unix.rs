//! Unix domain sockets: green [`UnixStream`], [`UnixListener`] and
//! [`UnixDatagram`], method for method the ones in
//! [`std::os::unix::net`]. Also reachable as `green::net::unix`.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::{self as unet, SocketAddr};
use std::path::Path;
use std::time::Duration;

use green_runtime::Direction;
use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use crate::sock::{finish_connect, Sock};
use crate::tcp::fd_traits;

/// How long `connect` waits before retrying when the listener's backlog is
/// full (`EAGAIN`), at first and at most; also `UnixDatagram::send_to` when
/// the receiver's queue is full.
const BACKLOG_RETRY: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(50));

fn to_sockaddr(addr: &SocketAddr) -> io::Result<SockAddr> {
    if let Some(p) = addr.as_pathname() {
        return SockAddr::unix(p);
    }
    {
        use std::ffi::OsStr;
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        if let Some(name) = addr.as_abstract_name() {
            let mut bytes = Vec::with_capacity(name.len() + 1);
            bytes.push(0);
            bytes.extend_from_slice(name);
            return SockAddr::unix(OsStr::from_bytes(&bytes));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "cannot connect to an unnamed address",
    ))
}

/// A Unix stream socket; the green twin of
/// [`std::os::unix::net::UnixStream`].
///
/// ```
/// use std::io::{Read, Write};
/// use green_net::unix::UnixStream;
///
/// let (mut a, mut b) = UnixStream::pair()?;
/// let reader = green_runtime::spawn(move || {
///     let mut s = String::new();
///     b.read_to_string(&mut s).map(|_| s)
/// });
/// a.write_all(b"over the pair")?;
/// drop(a); // EOF for the reader
/// assert_eq!(reader.join().unwrap()?, "over the pair");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Notes
///
/// A connect to a listener whose backlog is full gets `EAGAIN` from a
/// non-blocking socket with no readiness event to wait for; `connect`
/// then sleeps greenly (1 ms, doubling to 50 ms) and retries, where a
/// blocking std connect would wait in the kernel.
pub struct UnixStream {
    inner: Sock<unet::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket named by `path`.
    ///
    /// # Errors
    /// As std (`NotFound`, `ConnectionRefused`, …).
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        // std's own check of the path (an interior NUL or one too long is
        // `InvalidInput`), so the kernel never sees a truncated path.
        let addr = SocketAddr::from_pathname(path)?;
        UnixStream::connect_addr(&addr)
    }

    /// Connects to the socket at `addr`.
    ///
    /// # Errors
    /// As std; `InvalidInput` for an unnamed address.
    pub fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        UnixStream::connect_sockaddr(&to_sockaddr(addr)?)
    }

    fn connect_sockaddr(addr: &SockAddr) -> io::Result<UnixStream> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        let mut backoff = BACKLOG_RETRY.0;
        let pending = loop {
            match socket.connect(addr) {
                Ok(()) => break false,
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => break true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    green_runtime::sleep(backoff);
                    backoff = (backoff * 2).min(BACKLOG_RETRY.1);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        let inner = Sock::from_nonblocking(unet::UnixStream::from(socket));
        if pending {
            finish_connect(&inner, None)?;
        }
        Ok(UnixStream { inner })
    }

    /// An unnamed pair of connected sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = unet::UnixStream::pair()?;
        Ok((
            UnixStream {
                inner: Sock::fresh(a)?,
            },
            UnixStream {
                inner: Sock::fresh(b)?,
            },
        ))
    }

    /// Wraps a std stream (see [`TcpStream::from_std`](crate::TcpStream::from_std)).
    ///
    /// # Errors
    /// If the descriptor's mode cannot be read or changed.
    pub fn from_std(stream: unet::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: Sock::adopt(stream)?,
        })
    }

    /// Gives back the std stream (see [`TcpStream::into_std`](crate::TcpStream::into_std)).
    ///
    /// # Errors
    /// If the descriptor's mode cannot be changed.
    pub fn into_std(self) -> io::Result<unet::UnixStream> {
        self.inner.into_inner()
    }

    /// A new handle to the same socket, with its own registration; the
    /// clones share the timeouts and the non-blocking mode, as std's do.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        let s = self.inner.clone_with(self.inner.sock.try_clone()?);
        Ok(UnixStream { inner: s })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.peer_addr()
    }

    crate::sock::timeout_methods!();

    crate::sock::try_read_methods!();

    /// With `true`, operations return `WouldBlock` instead of parking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Gets and clears `SO_ERROR`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.sock.take_error()
    }

    /// Shuts down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.sock.shutdown(how)
    }

    /// Receives data without removing it; parks until some is there.
    /// (Unstable in std, `unix_socket_peek`; provided here.)
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let s = &self.inner;
        s.read(|| {
            SockRef::from(&s.sock).peek(
                // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same
                // layout, and `peek` only writes initialised bytes into it.
                unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) },
            )
        })
    }
}

crate::sock::stream_read_write!(UnixStream);

/// A Unix listening socket; the green twin of
/// [`std::os::unix::net::UnixListener`].
///
/// ```
/// use std::io::{Read, Write};
/// use green_net::unix::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("green-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("listener.sock");
/// let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let p = path.clone();
/// let client = green_runtime::spawn(move || UnixStream::connect(p)?.write_all(b"hi"));
/// let (mut conn, _addr) = listener.accept()?;
/// let mut got = String::new();
/// conn.read_to_string(&mut got)?;
/// assert_eq!(got, "hi");
/// client.join().unwrap()?;
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener {
    inner: Sock<unet::UnixListener>,
}

impl UnixListener {
    /// Creates a listener bound to `path`.
    ///
    /// # Errors
    /// As std (`AddrInUse` if the path exists, …).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        Ok(UnixListener {
            inner: Sock::fresh(unet::UnixListener::bind(path)?)?,
        })
    }

    /// Creates a listener bound to `addr`.
    ///
    /// # Errors
    /// As std.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        Ok(UnixListener {
            inner: Sock::fresh(unet::UnixListener::bind_addr(addr)?)?,
        })
    }

    /// Wraps a std listener.
    ///
    /// # Errors
    /// If the descriptor's mode cannot be read or changed.
    pub fn from_std(listener: unet::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            inner: Sock::adopt(listener)?,
        })
    }

    /// Gives back the std listener.
    ///
    /// # Errors
    /// If the descriptor's mode cannot be changed.
    pub fn into_std(self) -> io::Result<unet::UnixListener> {
        self.inner.into_inner()
    }

    /// Accepts a connection, parking until one arrives.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let s = &self.inner;
        let (sock, _) =
            s.read(|| SockRef::from(&s.sock).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC))?;
        let stream = unet::UnixStream::from(sock);
        let addr = stream.peer_addr()?;
        Ok((
            UnixStream {
                inner: Sock::from_nonblocking(stream),
            },
            addr,
        ))
    }

    /// A new handle to the same socket; the clones share the
    /// non-blocking mode, as std's do.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        let s = self.inner.clone_with(self.inner.sock.try_clone()?);
        Ok(UnixListener { inner: s })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.local_addr()
    }

    /// With `true`, `accept` returns `WouldBlock` instead of parking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Gets and clears `SO_ERROR`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.sock.take_error()
    }

    /// An endless iterator over accepted connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner.sock, f)
    }
}

/// An endless iterator over the connections of a [`UnixListener`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|p| p.0))
    }
}

/// A Unix datagram socket; the green twin of
/// [`std::os::unix::net::UnixDatagram`].
///
/// ```
/// use green_net::unix::UnixDatagram;
///
/// let (a, b) = UnixDatagram::pair()?;
/// let rx = green_runtime::spawn(move || {
///     let mut buf = [0; 8];
///     b.recv(&mut buf).map(|n| buf[..n].to_vec())
/// });
/// a.send(b"dgram")?;
/// assert_eq!(rx.join().unwrap()?, b"dgram");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixDatagram {
    inner: Sock<unet::UnixDatagram>,
}

impl UnixDatagram {
    /// Creates a socket bound to `path`.
    ///
    /// # Errors
    /// As std.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            inner: Sock::fresh(unet::UnixDatagram::bind(path)?)?,
        })
    }

    /// Creates a socket bound to `addr`.
    ///
    /// # Errors
    /// As std.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            inner: Sock::fresh(unet::UnixDatagram::bind_addr(addr)?)?,
        })
    }

    /// Creates a socket not bound to any address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            inner: Sock::fresh(unet::UnixDatagram::unbound()?)?,
        })
    }

    /// An unnamed pair of connected sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = unet::UnixDatagram::pair()?;
        Ok((
            UnixDatagram {
                inner: Sock::fresh(a)?,
            },
            UnixDatagram {
                inner: Sock::fresh(b)?,
            },
        ))
    }

    /// Wraps a std socket.
    ///
    /// # Errors
    /// If the descriptor's mode cannot be read or changed.
    pub fn from_std(socket: unet::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            inner: Sock::adopt(socket)?,
        })
    }

    /// Gives back the std socket.
    ///
    /// # Errors
    /// If the descriptor's mode cannot be changed.
    pub fn into_std(self) -> io::Result<unet::UnixDatagram> {
        self.inner.into_inner()
    }

    /// Connects to the socket named by `path` (does not block).
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.inner.sock.connect(path)
    }

    /// Connects to the socket at `addr` (does not block).
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.inner.sock.connect_addr(addr)
    }

    /// A new handle to the same socket, with its own registration; the
    /// clones share the timeouts and the non-blocking mode, as std's do.
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        let s = self.inner.clone_with(self.inner.sock.try_clone()?);
        Ok(UnixDatagram { inner: s })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.peer_addr()
    }

    /// Receives a datagram and its sender, parking until one arrives.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|| self.inner.sock.recv_from(buf))
    }

    /// Receives a datagram, parking until one arrives.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|| self.inner.sock.recv(buf))
    }

    /// Sends a datagram to the socket named by `path`. If the receiver's
    /// queue is full it waits, as std's does, retrying after a green sleep
    /// of 1 ms doubling to 50 ms: the kernel raises no event for an
    /// unconnected sender when that queue drains.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.inner
            .write_backoff(BACKLOG_RETRY, || self.inner.sock.send_to(buf, path))
    }

    /// Sends a datagram to `addr`; waits as [`send_to`](Self::send_to).
    pub fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        self.inner
            .write_backoff(BACKLOG_RETRY, || self.inner.sock.send_to_addr(buf, addr))
    }

    /// Sends a datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let s = &self.inner;
        s.write(|| SockRef::from(&s.sock).send_with_flags(buf, libc::MSG_NOSIGNAL))
    }

    crate::sock::timeout_methods!();

    /// With `true`, operations return `WouldBlock` instead of parking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Gets and clears `SO_ERROR`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.sock.take_error()
    }

    /// Shuts down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.sock.shutdown(how)
    }

    /// Receives a datagram without removing it; parks until one is there.
    /// (Unstable in std, `unix_socket_peek`; provided here.)
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let s = &self.inner;
        s.read(|| {
            SockRef::from(&s.sock).peek(
                // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same
                // layout, and `peek` only writes initialised bytes into it.
                unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) },
            )
        })
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner.sock, f)
    }
}

fd_traits!(UnixStream, unet::UnixStream);
fd_traits!(UnixListener, unet::UnixListener);
fd_traits!(UnixDatagram, unet::UnixDatagram);
