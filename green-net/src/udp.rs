//! UDP: a green [`UdpSocket`], method for method std's.

use std::fmt;
use std::io;
use std::net::{self, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use green_runtime::Direction;

use crate::addr::{each_addr, ToSocketAddrs};
use crate::sock::Sock;
use crate::tcp::fd_traits;

/// A UDP socket; the green twin of [`std::net::UdpSocket`].
///
/// Receiving parks the calling greenlet until a datagram arrives (sending
/// parks only if the send buffer is full). Read and write timeouts are
/// honoured by that wait and give `WouldBlock` when they expire, as std on
/// Linux.
///
/// ```
/// use green_net::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// let b_addr = b.local_addr()?;
/// let rx = green_runtime::spawn(move || {
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf)?;
///     Ok::<_, std::io::Error>((buf[..n].to_vec(), from))
/// });
/// a.send_to(b"ping", b_addr)?;
/// let (data, from) = rx.join().unwrap()?;
/// assert_eq!((data.as_slice(), from), (&b"ping"[..], a.local_addr()?));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    inner: Sock<net::UdpSocket>,
}

impl UdpSocket {
    /// Creates a socket bound to `addr` (the first address that binds).
    ///
    /// # Errors
    /// As std.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(&addr, |a| {
            Ok(UdpSocket {
                inner: Sock::fresh(net::UdpSocket::bind(a)?)?,
            })
        })
    }

    /// Wraps a std socket (see [`TcpStream::from_std`](crate::TcpStream::from_std)).
    ///
    /// # Errors
    /// If the descriptor's mode cannot be read or changed.
    pub fn from_std(socket: net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: Sock::adopt(socket)?,
        })
    }

    /// Gives back the std socket (see [`TcpStream::into_std`](crate::TcpStream::into_std)).
    ///
    /// # Errors
    /// If the descriptor's mode cannot be changed.
    pub fn into_std(self) -> io::Result<net::UdpSocket> {
        self.inner.into_inner()
    }

    pub(crate) fn from_nonblocking_std(socket: net::UdpSocket) -> UdpSocket {
        UdpSocket {
            inner: Sock::from_nonblocking(socket),
        }
    }

    /// Receives one datagram and its sender, parking until one arrives.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|| self.inner.sock.recv_from(buf))
    }

    /// Like [`recv_from`](Self::recv_from) without removing the datagram.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|| self.inner.sock.peek_from(buf))
    }

    /// Sends a datagram to the first address `addr` resolves to.
    ///
    /// # Errors
    /// `InvalidInput` if `addr` yields no address, as std.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        match addr.to_socket_addrs()?.next() {
            Some(a) => self.inner.write(|| self.inner.sock.send_to(buf, a)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no addresses to send data to",
            )),
        }
    }

    /// The address of the connected peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.local_addr()
    }

    /// A new handle to the same socket, with its own registration; the
    /// clones share the timeouts and the non-blocking mode, as std's do.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let s = self.inner.clone_with(self.inner.sock.try_clone()?);
        Ok(UdpSocket { inner: s })
    }

    crate::sock::timeout_methods!();

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.inner.sock.set_broadcast(broadcast)
    }

    /// Gets `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.sock.broadcast()
    }

    /// Sets `IP_MULTICAST_LOOP`.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.inner.sock.set_multicast_loop_v4(on)
    }

    /// Gets `IP_MULTICAST_LOOP`.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.inner.sock.multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL`.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.inner.sock.set_multicast_ttl_v4(ttl)
    }

    /// Gets `IP_MULTICAST_TTL`.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.inner.sock.multicast_ttl_v4()
    }

    /// Sets `IPV6_MULTICAST_LOOP`.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.inner.sock.set_multicast_loop_v6(on)
    }

    /// Gets `IPV6_MULTICAST_LOOP`.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.inner.sock.multicast_loop_v6()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.sock.set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.sock.ttl()
    }

    /// Joins an IPv4 multicast group (`IP_ADD_MEMBERSHIP`).
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.sock.join_multicast_v4(multiaddr, interface)
    }

    /// Joins an IPv6 multicast group (`IPV6_ADD_MEMBERSHIP`).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.sock.join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.sock.leave_multicast_v4(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.sock.leave_multicast_v6(multiaddr, interface)
    }

    /// Gets and clears `SO_ERROR`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.sock.take_error()
    }

    /// Connects to a remote address (the first one that works), so that
    /// `send` and `recv` use it. Does not block.
    ///
    /// # Errors
    /// As std.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(&addr, |a| self.inner.sock.connect(a))
    }

    /// Sends a datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(|| self.inner.sock.send(buf))
    }

    /// Receives a datagram from the connected peer, parking until one
    /// arrives.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|| self.inner.sock.recv(buf))
    }

    /// Like [`recv`](Self::recv) without removing the datagram.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|| self.inner.sock.peek(buf))
    }

    /// With `true`, operations return `WouldBlock` instead of parking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner.sock, f)
    }
}

fd_traits!(UdpSocket, net::UdpSocket);
