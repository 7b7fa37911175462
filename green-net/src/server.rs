//! Servers: gevent's `StreamServer` and `DatagramServer`.
//!
//! A server owns a listening socket and a handler. An *acceptor* greenlet
//! takes connections (or datagrams) one at a time and calls the handler for
//! each in a greenlet of its own. With a pool size, at most that many
//! handlers run at once: the acceptor takes a permit of a
//! [`green_sync::Semaphore`] before each accept and the handler gives it
//! back when it ends (also when it panics or is killed), so beyond the
//! limit accepting waits and new connections queue in the backlog.
//!
//! [`ServerHandle::stop`] closes the listening socket at once (it kills and
//! joins the acceptor, which owns it), lets running handlers finish until
//! the timeout, then kills the rest and reports how many it killed.
//!
//! Accept errors that say "not now" rather than "never" — out of
//! descriptors (`EMFILE`, `ENFILE`), out of memory (`ENOBUFS`, `ENOMEM`),
//! a connection aborted before it was accepted (`ECONNABORTED`) and the
//! network errors `accept(2)` says to treat as `EAGAIN` — are logged and
//! retried after a short sleep that doubles from 5 ms up to 250 ms, so the
//! server neither spins nor dies and resumes once descriptors free up.
//! Any other accept error ends the server; [`ServerHandle::join`] returns
//! it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{self, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use green_runtime::{GreenletId, JoinHandle};
use green_sync::{Event, OwnedSemaphorePermit, Semaphore};
use socket2::{Domain, Protocol, Socket, Type};

use crate::addr::{each_addr, ToSocketAddrs};
use crate::{TcpListener, TcpStream, UdpSocket};

/// First and longest sleep after a transient accept error.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(250));

/// Largest datagram a [`DatagramServer`] receives (bigger ones are cut).
const MAX_DATAGRAM: usize = 65536;

/// What a handler may return: nothing, or a `Result` whose error is logged
/// (at `debug` level, with the peer's address) and otherwise ignored.
pub trait HandlerResult {
    /// Logs the outcome of a handler that served `peer`.
    fn report(self, peer: &SocketAddr);
}

impl HandlerResult for () {
    fn report(self, _peer: &SocketAddr) {}
}

impl<E: fmt::Display> HandlerResult for Result<(), E> {
    fn report(self, peer: &SocketAddr) {
        if let Err(e) = self {
            log::debug!(target: "green", "green-net: handler for {peer} ended with an error: {e}");
        }
    }
}

/// Options for the listening socket of a server and its pool size.
///
/// ```
/// use std::io::Write;
/// use green_net::{ServerBuilder, TcpStream};
///
/// let server = ServerBuilder::new()
///     .backlog(128)
///     .reuse_address(true)
///     .pool_size(10)
///     .stream("127.0.0.1:0", |mut conn: TcpStream, _peer| conn.write_all(b"hi\n"))?;
/// let handle = server.start()?;
/// let mut c = TcpStream::connect(handle.local_addr())?;
/// let mut got = String::new();
/// std::io::Read::read_to_string(&mut c, &mut got)?;
/// assert_eq!(got, "hi\n");
/// assert_eq!(handle.stop(std::time::Duration::from_secs(1)), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    backlog: i32,
    reuse_address: bool,
    reuse_port: bool,
    pool_size: Option<usize>,
}

impl Default for ServerBuilder {
    fn default() -> ServerBuilder {
        ServerBuilder::new()
    }
}

impl ServerBuilder {
    /// Defaults: backlog 1024 (the kernel caps it at `somaxconn`),
    /// `SO_REUSEADDR` on (as std's `TcpListener::bind`), `SO_REUSEPORT`
    /// off, no pool limit.
    pub fn new() -> ServerBuilder {
        ServerBuilder {
            backlog: 1024,
            reuse_address: true,
            reuse_port: false,
            pool_size: None,
        }
    }

    /// The `listen(2)` backlog.
    pub fn backlog(mut self, backlog: u32) -> ServerBuilder {
        self.backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self
    }

    /// Sets `SO_REUSEADDR` on the listening socket.
    pub fn reuse_address(mut self, on: bool) -> ServerBuilder {
        self.reuse_address = on;
        self
    }

    /// Sets `SO_REUSEPORT` on the listening socket (several servers, in
    /// one process or several, may then bind the same address).
    pub fn reuse_port(mut self, on: bool) -> ServerBuilder {
        self.reuse_port = on;
        self
    }

