//! TCP: green [`TcpStream`] and [`TcpListener`], method for method the
//! std ones.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{self, Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use green_runtime::Direction;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::addr::{each_addr, ToSocketAddrs};
use crate::sock::{finish_connect, Sock};

/// A TCP stream between a local and a remote socket; the green twin of
/// [`std::net::TcpStream`].
///
/// Every method std has is here with the same signature and behaviour,
/// except that an operation that would block parks only the calling
/// greenlet: the hub runs other greenlets until the socket is ready. Read
/// and write timeouts are honoured by that wait. `Read` and `Write` are
/// implemented for `&TcpStream` too, so a reader greenlet and a writer
/// greenlet can share one stream (full duplex).
///
/// ```
/// use std::io::{Read, Write};
/// use green_net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = green_runtime::spawn(move || -> std::io::Result<()> {
///     let (mut conn, _peer) = listener.accept()?;
///     let mut buf = [0; 5];
///     conn.read_exact(&mut buf)?;
///     conn.write_all(&buf)?; // echo
///     Ok(())
/// });
/// let mut stream = TcpStream::connect(addr)?;
/// stream.write_all(b"hello")?;
/// let mut back = [0; 5];
/// stream.read_exact(&mut back)?;
/// assert_eq!(&back, b"hello");
/// server.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Notes
///
/// * Writes use `send(2)` with `MSG_NOSIGNAL`: writing to a peer that has
///   gone gives `BrokenPipe`, never `SIGPIPE`.
/// * A read or write timeout that expires gives `WouldBlock` (`EAGAIN`),
///   as std does on Linux.
/// * After [`set_nonblocking(true)`](Self::set_nonblocking), operations
///   never park and return `WouldBlock` as std's would.
pub struct TcpStream {
    inner: Sock<net::TcpStream>,
}

impl TcpStream {
    /// Opens a TCP connection to a remote host, trying each address in
    /// turn until one connects; the calling greenlet parks while the
    /// connection is established. Host names resolve on the blocking pool.
    ///
    /// # Errors
    /// As std: the last address's error (`ConnectionRefused`, …), or
    /// `InvalidInput` if `addr` yields no address.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&addr, |a| TcpStream::connect_inner(a, None))
    }

    /// Opens a TCP connection with a timeout; no name resolution, as std.
    ///
    /// # Errors
    /// `TimedOut` if the connection is not established in time;
    /// `InvalidInput` for a zero timeout.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_inner(addr, Instant::now().checked_add(timeout))
    }

    fn connect_inner(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let socket = Socket::new(
            Domain::for_address(*addr),
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )?;
        let pending = match socket.connect(&(*addr).into()) {
            Ok(()) => false,
            Err(e)
                if e.raw_os_error() == Some(libc::EINPROGRESS)
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                true
            }
            Err(e) => return Err(e),
        };
        let inner = Sock::from_nonblocking(net::TcpStream::from(socket));
        if pending {
            finish_connect(&inner, deadline)?;
        }
        Ok(TcpStream { inner })
    }

    /// Wraps a std stream, putting it in non-blocking mode at the OS level;
    /// a stream the caller had made non-blocking keeps std's non-blocking
    /// behaviour, and its timeouts carry over.
    ///
    /// # Errors
    /// If the descriptor's mode cannot be read or changed.
    pub fn from_std(stream: net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: Sock::adopt(stream)?,
        })
    }

    /// Gives back the std stream, in blocking mode unless
    /// `set_nonblocking(true)` was called; timeouts carry over.
    ///
    /// The mode belongs to the socket, not the handle: green `try_clone`s
    /// of this stream that stay green would then make blocking syscalls
    /// and stall their thread. Give back the last handle, or call
    /// `set_nonblocking(true)` first.
    ///
    /// # Errors
    /// If the descriptor's mode cannot be changed.
    pub fn into_std(self) -> io::Result<net::TcpStream> {
        self.inner.into_inner()
    }

    pub(crate) fn from_accepted(stream: net::TcpStream) -> TcpStream {
        TcpStream {
            inner: Sock::from_nonblocking(stream),
        }
    }

    /// The address of the remote peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.peer_addr()
    }

    /// The local address of this end.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.local_addr()
    }

    /// Shuts down the read half, the write half, or both. After
    /// `shutdown(Write)` the peer reads EOF; reads here still work.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.sock.shutdown(how)
    }

    /// A new independently owned handle to the same socket (a `dup`), with
    /// its own registration. As with std, the clones share the timeouts
    /// and the non-blocking mode: setting them through one sets them for
    /// all.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let s = self.inner.clone_with(self.inner.sock.try_clone()?);
        Ok(TcpStream { inner: s })
    }

    crate::sock::timeout_methods!();

    crate::sock::try_read_methods!();

    /// Receives data without removing it from the queue; parks until some
    /// is there.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|| self.inner.sock.peek(buf))
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.sock.set_nodelay(nodelay)
    }

    /// Gets `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.sock.nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.sock.set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.sock.ttl()
    }

    /// Gets and clears `SO_ERROR`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.sock.take_error()
    }

    /// With `true`, operations return `WouldBlock` instead of parking, as a
    /// std non-blocking socket does; `false` restores green blocking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }
}

