//! Green networking: drop-in replacements for `std::net` and
//! `std::os::unix::net`, and gevent's `StreamServer` and `DatagramServer`.
//!
//! Replace `use std::net::TcpStream` with `use green::net::TcpStream` and
//! the code compiles and behaves as before, only green: an operation that
//! would block parks the calling greenlet and the hub runs the others.
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use green_net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! // A greenlet per connection, as with threads, but all on this thread.
//! let server = green_runtime::spawn(move || {
//!     for _ in 0..3 {
//!         let (conn, _) = listener.accept().unwrap();
//!         green_runtime::spawn(move || {
//!             let mut line = String::new();
//!             BufReader::new(&conn).read_line(&mut line).unwrap();
//!             (&conn).write_all(line.to_uppercase().as_bytes()).unwrap();
//!         });
//!     }
//! });
//! let clients: Vec<_> = ["a\n", "b\n", "c\n"]
//!     .into_iter()
//!     .map(|msg| green_runtime::spawn(move || {
//!         let mut s = TcpStream::connect(addr).unwrap();
//!         s.write_all(msg.as_bytes()).unwrap();
//!         let mut reply = String::new();
//!         BufReader::new(&s).read_line(&mut reply).unwrap();
//!         reply
//!     }))
//!     .collect();
//! let replies: Vec<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
//! assert_eq!(replies, ["A\n", "B\n", "C\n"]);
//! server.join().unwrap();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Implementation
//!
//! * Each socket is a std socket put in non-blocking mode plus a
//!   [`green_runtime::Registration`], declared first so that it leaves the
//!   hub's poll before the descriptor closes.
//! * Every blocking operation goes through one retry loop,
//!   [`Registration::io`](green_runtime::Registration::io): try the
//!   syscall; on `WouldBlock` park until the hub's edge-triggered poll
//!   marks that direction ready; try again. The descriptor is registered
//!   once, lazily, the first time it would block; readiness is cached per
//!   direction and cleared only by a `WouldBlock`. (Clearing it after a
//!   short stream read, to save the `EAGAIN` syscall, waits for the
//!   runtime to keep "read closed" apart: see `docs/net.md`.)
//! * Read and write timeouts are stored in the socket (and in the kernel,
//!   so the getters and `into_std` match std) and become the deadline of
//!   the wait; an expired one gives `WouldBlock`, std's kind on Linux.
//! * `connect` is a non-blocking `connect` (via `socket2`) followed by a
//!   wait for writability and a look at `SO_ERROR`.
//! * Host names resolve on the blocking pool ([`ToSocketAddrs`]); literals
//!   are parsed inline.
//! * Writes to stream sockets use `MSG_NOSIGNAL`: a closed peer gives
//!   `BrokenPipe`, never `SIGPIPE`.
//!
//! See `docs/std-net-table.md` for every std method and its status.

#![deny(missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

mod addr;
mod bufreader;
pub mod io;
mod pool;
mod server;
mod sock;
mod tcp;
mod udp;
pub mod unix;

pub use addr::ToSocketAddrs;
pub use server::{DatagramServer, HandlerResult, Reply, ServerBuilder, ServerHandle, StreamServer};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;

/// Plain data types shared with std, re-exported so that a `use` line that
/// names them keeps working after switching to `green::net`.
pub use std::net::{
    AddrParseError, IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6,
};