    /// At most `n` handlers run at once; beyond that accepting waits.
    /// `0` is taken as 1.
    pub fn pool_size(mut self, n: usize) -> ServerBuilder {
        self.pool_size = Some(n.max(1));
        self
    }

    fn socket(&self, addr: &SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
        let s = Socket::new(
            Domain::for_address(*addr),
            ty.nonblocking().cloexec(),
            Some(proto),
        )?;
        if self.reuse_address {
            s.set_reuse_address(true)?;
        }
        if self.reuse_port {
            s.set_reuse_port(true)?;
        }
        s.bind(&(*addr).into())?;
        Ok(s)
    }

    /// A TCP listener with these options, bound to the first address of
    /// `addr` that binds.
    ///
    /// # Errors
    /// As `TcpListener::bind`.
    pub fn listen<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpListener> {
        each_addr(&addr, |a| {
            let s = self.socket(a, Type::STREAM, Protocol::TCP)?;
            s.listen(self.backlog)?;
            Ok(TcpListener::from_nonblocking_std(net::TcpListener::from(s)))
        })
    }

    /// A UDP socket with these options (backlog aside), bound to `addr`.
    ///
    /// # Errors
    /// As `UdpSocket::bind`.
    pub fn bind_udp<A: ToSocketAddrs>(&self, addr: A) -> io::Result<UdpSocket> {
        each_addr(&addr, |a| {
            let s = self.socket(a, Type::DGRAM, Protocol::UDP)?;
            Ok(UdpSocket::from_nonblocking_std(net::UdpSocket::from(s)))
        })
    }

    /// A [`StreamServer`] listening on `addr`.
    ///
    /// # Errors
    /// If the socket cannot be created or bound.
    pub fn stream<A, H, R>(self, addr: A, handler: H) -> io::Result<StreamServer>
    where
        A: ToSocketAddrs,
        H: Fn(TcpStream, SocketAddr) -> R + 'static,
        R: HandlerResult,
    {
        let listener = self.listen(addr)?;
        let mut s = StreamServer::new(listener, handler);
        s.pool_size = self.pool_size;
        Ok(s)
    }

    /// A [`DatagramServer`] bound to `addr`.
    ///
    /// # Errors
    /// If the socket cannot be created or bound.
    pub fn datagram<A, H, R>(self, addr: A, handler: H) -> io::Result<DatagramServer>
    where
        A: ToSocketAddrs,
        H: Fn(Vec<u8>, SocketAddr, Reply) -> R + 'static,
        R: HandlerResult,
    {
        let socket = self.bind_udp(addr)?;
        let mut s = DatagramServer::new(socket, handler);
        s.pool_size = self.pool_size;
        Ok(s)
    }
}

type StreamHandler = Rc<dyn Fn(TcpStream, SocketAddr)>;
type DatagramHandler = Rc<dyn Fn(Vec<u8>, SocketAddr, Reply)>;

/// A TCP server that calls a handler for every connection, each in its own
/// greenlet; gevent's `StreamServer`.
///
/// ```
/// use std::io::{self, Read, Write};
/// use std::time::Duration;
/// use green_net::{StreamServer, TcpStream};
///
/// // An echo server.
/// let server = StreamServer::bind("127.0.0.1:0", |conn: TcpStream, _peer| {
///     io::copy(&mut &conn, &mut &conn).map(drop)
/// })?;
/// let handle = server.start()?;
///
/// let mut c = TcpStream::connect(handle.local_addr())?;
/// c.write_all(b"echo me")?;
/// c.shutdown(std::net::Shutdown::Write)?;
/// let mut back = String::new();
/// c.read_to_string(&mut back)?;
/// assert_eq!(back, "echo me");
///
/// // No handler is left running, so none is killed.
/// assert_eq!(handle.stop(Duration::from_secs(1)), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StreamServer {
    listener: TcpListener,
    handler: StreamHandler,
    pool_size: Option<usize>,
}

impl fmt::Debug for StreamServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamServer")
            .field("listener", &self.listener)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

fn wrap_stream<H, R>(handler: H) -> StreamHandler
where
    H: Fn(TcpStream, SocketAddr) -> R + 'static,
    R: HandlerResult,
{
    Rc::new(move |s, peer| handler(s, peer).report(&peer))
}

