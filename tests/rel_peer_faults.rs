//! Peer faults: a peer that resets the connection in the middle of a write
//! or a read, half-closes either direction, never reads, trickles one byte
//! at a time (slowloris), or is not there at all; and a listener shut down
//! while greenlets wait in `accept`. Every waiter gets a clear result, and
//! descriptors, registrations, timers and stacks come back to baseline.
//!
//! Accept under `RLIMIT_NOFILE` exhaustion (with recovery) is covered by
//! `tests/net_server.rs` (`accept_backs_off_under_descriptor_exhaustion`).

mod util;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use green::net::{StreamServer, TcpListener, TcpStream};
use green::Timeout;
use util::{bounded, is_parked, leak_counters, serial, settle, socket_count, DropFlag};

/// A connected pair of green TCP streams.
fn pair() -> (TcpStream, TcpStream) {
    let (a, b) = util::tcp_pair();
    let (a, b) = (
        TcpStream::from_std(a).unwrap(),
        TcpStream::from_std(b).unwrap(),
    );
    a.set_nonblocking(false).unwrap();
    b.set_nonblocking(false).unwrap();
    (a, b)
}

/// Closes `s` with `SO_LINGER` 0: the peer gets a RST, not a FIN.
fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
}

/// Runs `f` and checks that it leaves no descriptor, greenlet, stack,
/// timer or registration behind.
fn no_leaks(f: impl FnOnce()) {
    let _serial = serial();
    bounded(|| {
        let sockets = socket_count();
        let base = green::stats();
        f();
        settle(|| leak_counters(&green::stats()) == leak_counters(&base));
        assert_eq!(socket_count(), sockets, "sockets leaked");
    })
}

#[test]
fn reset_mid_write_fails_the_blocked_writer() {
    no_leaks(|| {
        let (a, b) = pair();
        let writer = green::spawn(move || {
            let big = vec![1u8; 16 << 20];
            (&a).write_all(&big)
        });
        settle(|| is_parked(writer.id()));
        reset(b);
        let e = writer.join().unwrap().unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "{e:?}"
        );
    });
}

#[test]
fn reset_mid_read_fails_every_blocked_reader() {
    no_leaks(|| {
        let (a, b) = pair();
        let a = Rc::new(a);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let a = a.clone();
                green::spawn(move || (&*a).read(&mut [0u8; 16]))
            })
            .collect();
        settle(|| readers.iter().all(|r| is_parked(r.id())));
        reset(b);
        // One reader takes the pending error; the kernel then reports end
        // of file, so the other sees Ok(0) (or the error too): never data,
        // never a hang.
        let results: Vec<_> = readers
            .into_iter()
            .map(|r| r.join().unwrap().map_err(|e| e.kind()))
            .collect();
        assert!(
            results.contains(&Err(ErrorKind::ConnectionReset)),
            "{results:?}"
        );
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(0) | Err(ErrorKind::ConnectionReset))),
            "{results:?}"
        );
    });
}

