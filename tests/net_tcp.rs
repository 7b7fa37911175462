//! Green-specific TCP behaviour: full duplex on one socket, readers that
//! queue up, timeouts, refused and reset connections, half-close, host
//! names, vectored I/O, and sockets that move between threads.

use std::cell::Cell;
use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

use green::net::{SocketAddr, TcpListener, TcpStream};

mod util;
use util::green_tcp_pair as pair;

/// Safety net: a test that would hang fails instead (every green wait of
/// the test's main context unwinds once this passes).
fn bounded<T>(f: impl FnOnce() -> T) -> T {
    green::with_timeout(std::time::Duration::from_secs(120), f)
        .expect("the test did not finish within its safety deadline")
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Both ends write 8 MiB while reading 8 MiB, each with a reader greenlet
/// and a writer greenlet on the same socket: far more than the socket
/// buffers hold, so it only finishes if a parked writer does not stop the
/// reader of the same socket (and vice versa).
#[test]
fn reader_and_writer_greenlets_share_one_socket() {
    bounded(|| {
        const LEN: usize = 8 << 20;
        let (c, s) = pair();
        let mut joins = Vec::new();
        for (sock, seed_out, seed_in) in [(c, 1u8, 2u8), (s, 2, 1)] {
            let sock = Rc::new(sock);
            let w = sock.clone();
            joins.push(green::spawn(move || {
                (&*w).write_all(&pattern(seed_out, LEN)).unwrap();
                true
            }));
            joins.push(green::spawn(move || {
                let mut got = vec![0u8; LEN];
                (&*sock).read_exact(&mut got).unwrap();
                got == pattern(seed_in, LEN)
            }));
        }
        for j in joins {
            assert!(j.join().unwrap());
        }
    })
}

/// Two greenlets parked reading one socket: each message wakes a reader,
/// and no byte is lost or read twice.
#[test]
fn two_readers_on_one_socket_both_get_data() {
    bounded(|| {
        let (c, s) = pair();
        let s = Rc::new(s);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                green::spawn(move || {
                    let mut b = [0u8; 1];
                    (&*s).read_exact(&mut b).unwrap();
                    b[0]
                })
            })
            .collect();
        green::yield_now(); // both readers park
        (&c).write_all(b"a").unwrap();
        green::yield_now();
        (&c).write_all(b"b").unwrap();
        let mut got: Vec<u8> = readers.into_iter().map(|r| r.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, b"ab");
    })
}

#[test]
fn other_greenlets_run_while_a_read_waits() {
    bounded(|| {
        let (c, s) = pair();
        let ran = Rc::new(Cell::new(0));
        let r = ran.clone();
        let ticker = green::spawn(move || {
            for _ in 0..5 {
                r.set(r.get() + 1);
                green::yield_now();
            }
        });
        let writer = green::spawn(move || {
            ticker.join().unwrap();
            (&c).write_all(b"done").unwrap();
        });
        let mut b = [0u8; 4];
        (&s).read_exact(&mut b).unwrap();
        assert_eq!(ran.get(), 5);
        writer.join().unwrap();
    })
}

#[test]
fn write_timeout_gives_would_block_when_the_peer_does_not_read() {
    bounded(|| {
        let (c, _s) = pair();
        c.set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let chunk = vec![0u8; 1 << 16];
        let mut total = 0usize;
        let err = loop {
            match (&c).write(&chunk) {
                Ok(n) => total += n,
                Err(e) => break e,
            }
            assert!(total < 1 << 30, "the peer never reads; buffers must fill");
        };
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert!(total > 0);
    })
}

#[test]
fn read_timeout_lets_other_greenlets_run() {
    bounded(|| {
        let (c, _s) = pair();
        c.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        let other = green::spawn(|| 7);
        let mut b = [0u8; 1];
        assert_eq!((&c).read(&mut b).unwrap_err().kind(), ErrorKind::WouldBlock);
        assert!(other.is_finished());
        assert_eq!(other.join().unwrap(), 7);
    })
}

/// A listener with backlog 0 whose queue is full drops further SYNs, so a
/// connect to it cannot complete: `connect_timeout` gives `TimedOut`.
#[test]
fn connect_timeout_expires_when_syns_are_dropped() {
    bounded(|| {
        use socket2::{Domain, Socket, Type};
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        sock.listen(0).unwrap();
        let addr = sock.local_addr().unwrap().as_socket().unwrap();
        let mut held = Vec::new();
        let err = loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => held.push(s),
                Err(e) => break e,
            }
            assert!(
                held.len() < 64,
                "the accept queue of backlog 0 never filled"
            );
        };
        assert_eq!(err.kind(), ErrorKind::TimedOut);
    })
}

