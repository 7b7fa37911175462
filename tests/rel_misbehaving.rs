//! Misbehaving handlers: a `StreamServer` whose handlers panic keeps
//! serving, returns every pool permit and leaks nothing.
//!
//! The other misbehaviours have suites of their own (see
//! `docs/RELIABILITY.md`): a deadlock in the main context
//! (`tests/deadlock.rs`, `tests/sync_deadlock.rs`), a CPU hog reported by
//! the watchdog (`tests/watchdog.rs`), a stack overflow
//! (`tests/stack_overflow.rs`) and panics in plain greenlets
//! (`tests/panics.rs`).

mod util;

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use green::net::{DatagramServer, Reply, StreamServer, TcpStream, UdpSocket};
use util::{bounded, leak_counters, serial, settle, socket_count};

/// Sends `req`, half-closes, and returns the whole reply ("" if the
/// handler died without answering).
fn ask(addr: std::net::SocketAddr, req: &str) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(req.as_bytes()).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = String::new();
    // A panicking handler drops its connection: EOF, or a reset if it
    // left unread data behind.
    let _ = c.read_to_string(&mut back);
    back
}

/// With a pool of one handler, a panic that leaked its permit would stop
/// the server from ever accepting again; it keeps serving.
#[test]
fn panicking_handlers_leave_the_server_serving_with_its_pool_intact() {
    let _serial = serial();
    bounded(|| {
        let sockets = socket_count();
        let base = green::stats();
        let served = Rc::new(Cell::new(0usize));
        let s = served.clone();
        let server = StreamServer::bind("127.0.0.1:0", move |conn: TcpStream, _| {
            let mut req = String::new();
            (&conn).read_to_string(&mut req)?;
            if req == "boom" {
                panic!("handler asked to panic");
            }
            s.set(s.get() + 1);
            (&conn).write_all(req.to_uppercase().as_bytes())
        })
        .unwrap()
        .with_pool_size(1)
        .start()
        .unwrap();
        let addr = server.local_addr();
        for round in 0..5 {
            assert_eq!(ask(addr, "boom"), "", "round {round}");
            assert_eq!(ask(addr, "hello"), "HELLO", "round {round}");
        }
        // Concurrently: panicking and healthy clients interleaved.
        let clients: Vec<_> = (0..20)
            .map(|i| {
                green::spawn(move || {
                    let req = if i % 2 == 0 { "boom" } else { "ok" };
                    (i, ask(addr, req))
                })
            })
            .collect();
        for c in clients {
            let (i, reply) = c.join().unwrap();
            assert_eq!(reply, if i % 2 == 0 { "" } else { "OK" });
        }
        assert_eq!(served.get(), 15);
        settle(|| server.handlers() == 0);
        assert_eq!(server.stop(Duration::from_secs(1)), 0);
        drop(server);
        settle(|| leak_counters(&green::stats()) == leak_counters(&base));
        assert_eq!(socket_count(), sockets, "sockets leaked");
    })
}

/// A handler that is killed (by `stop`) while it blocks is cleaned up the
/// same way: its connection closes and nothing is left behind.
#[test]
fn handlers_stuck_on_silent_clients_are_killed_by_stop_and_leak_nothing() {
    let _serial = serial();
    bounded(|| {
        let sockets = socket_count();
        let base = green::stats();
        let server = StreamServer::bind("127.0.0.1:0", |conn: TcpStream, _| {
            // Waits for a request that never comes.
            (&conn).read(&mut [0u8; 1]).map(drop)
        })
        .unwrap()
        .start()
        .unwrap();
        let addr = server.local_addr();
        let silent: Vec<_> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
        settle(|| server.handlers() == 10 && green::stats().io_waiters >= 10);
        assert_eq!(server.stop(Duration::from_millis(20)), 10);
        // Each silent client sees its connection closed.
        for mut c in silent {
            assert_eq!(c.read(&mut [0u8; 1]).unwrap(), 0);
        }
        drop(server);
        settle(|| leak_counters(&green::stats()) == leak_counters(&base));
        assert_eq!(socket_count(), sockets, "sockets leaked");
    })
}

/// A `DatagramServer` whose handler panics on some datagrams keeps
/// answering the others.
#[test]
fn panicking_datagram_handlers_leave_the_server_answering() {
    let _serial = serial();
    bounded(|| {
        let sockets = socket_count();
        let base = green::stats();
        let server = DatagramServer::bind("127.0.0.1:0", |data: Vec<u8>, _peer, reply: Reply| {
            if data == b"boom" {
                panic!("datagram handler asked to panic");
            }
            reply.send(&data.to_ascii_uppercase()).map(drop)
        })
        .unwrap()
        .start()
        .unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.connect(server.local_addr()).unwrap();
        for i in 0..10 {
            c.send(b"boom").unwrap();
            let msg = format!("ping {i}");
            c.send(msg.as_bytes()).unwrap();
            let mut buf = [0u8; 64];
            let n = c.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], msg.to_uppercase().as_bytes());
        }
        settle(|| server.handlers() == 0);
        assert_eq!(server.stop(Duration::from_secs(1)), 0);
        drop((server, c));
        settle(|| leak_counters(&green::stats()) == leak_counters(&base));
        assert_eq!(socket_count(), sockets, "sockets leaked");
    })
}