impl StreamServer {
    /// A server listening on `addr` with [`ServerBuilder`]'s defaults;
    /// gevent's `StreamServer((host, port), handle)`.
    ///
    /// # Errors
    /// If the socket cannot be created or bound.
    pub fn bind<A, H, R>(addr: A, handler: H) -> io::Result<StreamServer>
    where
        A: ToSocketAddrs,
        H: Fn(TcpStream, SocketAddr) -> R + 'static,
        R: HandlerResult,
    {
        ServerBuilder::new().stream(addr, handler)
    }

    /// A server on an existing listener (put back in green blocking mode
    /// if `set_nonblocking(true)` was called on it; the mode is shared with
    /// the listener's `try_clone`s, as std's is, so they change too).
    pub fn new<H, R>(listener: TcpListener, handler: H) -> StreamServer
    where
        H: Fn(TcpStream, SocketAddr) -> R + 'static,
        R: HandlerResult,
    {
        let _ = listener.set_nonblocking(false); // cannot fail: a flag
        StreamServer {
            listener,
            handler: wrap_stream(handler),
            pool_size: None,
        }
    }

    /// Limits the number of handlers running at once (`0` is taken as 1);
    /// beyond it accepting waits.
    pub fn with_pool_size(mut self, n: usize) -> StreamServer {
        self.pool_size = Some(n.max(1));
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts accepting in a background greenlet and returns at once.
    ///
    /// # Errors
    /// If the listener's address cannot be read.
    pub fn start(self) -> io::Result<ServerHandle> {
        let addr = self.listener.local_addr()?;
        let core = Core::new(addr, self.pool_size);
        let c = core.clone();
        let listener = self.listener;
        let handler = self.handler;
        let acceptor = green_runtime::Builder::new()
            .name(format!("StreamServer {addr}"))
            .spawn(move || {
                c.serve(
                    || listener.accept(),
                    |(stream, peer), permit| {
                        let handler = handler.clone();
                        (
                            format!("handler {peer}"),
                            Box::new(move || {
                                let _permit = permit;
                                handler(stream, peer);
                            }) as Box<dyn FnOnce()>,
                        )
                    },
                )
            })?;
        *core.acceptor.borrow_mut() = Some(acceptor);
        Ok(ServerHandle { core })
    }

    /// Serves in the calling greenlet until the server fails; gevent's
    /// `serve_forever`. To stop it, kill the greenlet that runs it: the
    /// listener closes and every handler is killed. Handlers still running
    /// when it returns with an error are killed too.
    ///
    /// # Errors
    /// The accept error that ended the server.
    pub fn serve_forever(self) -> io::Result<()> {
        let h = self.start()?;
        let _stop = KillOnDrop(h.core.clone());
        h.join()
    }
}

/// A UDP server that calls a handler for every datagram, each in its own
/// greenlet, with a [`Reply`] to answer the sender; gevent's
/// `DatagramServer`.
///
/// ```
/// use std::time::Duration;
/// use green_net::{DatagramServer, UdpSocket};
///
/// let server = DatagramServer::bind("127.0.0.1:0", |data: Vec<u8>, _peer, reply: green_net::Reply| {
///     reply.send(&data.to_ascii_uppercase()).map(drop)
/// })?;
/// let handle = server.start()?;
/// let c = UdpSocket::bind("127.0.0.1:0")?;
/// c.send_to(b"shout", handle.local_addr())?;
/// let mut buf = [0; 16];
/// let (n, _) = c.recv_from(&mut buf)?;
/// assert_eq!(&buf[..n], b"SHOUT");
/// handle.stop(Duration::from_secs(1));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct DatagramServer {
    socket: UdpSocket,
    handler: DatagramHandler,
    pool_size: Option<usize>,
}

impl fmt::Debug for DatagramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramServer")
            .field("socket", &self.socket)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

/// The means for a [`DatagramServer`] handler to answer: sends from the
/// server's socket.
#[derive(Debug, Clone)]
pub struct Reply {
    socket: Rc<UdpSocket>,
    peer: SocketAddr,
}

impl Reply {
    /// Sends `buf` back to the sender of the datagram being handled.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.socket.send_to(buf, self.peer)
    }

    /// Sends `buf` to any address from the server's socket; gevent's
    /// `server.sendto`.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        self.socket.send_to(buf, addr)
    }

    /// The sender of the datagram being handled.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