#[test]
fn a_timeout_region_cuts_a_blocked_read() {
    bounded(|| {
        let (c, _s) = pair();
        let r = green::with_timeout(Duration::from_millis(20), || {
            let mut b = [0u8; 1];
            (&c).read(&mut b)
        });
        assert!(r.is_err());
        // The socket is still usable afterwards.
        c.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let mut b = [0u8; 1];
        assert_eq!((&c).read(&mut b).unwrap_err().kind(), ErrorKind::WouldBlock);
    })
}

#[test]
fn reset_by_peer_gives_connection_reset() {
    bounded(|| {
        let (c, s) = pair();
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s); // RST
        let mut b = [0u8; 8];
        let e = (&c).read(&mut b).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    })
}

#[test]
fn connect_refused_on_a_closed_port() {
    bounded(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        assert_eq!(
            TcpStream::connect(addr).unwrap_err().kind(),
            ErrorKind::ConnectionRefused
        );
    })
}

#[test]
fn half_close_reads_to_eof_and_still_writes() {
    bounded(|| {
        let (c, s) = pair();
        let peer = green::spawn(move || {
            let mut all = Vec::new();
            (&s).read_to_end(&mut all).unwrap();
            (&s).write_all(&all).unwrap();
            (&s).write_all(b"|end").unwrap();
        });
        (&c).write_all(b"half").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = String::new();
        (&c).read_to_string(&mut back).unwrap();
        assert_eq!(back, "half|end");
        peer.join().unwrap();
    })
}

#[test]
fn host_names_resolve_off_the_hub() {
    bounded(|| {
        let l = TcpListener::bind("localhost:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = TcpStream::connect(("localhost", port)).unwrap();
        let (_s, peer) = l.accept().unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        let e = TcpStream::connect("no-such-host.invalid:80").unwrap_err();
        assert_ne!(e.kind(), ErrorKind::WouldBlock);
    })
}

#[test]
fn vectored_io_moves_every_slice() {
    bounded(|| {
        let (c, s) = pair();
        let n = (&c)
            .write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cde")])
            .unwrap();
        assert_eq!(n, 5);
        let (mut x, mut y) = ([0u8; 2], [0u8; 3]);
        let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
        // One 5-byte segment on loopback: it arrives, and is read, whole.
        assert_eq!((&s).read_vectored(&mut bufs).unwrap(), 5);
        assert_eq!((&x, &y), (b"ab", b"cde"));
    })
}

/// A green socket created on one thread works on another: it moves its
/// registration to that thread's hub.
#[test]
fn a_socket_moves_to_another_thread() {
    bounded(|| {
        let (c, s) = pair();
        let mut b = [0u8; 1];
        (&c).write_all(b"1").unwrap();
        (&s).read_exact(&mut b).unwrap(); // s may now be registered here
        let t = std::thread::spawn(move || {
            let mut b = [0u8; 2];
            (&s).read_exact(&mut b).unwrap();
            (&s).write_all(&b).unwrap();
            b
        });
        (&c).write_all(b"23").unwrap();
        let mut back = [0u8; 2];
        (&c).read_exact(&mut back).unwrap();
        assert_eq!(&back, b"23");
        assert_eq!(&t.join().unwrap(), b"23");
    })
}

#[test]
fn from_std_and_into_std_keep_std_semantics() {
    bounded(|| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let green_l = TcpListener::from(l);
        let c = TcpStream::connect(addr).unwrap();
        let (s, _) = green_l.accept().unwrap();
        let std_s = s.into_std().unwrap();
        // Back in std's blocking mode: a plain blocking read works.
        (&c).write_all(b"z").unwrap();
        let mut b = [0u8; 1];
        (&std_s).read_exact(&mut b).unwrap();
        assert_eq!(&b, b"z");
        let raw = std::os::fd::IntoRawFd::into_raw_fd(c);
        // SAFETY: `raw` was just given up by `c` and is owned by nobody else.
        let c2 = unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        (&std_s).write_all(b"y").unwrap();
        (&c2).read_exact(&mut b).unwrap();
        assert_eq!(&b, b"y");
    })
}

/// Regression: a listener accepted on from two threads used to have its
/// registration taken back and forth between their hubs, each waking the
/// other: both hubs spun. Now each hub has its own registration and both
/// simply wait.
#[test]
fn listener_shared_by_two_threads_waits_without_spinning() {
    let listener = std::sync::Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let l = listener.clone();
            std::thread::spawn(move || {
                let before = green::stats().polls;
                let (conn, _) = l.accept().unwrap();
                let polls = green::stats().polls - before;
                drop(conn);
                polls
            })
        })
        .collect();
    // Give both threads ample time to block in accept: a spinning hub
    // would poll thousands of times meanwhile.
    std::thread::sleep(Duration::from_millis(200));
    let c1 = std::net::TcpStream::connect(addr).unwrap();
    let c2 = std::net::TcpStream::connect(addr).unwrap();
    for t in threads {
        let polls = t.join().unwrap();
        assert!(
            polls < 50,
            "a hub polled {polls} times while waiting in accept"
        );
    }
    drop((c1, c2));
}
