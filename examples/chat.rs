//! Chat room: every line a client sends goes to every other connected
//! client, prefixed by the sender's address. Built as in the gevent talk:
//! per connection a reader greenlet (the handler) and a writer greenlet,
//! joined by a `Queue`.
//!
//! ```text
//! cargo run --release --example chat -- 127.0.0.1:7002 [GRACE_MS]
//! ```
//!
//! The first line of output is `listening on ADDR`; then one line per
//! client that joins or leaves. Try it with a few `ncat 127.0.0.1 7002`.
//!
//! Slow clients: each client's queue holds at most 256 lines. When a line
//! arrives for a client whose queue is full, the sender waits up to
//! `GRACE_MS` (default 100 ms) for room; a client still full after that is
//! disconnected (its queue is closed and its socket shut down). So a slow
//! client can delay the others by at most the grace, once, and never stalls
//! them for good.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use green::net::{StreamServer, TcpStream};
use green::sync::{PutTimeoutError, Queue};

const QUEUE_LINES: usize = 256;
const DEFAULT_GRACE: Duration = Duration::from_millis(100);

/// A connected client: its outgoing queue and a handle on its socket (to
/// shut it down if it is too slow).
struct Client {
    queue: Arc<Queue<Arc<str>>>,
    conn: TcpStream,
}

type Room = Rc<RefCell<HashMap<SocketAddr, Client>>>;

/// Removes `addr` from the room if it is still the client with `queue`,
/// closes its queue and shuts its socket down.
fn disconnect(room: &Room, addr: SocketAddr, queue: &Arc<Queue<Arc<str>>>) -> bool {
    let mine = room
        .borrow()
        .get(&addr)
        .is_some_and(|c| Arc::ptr_eq(&c.queue, queue));
    let gone = if mine {
        room.borrow_mut().remove(&addr)
    } else {
        None
    };
    queue.close();
    if let Some(c) = &gone {
        let _ = c.conn.shutdown(Shutdown::Both);
    }
    gone.is_some()
}

/// Hands `msg` to everyone but `from`, disconnecting whoever stays full.
fn broadcast(room: &Room, from: SocketAddr, msg: Arc<str>, grace: Duration) {
    // Snapshot the recipients: `put_timeout` may wait, and others may join
    // or leave meanwhile.
    let targets: Vec<(SocketAddr, Arc<Queue<Arc<str>>>)> = room
        .borrow()
        .iter()
        .filter(|(addr, _)| **addr != from)
        .map(|(addr, c)| (*addr, c.queue.clone()))
        .collect();
    for (addr, q) in targets {
        match q.put_timeout(msg.clone(), grace) {
            Ok(()) | Err(PutTimeoutError::Closed(_)) => {}
            Err(PutTimeoutError::Timeout(_)) => {
                if disconnect(room, addr, &q) {
                    println!("{addr} is too slow: disconnected");
                }
            }
        }
    }
}

fn serve(room: &Room, conn: TcpStream, peer: SocketAddr, grace: Duration) -> io::Result<()> {
    let queue = Arc::new(Queue::bounded(QUEUE_LINES));
    room.borrow_mut().insert(
        peer,
        Client {
            queue: queue.clone(),
            conn: conn.try_clone()?,
        },
    );
    println!("{peer} joined");

    // The writer: takes lines off this client's queue; when the queue is
    // closed (the client left or was too slow) it shuts the socket down,
    // which also ends the reader below.
    let out = conn.try_clone()?;
    let q = queue.clone();
    let writer = green::spawn(move || {
        for msg in q.iter() {
            if (&out).write_all(msg.as_bytes()).is_err() {
                break;
            }
        }
        let _ = out.shutdown(Shutdown::Both);
    });

    // The reader: this greenlet.
    for line in BufReader::new(&conn).lines() {
        let Ok(line) = line else { break };
        broadcast(room, peer, format!("{peer}: {line}\n").into(), grace);
    }

    disconnect(room, peer, &queue);
    let _ = writer.join();
    println!("{peer} left");
    Ok(())
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7002".into());
    let grace =
        match args.next() {
            Some(ms) => Duration::from_millis(ms.parse().map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("GRACE_MS: {e}"))
            })?),
            None => DEFAULT_GRACE,
        };
    let room: Room = Rc::default();
    let server = StreamServer::bind(addr.as_str(), move |conn: TcpStream, peer| {
        serve(&room, conn, peer, grace)
    })?;
    println!("listening on {}", server.local_addr()?);
    server.serve_forever()
}