impl DatagramServer {
    /// A server bound to `addr`.
    ///
    /// # Errors
    /// If the socket cannot be created or bound.
    pub fn bind<A, H, R>(addr: A, handler: H) -> io::Result<DatagramServer>
    where
        A: ToSocketAddrs,
        H: Fn(Vec<u8>, SocketAddr, Reply) -> R + 'static,
        R: HandlerResult,
    {
        ServerBuilder::new().datagram(addr, handler)
    }

    /// A server on an existing socket (put back in green blocking mode if
    /// `set_nonblocking(true)` was called on it; shared with its
    /// `try_clone`s, as for [`StreamServer::new`]).
    pub fn new<H, R>(socket: UdpSocket, handler: H) -> DatagramServer
    where
        H: Fn(Vec<u8>, SocketAddr, Reply) -> R + 'static,
        R: HandlerResult,
    {
        let _ = socket.set_nonblocking(false); // cannot fail: a flag
        DatagramServer {
            socket,
            handler: Rc::new(move |d, peer, r| handler(d, peer, r).report(&peer)),
            pool_size: None,
        }
    }

    /// Limits the number of handlers running at once (`0` is taken as 1).
    pub fn with_pool_size(mut self, n: usize) -> DatagramServer {
        self.pool_size = Some(n.max(1));
        self
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Starts receiving in a background greenlet and returns at once.
    ///
    /// # Errors
    /// If the socket's address cannot be read.
    pub fn start(self) -> io::Result<ServerHandle> {
        let addr = self.socket.local_addr()?;
        let core = Core::new(addr, self.pool_size);
        let c = core.clone();
        let socket = Rc::new(self.socket);
        let handler = self.handler;
        let acceptor = green_runtime::Builder::new()
            .name(format!("DatagramServer {addr}"))
            .spawn(move || {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                c.serve(
                    || {
                        let (n, peer) = socket.recv_from(&mut buf)?;
                        Ok((buf[..n].to_vec(), peer))
                    },
                    |(data, peer), permit| {
                        let handler = handler.clone();
                        let reply = Reply {
                            socket: socket.clone(),
                            peer,
                        };
                        (
                            format!("handler {peer}"),
                            Box::new(move || {
                                let _permit = permit;
                                handler(data, peer, reply);
                            }) as Box<dyn FnOnce()>,
                        )
                    },
                )
            })?;
        *core.acceptor.borrow_mut() = Some(acceptor);
        Ok(ServerHandle { core })
    }

    /// Serves in the calling greenlet until the server fails (see
    /// [`StreamServer::serve_forever`]).
    ///
    /// # Errors
    /// The receive error that ended the server.
    pub fn serve_forever(self) -> io::Result<()> {
        let h = self.start()?;
        let _stop = KillOnDrop(h.core.clone());
        h.join()
    }
}

/// State shared by a running server's acceptor, handlers and handles.
struct Core {
    addr: SocketAddr,
    pool: Option<Semaphore>,
    acceptor: RefCell<Option<JoinHandle<()>>>,
    handlers: RefCell<HashMap<GreenletId, JoinHandle<()>>>,
    /// The fatal error that ended the acceptor, if one did.
    error: RefCell<Option<io::Error>>,
    /// Set once the server has stopped (by `stop` or a fatal error).
    stopped: Event,
}

impl Core {
    fn new(addr: SocketAddr, pool_size: Option<usize>) -> Rc<Core> {
        Rc::new(Core {
            addr,
            pool: pool_size.map(Semaphore::new),
            acceptor: RefCell::new(None),
            handlers: RefCell::new(HashMap::new()),
            error: RefCell::new(None),
            stopped: Event::new(),
        })
    }