#[test]
fn half_close_of_the_write_side_wakes_the_peer_reader_and_keeps_the_other_way() {
    no_leaks(|| {
        let (a, b) = pair();
        let b = Rc::new(b);
        let b1 = b.clone();
        let reader = green::spawn(move || {
            let mut got = Vec::new();
            (&*b1).read_to_end(&mut got).unwrap();
            got
        });
        (&a).write_all(b"request").unwrap();
        settle(|| is_parked(reader.id()));
        a.shutdown(Shutdown::Write).unwrap(); // FIN wakes the reader
        assert_eq!(reader.join().unwrap(), b"request");
        // b -> a still flows.
        (&*b).write_all(b"reply").unwrap();
        b.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        (&a).read_to_end(&mut back).unwrap();
        assert_eq!(back, b"reply");
        // Writing after our own shutdown is an error, as in std.
        assert_eq!((&a).write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
    });
}

#[test]
fn half_close_of_the_read_side_keeps_the_write_side_working() {
    no_leaks(|| {
        let (a, b) = pair();
        a.shutdown(Shutdown::Read).unwrap();
        // A read after shutting down reading returns EOF at once.
        assert_eq!((&a).read(&mut [0u8; 8]).unwrap(), 0);
        (&a).write_all(b"still writing").unwrap();
        a.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        (&b).read_to_end(&mut got).unwrap();
        assert_eq!(got, b"still writing");
    });
}

#[test]
fn writer_to_a_peer_that_never_reads_is_freed_by_its_timeout() {
    no_leaks(|| {
        let (a, b) = pair();
        let (guard, dropped) = DropFlag::new();
        let writer = green::spawn(move || {
            let _guard = guard;
            let big = vec![2u8; 64 << 20];
            Timeout::new(Duration::from_millis(50)).run(|| (&a).write_all(&big))
        });
        let r = writer.join().unwrap();
        assert!(r.is_err(), "64 MiB fit into a non-reading peer");
        assert!(dropped.get());
        drop(b);
    });
}

#[test]
fn write_timeout_to_a_peer_that_never_reads_gives_would_block() {
    no_leaks(|| {
        let (a, b) = pair();
        a.set_write_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        let big = vec![3u8; 64 << 20];
        let e = (&a).write_all(&big).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        drop(b);
    });
}

/// Interval between the slow client's bytes (`GREEN_REL_SLOWLORIS_MS`,
/// default 20).
fn slowloris_interval() -> Duration {
    let ms = std::env::var("GREEN_REL_SLOWLORIS_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    Duration::from_millis(ms)
}

/// A server whose handlers give each request a deadline cuts off a client
/// that sends one byte per interval, and serves normal clients meanwhile.
#[test]
fn slowloris_client_is_cut_off_by_the_handler_deadline_and_others_are_served() {
    no_leaks(|| {
        const FAST: usize = 20;
        let cut = Rc::new(Cell::new(0usize));
        let c = cut.clone();
        let server = StreamServer::bind("127.0.0.1:0", move |conn: TcpStream, _| {
            // A request is one line; it must arrive within 10 intervals.
            let deadline = slowloris_interval() * 10;
            let line = Timeout::new(deadline).run(|| {
                let mut line = Vec::new();
                let mut byte = [0u8; 1];
                while (&conn).read(&mut byte)? == 1 && byte[0] != b'\n' {
                    line.push(byte[0]);
                }
                Ok::<_, std::io::Error>(line)
            });
            match line {
                Ok(line) => (&conn).write_all(&line?),
                Err(_) => {
                    c.set(c.get() + 1);
                    Ok(())
                }
            }
        })
        .unwrap()
        .start()
        .unwrap();
        let addr = server.local_addr();
        let slow = green::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            // At most 100 bytes: 10x the server's deadline.
            for sent in 0..100 {
                if s.write_all(b"a").is_err() {
                    return sent;
                }
                green::sleep(slowloris_interval());
            }
            panic!("the server never cut off the slow client");
        });
        let fast: Vec<_> = (0..FAST)
            .map(|i| {
                green::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.write_all(format!("client {i}\n").as_bytes()).unwrap();
                    let mut back = String::new();
                    s.read_to_string(&mut back).unwrap();
                    back
                })
            })
            .collect();
        for (i, f) in fast.into_iter().enumerate() {
            assert_eq!(f.join().unwrap(), format!("client {i}"));
        }
        let sent = slow.join().unwrap();
        assert!(sent >= 1);
        assert_eq!(cut.get(), 1);
        assert_eq!(server.stop(Duration::from_secs(1)), 0);
    });
}

#[test]
fn connect_to_a_closed_port_is_refused_and_leaks_nothing() {
    no_leaks(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        for _ in 0..10 {
            let e = TcpStream::connect(addr).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        }
    });
}

/// A listener cannot be dropped while greenlets borrow it in `accept`
/// (ownership forbids it). Shutting it down (`shutdown(2)` on its
/// descriptor, the way to close it under them) wakes every waiter with an
/// error (`EINVAL`, `InvalidInput`); none hangs.
#[test]
fn listener_shut_down_under_waiting_acceptors_wakes_them_all_with_an_error() {
    no_leaks(|| {
        let l = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let l = l.clone();
                green::spawn(move || l.accept().map(drop))
            })
            .collect();
        settle(|| waiters.iter().all(|w| is_parked(w.id())));
        // SAFETY: a plain shutdown(2) on a descriptor `l` keeps open.
        let rc = unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
        assert_eq!(rc, 0);
        for w in waiters {
            let e = w.join().unwrap().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
        }
    });
}

/// Dropping one handle of a listener (`try_clone`) leaves the socket open
/// for the greenlets waiting on the other: they still accept.
#[test]
fn dropping_a_listener_clone_leaves_waiters_on_the_other_accepting() {
    no_leaks(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let clone = l.try_clone().unwrap();
        let waiter = green::spawn(move || clone.accept().map(|(_, peer)| peer));
        settle(|| is_parked(waiter.id()));
        drop(l);
        let c = TcpStream::connect(addr).unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), c.local_addr().unwrap());
    });
}

/// Stopping a server whose acceptor waits in `accept` closes the listener:
/// later connects are refused.
#[test]
fn stopping_a_server_closes_its_listener_under_the_waiting_acceptor() {
    no_leaks(|| {
        let server = StreamServer::bind("127.0.0.1:0", |_c: TcpStream, _| ())
            .unwrap()
            .start()
            .unwrap();
        let addr = server.local_addr();
        green::yield_now(); // the acceptor parks in accept
        assert_eq!(server.stop(Duration::ZERO), 0);
        assert!(server.is_stopped());
        assert_eq!(
            TcpStream::connect(addr).unwrap_err().kind(),
            ErrorKind::ConnectionRefused
        );
    });
}