crate::sock::stream_read_write!(TcpStream);

/// A TCP socket server, listening for connections; the green twin of
/// [`std::net::TcpListener`].
///
/// `accept` parks the calling greenlet until a connection arrives.
///
/// ```
/// use green_net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let client = green_runtime::spawn(move || TcpStream::connect(addr).and_then(|s| s.local_addr()));
/// let (_conn, peer) = listener.accept()?;
/// assert_eq!(peer, client.join().unwrap()?);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Notes
///
/// `bind` uses std's own `bind` (the same `SO_REUSEADDR` and backlog); for
/// another backlog or `SO_REUSEPORT`, build the socket with `socket2` and
/// convert it with [`from_std`](Self::from_std), or use
/// [`ServerBuilder`](crate::ServerBuilder).
pub struct TcpListener {
    inner: Sock<net::TcpListener>,
}

impl TcpListener {
    /// Creates a listener bound to `addr` (the first address that binds).
    ///
    /// # Errors
    /// As std: the last address's error, `InvalidInput` without addresses.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(&addr, |a| {
            Ok(TcpListener {
                inner: Sock::fresh(net::TcpListener::bind(a)?)?,
            })
        })
    }

    /// Wraps a std listener (see [`TcpStream::from_std`]).
    ///
    /// # Errors
    /// If the descriptor's mode cannot be read or changed.
    pub fn from_std(listener: net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: Sock::adopt(listener)?,
        })
    }

    /// Gives back the std listener (see [`TcpStream::into_std`]).
    ///
    /// # Errors
    /// If the descriptor's mode cannot be changed.
    pub fn into_std(self) -> io::Result<net::TcpListener> {
        self.inner.into_inner()
    }

    pub(crate) fn from_nonblocking_std(listener: net::TcpListener) -> TcpListener {
        TcpListener {
            inner: Sock::from_nonblocking(listener),
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.local_addr()
    }

    /// A new handle to the same listening socket; the clones share the
    /// non-blocking mode, as std's do.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        let s = self.inner.clone_with(self.inner.sock.try_clone()?);
        Ok(TcpListener { inner: s })
    }

    /// Accepts a connection, parking until one arrives. The new stream is
    /// green and in (green) blocking mode.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let s = &self.inner;
        let (sock, addr) =
            s.read(|| SockRef::from(&s.sock).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC))?;
        let addr = addr.as_socket().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "accepted a non-IP address")
        })?;
        Ok((TcpStream::from_accepted(net::TcpStream::from(sock)), addr))
    }

    /// An endless iterator over accepted connections (as std).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.sock.set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.sock.ttl()
    }

    /// Gets and clears `SO_ERROR`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.sock.take_error()
    }

    /// With `true`, `accept` returns `WouldBlock` instead of parking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner.sock, f)
    }
}

/// An endless iterator over the connections of a [`TcpListener`]; from
/// [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|p| p.0))
    }
}

macro_rules! fd_traits {
    ($green:ident, $std:ty) => {
        impl AsRawFd for $green {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.sock.as_raw_fd()
            }
        }

        impl AsFd for $green {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.sock.as_fd()
            }
        }

        impl FromRawFd for $green {
            /// Takes ownership of `fd` and makes it green (non-blocking at
            /// the OS level). Green-blocking for the caller, unless the
            /// descriptor was already non-blocking: then it keeps std's
            /// non-blocking behaviour (`WouldBlock`), as `From<std socket>`
            /// does; `set_nonblocking(false)` makes it green-blocking.
            unsafe fn from_raw_fd(fd: RawFd) -> $green {
                // SAFETY: the caller guarantees `fd` is an open socket of
                // the right kind that it owns and hands over.
                $green::from(unsafe { <$std>::from_raw_fd(fd) })
            }
        }

        impl IntoRawFd for $green {
            /// Gives up the descriptor, in the mode std would show
            /// (blocking unless `set_nonblocking(true)` was called).
            fn into_raw_fd(self) -> RawFd {
                OwnedFd::from(self).into_raw_fd()
            }
        }

        impl From<OwnedFd> for $green {
            fn from(fd: OwnedFd) -> $green {
                $green::from(<$std>::from(fd))
            }
        }

        impl From<$green> for OwnedFd {
            fn from(s: $green) -> OwnedFd {
                let std_sock: $std = s.inner.into_inner_lossy();
                OwnedFd::from(std_sock)
            }
        }

        impl From<$std> for $green {
            /// Makes a std socket green (see `from_std`); a failure to read
            /// or change its mode is logged, not returned.
            fn from(s: $std) -> $green {
                $green {
                    inner: Sock::adopt_lossy(s),
                }
            }
        }
    };
}
pub(crate) use fd_traits;

fd_traits!(TcpStream, net::TcpStream);
fd_traits!(TcpListener, net::TcpListener);