    /// The acceptor loop: take a pool permit, accept, spawn the handler.
    fn serve<T>(
        self: &Rc<Core>,
        mut accept: impl FnMut() -> io::Result<T>,
        mut make: impl FnMut(T, Option<OwnedSemaphorePermit>) -> (String, Box<dyn FnOnce()>),
    ) {
        let mut backoff = BACKOFF.0;
        loop {
            let permit = self.pool.as_ref().map(|p| p.acquire_owned());
            match accept() {
                Ok(item) => {
                    backoff = BACKOFF.0;
                    let (name, job) = make(item, permit);
                    self.spawn_handler(name, job);
                }
                Err(e) if is_transient(&e) => {
                    drop(permit);
                    log::warn!(target: "green", "green-net: server {}: accept failed ({e}); retrying in {backoff:?}", self.addr);
                    green_runtime::sleep(backoff);
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
                Err(e) => {
                    log::error!(target: "green", "green-net: server {}: accept failed ({e}); the server stops", self.addr);
                    *self.error.borrow_mut() = Some(e);
                    self.stopped.set();
                    return;
                }
            }
        }
    }

    fn spawn_handler(self: &Rc<Core>, name: String, job: Box<dyn FnOnce()>) {
        let core = self.clone();
        let spawned = green_runtime::Builder::new().name(name).spawn(move || {
            /// Removes the handler's record when it ends, however it ends.
            struct Done(Rc<Core>, GreenletId);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.handlers.borrow_mut().remove(&self.1);
                }
            }
            let _done = Done(core, green_runtime::current().id());
            job();
        });
        match spawned {
            Ok(h) => {
                self.handlers.borrow_mut().insert(h.id(), h);
            }
            Err(e) => {
                // No stack for the handler: the connection (owned by the
                // dropped job) closes; the server goes on.
                log::warn!(target: "green", "green-net: server {}: cannot spawn a handler ({e})", self.addr);
            }
        }
    }

    /// Kills the acceptor and every handler without waiting (for drop
    /// guards, which must not block).
    fn kill_all(&self) {
        if let Some(a) = self.acceptor.borrow().as_ref() {
            a.kill();
        }
        for h in self.handlers.borrow().values() {
            h.kill();
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EMFILE
                | libc::ENFILE
                | libc::ENOBUFS
                | libc::ENOMEM
                | libc::ECONNABORTED
                | libc::EPROTO
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::ECONNREFUSED
                | libc::ECONNRESET
        )
    ) || matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    )
}

struct KillOnDrop(Rc<Core>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill_all();
    }
}

/// A running server, from [`StreamServer::start`] or
/// [`DatagramServer::start`]. Cheap to clone; dropping it leaves the server
/// running (like dropping a `JoinHandle`).
#[derive(Clone)]
pub struct ServerHandle {
    core: Rc<Core>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.core.addr)
            .field("handlers", &self.handlers())
            .field("stopped", &self.core.stopped.is_set())
            .finish()
    }
}

impl ServerHandle {
    /// The address the server listens on (with the real port if it was
    /// bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.core.addr
    }

    /// How many handlers are running now.
    pub fn handlers(&self) -> usize {
        self.core.handlers.borrow().len()
    }

    /// True once the server has stopped.
    pub fn is_stopped(&self) -> bool {
        self.core.stopped.is_set()
    }

    /// Stops the server: closes the listening socket at once, lets the
    /// running handlers finish until `timeout`, then kills the rest.
    /// Returns how many handlers were killed. Stopping a stopped server
    /// returns 0. Called from inside a handler, that handler is neither
    /// waited for nor killed.
    ///
    /// For a [`DatagramServer`] the acceptor's end stops the receiving;
    /// the socket itself closes once the last handler holding a [`Reply`]
    /// has ended.
    pub fn stop(&self, timeout: Duration) -> usize {
        let deadline = Instant::now().checked_add(timeout);
        // The acceptor owns the listener: once it has unwound, the socket
        // is closed and no connection is accepted any more.
        let acceptor = self.core.acceptor.borrow_mut().take();
        if let Some(a) = acceptor {
            a.kill();
            let _ = a.join();
        }
        let me = green_runtime::current().id();
        let running: Vec<JoinHandle<()>> = {
            let mut hs = self.core.handlers.borrow_mut();
            let mine = hs.remove(&me);
            let all = hs.drain().map(|(_, h)| h).collect();
            if let Some(m) = mine {
                hs.insert(me, m);
            }
            all
        };
        let mut late = Vec::new();
        for h in running {
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if let Err(h) = h.join_timeout(left) {
                late.push(h);
            }
        }
        for h in &late {
            h.kill();
        }
        let killed = late.len();
        for h in late {
            let _ = h.join();
        }
        self.core.stopped.set();
        killed
    }

    /// Waits until the server has stopped: [`stop`](Self::stop) was called
    /// (and has finished) elsewhere, or the acceptor met an error it cannot
    /// retry, which is returned.
    pub fn join(&self) -> io::Result<()> {
        self.core.stopped.wait();
        match self.core.error.borrow_mut().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
