//! Address resolution: the green twin of [`std::net::ToSocketAddrs`].
//!
//! Literal addresses (`"127.0.0.1:80"`, `(Ipv4Addr, u16)`, a `SocketAddr`)
//! are parsed inline. Host names go to the blocking pool
//! ([`green_runtime::spawn_blocking`]), where std's resolver
//! (`getaddrinfo`) runs, so only the calling greenlet waits and the hub
//! keeps running.

use std::io;
use std::iter::Cloned;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::{option, slice, vec};

/// Converts to one or more [`SocketAddr`]s; the green twin of
/// [`std::net::ToSocketAddrs`], implemented for the same types.
///
/// The socket constructors of this crate (`TcpStream::connect`,
/// `TcpListener::bind`, `UdpSocket::bind`, `send_to`, …) take this trait
/// where std takes its own, so every argument std accepts is accepted here.
///
/// # Notes
///
/// It is a separate trait (not std's) because resolving a host name must
/// not block the hub: for the types that may hold a host name the green
/// implementation parses literals inline and sends only real names to the
/// blocking pool, which needs an owned copy of the name. Generic code
/// bounded on `std::net::ToSocketAddrs` therefore does not pass its
/// argument through unchanged; bound it on `green::net::ToSocketAddrs`.
///
/// ```
/// use green_net::ToSocketAddrs;
/// let addrs: Vec<_> = ("127.0.0.1", 80).to_socket_addrs().unwrap().collect();
/// assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap()]);
/// let local: Vec<_> = "localhost:80".to_socket_addrs().unwrap().collect();
/// assert!(!local.is_empty());
/// ```
pub trait ToSocketAddrs {
    /// The iterator over the addresses.
    type Iter: Iterator<Item = SocketAddr>;

    /// Resolves to an iterator of addresses; a host name is looked up on
    /// the blocking pool while the calling greenlet parks.
    ///
    /// # Errors
    /// As std: `InvalidInput` for a malformed address, the resolver's error
    /// for an unknown host.
    fn to_socket_addrs(&self) -> io::Result<Self::Iter>;
}

macro_rules! literal {
    ($t:ty, $conv:expr) => {
        impl ToSocketAddrs for $t {
            type Iter = option::IntoIter<SocketAddr>;
            fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
                #[allow(clippy::redundant_closure_call)]
                Ok(Some(($conv)(self)).into_iter())
            }
        }
    };
}

literal!(SocketAddr, |a: &SocketAddr| *a);
literal!(SocketAddrV4, |a: &SocketAddrV4| SocketAddr::V4(*a));
literal!(SocketAddrV6, |a: &SocketAddrV6| SocketAddr::V6(*a));
literal!((IpAddr, u16), |a: &(IpAddr, u16)| SocketAddr::new(a.0, a.1));
literal!((Ipv4Addr, u16), |a: &(Ipv4Addr, u16)| SocketAddr::new(
    IpAddr::V4(a.0),
    a.1
));
literal!((Ipv6Addr, u16), |a: &(Ipv6Addr, u16)| SocketAddr::new(
    IpAddr::V6(a.0),
    a.1
));

/// Resolves `host` and `port` on the blocking pool.
fn lookup_host_port(host: &str, port: u16) -> io::Result<vec::IntoIter<SocketAddr>> {
    let host = host.to_owned();
    green_runtime::spawn_blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(|i| i.collect())
    })
    .map(|v: Vec<SocketAddr>| v.into_iter())
}

impl ToSocketAddrs for (&str, u16) {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        let (host, port) = *self;
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)].into_iter());
        }
        lookup_host_port(host, port)
    }
}

impl ToSocketAddrs for (String, u16) {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        (self.0.as_str(), self.1).to_socket_addrs()
    }
}

impl ToSocketAddrs for str {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(vec![addr].into_iter());
        }
        let s = self.to_owned();
        green_runtime::spawn_blocking(move || {
            std::net::ToSocketAddrs::to_socket_addrs(s.as_str()).map(|i| i.collect())
        })
        .map(|v: Vec<SocketAddr>| v.into_iter())
    }
}

impl ToSocketAddrs for String {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        self.as_str().to_socket_addrs()
    }
}

impl<'a> ToSocketAddrs for &'a [SocketAddr] {
    type Iter = Cloned<slice::Iter<'a, SocketAddr>>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        Ok(self.iter().cloned())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    type Iter = T::Iter;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        (**self).to_socket_addrs()
    }
}

/// Runs `f` on each address in turn, as std's socket constructors do:
/// the first success wins, otherwise the last error (or `InvalidInput` if
/// there was no address at all).
pub(crate) fn each_addr<A: ToSocketAddrs + ?Sized, T>(
    addr: &A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(&a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
