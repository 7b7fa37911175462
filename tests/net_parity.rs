//! Adversarial std-parity audit of `green::net`: each test runs the same
//! scenario over real sockets with `std::net` (or `std::os::unix::net`) and
//! with `green::net`, and asserts that a user sees the same results and
//! error kinds. Where std would block an OS thread, its peer runs on a
//! thread; green's peer runs in a greenlet. A green operation that should
//! return at once but would wait is cut by a green `with_timeout` and
//! reported as a hang (no test relies on timing to pass).

use std::io::{self, BufRead, ErrorKind, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

mod util;
use util::bounded;

/// How long a green operation that must not wait may take before the test
/// calls it a hang. Generous: it only decides how a failure is reported.
const HANG: Duration = Duration::from_secs(3);

/// Runs `f`, failing the test with `what` if it stays parked past [`HANG`].
#[track_caller]
fn no_hang<T>(what: &str, f: impl FnOnce() -> T) -> T {
    match green::with_timeout(HANG, f) {
        Ok(v) => v,
        Err(_) => panic!("green hangs where std returns: {what}"),
    }
}

fn kind<T: std::fmt::Debug>(r: io::Result<T>) -> ErrorKind {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e.kind(),
    }
}

/// A connected std TCP pair (client, server) on 127.0.0.1.
fn std_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

use util::green_tcp_pair as green_pair;

/// A fresh directory for Unix socket paths, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "green-parity-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- try_clone: the clones share one socket ----

/// std: `set_nonblocking` sets `O_NONBLOCK` on the open file, which every
/// clone shares, so a read through the other clone gives `WouldBlock`.
#[test]
fn try_clone_shares_nonblocking_mode() {
    bounded(|| {
        let (_c, s) = std_pair();
        let s2 = s.try_clone().unwrap();
        s.set_nonblocking(true).unwrap();
        assert_eq!(kind(s2.peek(&mut [0; 4])), ErrorKind::WouldBlock);
        assert_eq!(kind((&s2).read(&mut [0; 4])), ErrorKind::WouldBlock);

        let (_c, s) = green_pair();
        let s2 = s.try_clone().unwrap();
        s.set_nonblocking(true).unwrap();
        no_hang("read through a clone of a non-blocking stream", || {
            assert_eq!(kind(s2.peek(&mut [0; 4])), ErrorKind::WouldBlock);
            assert_eq!(kind((&s2).read(&mut [0; 4])), ErrorKind::WouldBlock);
        });
        // And back: blocking again for both.
        s2.set_nonblocking(false).unwrap();
        let (mut c, s) = green_pair();
        let s2 = s.try_clone().unwrap();
        s2.set_nonblocking(true).unwrap();
        s.set_nonblocking(false).unwrap();
        let w = green::spawn(move || c.write_all(b"x"));
        let mut b = [0u8; 1];
        (&s2).read_exact(&mut b).unwrap(); // parks, as std would block
        w.join().unwrap().unwrap();
    })
}

/// std: `SO_RCVTIMEO` belongs to the socket, so a timeout set through one
/// clone applies to reads through the other.
#[test]
fn try_clone_shares_read_timeout() {
    bounded(|| {
        let t = Some(Duration::from_millis(20));
        let (_c, s) = std_pair();
        let s2 = s.try_clone().unwrap();
        s.set_read_timeout(t).unwrap();
        assert_eq!(s2.read_timeout().unwrap(), t);
        assert_eq!(kind((&s2).read(&mut [0; 4])), ErrorKind::WouldBlock);

        let (_c, s) = green_pair();
        let s2 = s.try_clone().unwrap();
        s.set_read_timeout(t).unwrap();
        assert_eq!(s2.read_timeout().unwrap(), t);
        no_hang("read through a clone after set_read_timeout", || {
            assert_eq!(kind((&s2).read(&mut [0; 4])), ErrorKind::WouldBlock);
        });
        // Clearing it through the clone clears it for the original too.
        s2.set_read_timeout(None).unwrap();
        assert_eq!(s.read_timeout().unwrap(), None);
    })
}

/// The same for a listener: `accept` through a clone of a listener made
/// non-blocking gives `WouldBlock`.
#[test]
fn try_clone_shares_listener_nonblocking_mode() {
    bounded(|| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let l2 = l.try_clone().unwrap();
        l.set_nonblocking(true).unwrap();
        assert_eq!(kind(l2.accept()), ErrorKind::WouldBlock);

        let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let l2 = l.try_clone().unwrap();
        l.set_nonblocking(true).unwrap();
        no_hang("accept through a clone of a non-blocking listener", || {
            assert_eq!(kind(l2.accept()), ErrorKind::WouldBlock);
        });
    })
}

/// UDP and Unix sockets: mode and timeouts shared between clones.
#[test]
fn try_clone_shares_mode_for_udp_and_unix() {
    bounded(|| {
        let t = Some(Duration::from_millis(20));
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let u2 = u.try_clone().unwrap();
        u.set_read_timeout(t).unwrap();
        assert_eq!(kind(u2.recv_from(&mut [0; 4])), ErrorKind::WouldBlock);
        u.set_read_timeout(None).unwrap();
        u.set_nonblocking(true).unwrap();
        assert_eq!(kind(u2.recv(&mut [0; 4])), ErrorKind::WouldBlock);

        let u = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let u2 = u.try_clone().unwrap();
        u.set_read_timeout(t).unwrap();
        no_hang(
            "UDP recv_from through a clone after set_read_timeout",
            || {
                assert_eq!(kind(u2.recv_from(&mut [0; 4])), ErrorKind::WouldBlock);
            },
        );
        u.set_read_timeout(None).unwrap();
        u.set_nonblocking(true).unwrap();
        no_hang("UDP recv through a clone of a non-blocking socket", || {
            assert_eq!(kind(u2.recv(&mut [0; 4])), ErrorKind::WouldBlock);
        });

        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a2 = a.try_clone().unwrap();
        a.set_nonblocking(true).unwrap();
        assert_eq!(kind((&a2).read(&mut [0; 4])), ErrorKind::WouldBlock);
        let (a, _b) = green::net::unix::UnixStream::pair().unwrap();
        let a2 = a.try_clone().unwrap();
        a.set_nonblocking(true).unwrap();
        no_hang("Unix read through a clone of a non-blocking stream", || {
            assert_eq!(kind((&a2).read(&mut [0; 4])), ErrorKind::WouldBlock);
        });

        let (a, _b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let a2 = a.try_clone().unwrap();
        a.set_read_timeout(t).unwrap();
        assert_eq!(kind(a2.recv(&mut [0; 4])), ErrorKind::WouldBlock);
        let (a, _b) = green::net::unix::UnixDatagram::pair().unwrap();
        let a2 = a.try_clone().unwrap();
        a.set_read_timeout(t).unwrap();
        no_hang("Unix datagram recv through a clone after a timeout", || {
            assert_eq!(kind(a2.recv(&mut [0; 4])), ErrorKind::WouldBlock);
        });

        let dir = TempDir::new("lclone");
        let l = green::net::unix::UnixListener::bind(dir.path("l.sock")).unwrap();
        let l2 = l.try_clone().unwrap();
        l.set_nonblocking(true).unwrap();
        no_hang(
            "Unix accept through a clone of a non-blocking listener",
            || {
                assert_eq!(kind(l2.accept()), ErrorKind::WouldBlock);
            },
        );
    })
}

/// Two greenlets parked reading the same socket through two clones: every
/// byte is read exactly once, and both finish.
#[test]
fn readers_on_two_clones_share_the_data() {
    bounded(|| {
        const PER: usize = 64;
        let (mut c, s) = green_pair();
        let s2 = s.try_clone().unwrap();
        let readers: Vec<_> = [s, s2]
            .into_iter()
            .map(|s| {
                green::spawn(move || {
                    let mut got = Vec::new();
                    let mut b = [0u8; 1];
                    for _ in 0..PER {
                        (&s).read_exact(&mut b).unwrap();
                        got.push(b[0]);
                    }
                    got
                })
            })
            .collect();
        green::yield_now(); // both park
        for i in 0..2 * PER {
            c.write_all(&[i as u8]).unwrap();
            green::yield_now();
        }
        let mut all: Vec<u8> = readers
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect();
        all.sort();
        assert_eq!(all, (0..2 * PER).map(|i| i as u8).collect::<Vec<_>>());
    })
}

// ---- shutdown or drop while another clone waits ----

/// std: `shutdown(Read)` through one clone ends a read blocked on the
/// other with `Ok(0)`; `shutdown(Write)` ends a blocked write with
/// `BrokenPipe`.
#[test]
fn shutdown_through_a_clone_wakes_a_parked_reader_and_writer() {
    bounded(|| {
        // std, with the blocked calls on threads.
        let (_c, s) = std_pair();
        let s2 = s.try_clone().unwrap();
        let r = thread::spawn(move || (&s2).read(&mut [0; 16]).map_err(|e| e.kind()));
        while !is_thread_blocked(&r) {
            thread::yield_now();
        }
        s.shutdown(Shutdown::Read).unwrap();
        let std_read = r.join().unwrap();
        assert_eq!(std_read, Ok(0));

        let (_c, s) = std_pair();
        let s2 = s.try_clone().unwrap();
        let w = thread::spawn(move || {
            let buf = vec![7u8; 1 << 20];
            loop {
                if let Err(e) = (&s2).write(&buf) {
                    return e.kind();
                }
            }
        });
        thread::sleep(Duration::from_millis(50)); // let it fill the buffers
        s.shutdown(Shutdown::Write).unwrap();
        let std_write = w.join().unwrap();
        assert_eq!(std_write, ErrorKind::BrokenPipe);

        // green, with the parked calls in greenlets.
        let (_c, s) = green_pair();
        let s2 = s.try_clone().unwrap();
        let r = green::spawn(move || (&s2).read(&mut [0; 16]).map_err(|e| e.kind()));
        green::yield_now();
        s.shutdown(Shutdown::Read).unwrap();
        assert_eq!(
            no_hang("read after shutdown(Read)", || r.join().unwrap()),
            std_read
        );

        let (_c, s) = green_pair();
        let s2 = s.try_clone().unwrap();
        let w = green::spawn(move || {
            let buf = vec![7u8; 1 << 20];
            loop {
                if let Err(e) = (&s2).write(&buf) {
                    return e.kind();
                }
            }
        });
        green::yield_now(); // the writer fills the buffers and parks
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(
            no_hang("write after shutdown(Write)", || w.join().unwrap()),
            std_write
        );
    })
}

/// True once the thread is off the CPU (blocked in a syscall): read from
/// `/proc/self/task/TID/stat` would need the tid, so this just gives the
/// thread time to reach its blocking call; a late arrival only makes the
/// std half test the "shutdown before the read" case, which gives the same
/// result on Linux.
fn is_thread_blocked<T>(_h: &thread::JoinHandle<T>) -> bool {
    thread::sleep(Duration::from_millis(20));
    true
}

/// Unix streams: the same with `shutdown` through a clone.
#[test]
fn unix_shutdown_through_a_clone_wakes_a_parked_reader() {
    bounded(|| {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a2 = a.try_clone().unwrap();
        let r = thread::spawn(move || (&a2).read(&mut [0; 16]).map_err(|e| e.kind()));
        is_thread_blocked(&r);
        a.shutdown(Shutdown::Read).unwrap();
        let std_read = r.join().unwrap();

        let (a, _b) = green::net::unix::UnixStream::pair().unwrap();
        let a2 = a.try_clone().unwrap();
        let r = green::spawn(move || (&a2).read(&mut [0; 16]).map_err(|e| e.kind()));
        green::yield_now();
        a.shutdown(Shutdown::Read).unwrap();
        assert_eq!(
            no_hang("Unix read after shutdown(Read)", || r.join().unwrap()),
            std_read
        );
    })
}

/// Dropping one clone does not close the socket: a reader parked on the
/// other still gets the data that arrives later (std: the blocked read
/// continues).
#[test]
fn dropping_a_clone_leaves_a_parked_reader_waiting_for_data() {
    bounded(|| {
        let (mut c, s) = green_pair();
        let s2 = s.try_clone().unwrap();
        let r = green::spawn(move || {
            let mut b = [0u8; 5];
            (&s2).read_exact(&mut b).map(|_| b)
        });
        green::yield_now();
        drop(s);
        green::yield_now();
        c.write_all(b"hello").unwrap();
        assert_eq!(&r.join().unwrap().unwrap(), b"hello");
    })
}

/// std: `shutdown(Both)` of a listening socket (through `socket2`, std has
/// no method for it) makes a blocked `accept` fail with `InvalidInput`
/// (`EINVAL`): a known way to stop an acceptor thread.
#[test]
fn listener_shutdown_wakes_a_parked_accept() {
    bounded(|| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let l2 = l.try_clone().unwrap();
        let a = thread::spawn(move || l2.accept().map(drop).map_err(|e| e.kind()));
        is_thread_blocked(&a);
        socket2::SockRef::from(&l).shutdown(Shutdown::Both).unwrap();
        let std_accept = a.join().unwrap();

        let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let l2 = l.try_clone().unwrap();
        let a = green::spawn(move || l2.accept().map(drop).map_err(|e| e.kind()));
        green::yield_now();
        socket2::SockRef::from(&l).shutdown(Shutdown::Both).unwrap();
        assert_eq!(
            no_hang("accept after shutdown", || a.join().unwrap()),
            std_accept
        );
    })
}

// ---- blocking writes ----

/// std on Linux: a blocking `write` on a stream socket returns only once
/// the whole buffer is in the kernel (or an error or timeout cuts it), so
/// `write(&big)` returns `big.len()`. Green must not return a short count
/// just because the send buffer filled.
#[test]
fn blocking_write_sends_the_whole_buffer() {
    bounded(|| {
        const LEN: usize = 8 << 20;
        let big = vec![3u8; LEN];

        let (c, mut s) = std_pair();
        let reader = thread::spawn(move || {
            let mut v = Vec::new();
            s.read_to_end(&mut v).map(|_| v.len())
        });
        let n = (&c).write(&big).unwrap();
        drop(c);
        assert_eq!(n, LEN, "std writes the whole buffer");
        assert_eq!(reader.join().unwrap().unwrap(), LEN);

        let (c, mut s) = green_pair();
        let reader = green::spawn(move || {
            let mut v = Vec::new();
            s.read_to_end(&mut v).map(|_| v.len())
        });
        let n = (&c).write(&big).unwrap();
        drop(c);
        assert_eq!(n, LEN, "green writes the whole buffer, as std");
        assert_eq!(reader.join().unwrap().unwrap(), LEN);

        // Vectored, and over a Unix stream.
        let (a, mut b) = green::net::unix::UnixStream::pair().unwrap();
        let reader = green::spawn(move || {
            let mut v = Vec::new();
            b.read_to_end(&mut v).map(|_| v)
        });
        let halves = [IoSlice::new(&big[..LEN / 2]), IoSlice::new(&big[LEN / 2..])];
        let n = (&a).write_vectored(&halves).unwrap();
        drop(a);
        assert_eq!(n, LEN);
        assert_eq!(reader.join().unwrap().unwrap(), big);
    })
}

/// std: a blocking write cut by `SO_SNDTIMEO` after some bytes went
/// returns the count sent, not an error; with none sent, `WouldBlock`.
#[test]
fn write_timeout_after_partial_send_returns_the_count() {
    bounded(|| {
        const LEN: usize = 32 << 20;
        let big = vec![1u8; LEN];
        let t = Some(Duration::from_millis(30));

        let (c, _s) = std_pair();
        c.set_write_timeout(t).unwrap();
        let n = (&c).write(&big).unwrap();
        assert!(n > 0 && n < LEN, "std: partial count {n}");
        loop {
            match (&c).write(&big) {
                Ok(n) => assert!(n > 0),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::WouldBlock);
                    break;
                }
            }
        }

        let (c, _s) = green_pair();
        c.set_write_timeout(t).unwrap();
        let n = (&c).write(&big).unwrap();
        assert!(n > 0 && n < LEN, "green: partial count {n}");
        loop {
            match (&c).write(&big) {
                Ok(n) => assert!(n > 0),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::WouldBlock);
                    break;
                }
            }
        }
    })
}

/// A green `Timeout` that expires while a blocking write waits for room,
/// after some of its bytes went, must not lose their count: the write
/// returns it (as std's write does when a signal interrupts it), so a
/// caller that retries the rest under a new `Timeout` sends every byte
/// exactly once. Plain and vectored (many slices, so the rest starts
/// inside one).
#[test]
fn timeout_during_a_write_keeps_the_count_of_what_went() {
    bounded(|| {
        // More than loopback's send and receive buffers hold together, so
        // the first attempt waits for the reader, which starts only after it.
        const LEN: usize = 32 << 20;
        let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        for vectored in [false, true] {
            let (c, mut s) = green_pair();
            let first_done = std::rc::Rc::new(std::cell::Cell::new(false));
            let seen = first_done.clone();
            let reader = green::spawn(move || {
                util::yield_until(|| seen.get());
                let mut v = Vec::new();
                s.read_to_end(&mut v).map(|_| v)
            });
            let (mut off, mut cut) = (0, 0);
            while off < LEN {
                let attempt = green::with_timeout(Duration::from_millis(20), || {
                    let rest = &data[off..];
                    if vectored {
                        let parts: Vec<IoSlice<'_>> =
                            rest.chunks(100_003).map(IoSlice::new).collect();
                        (&c).write_vectored(&parts)
                    } else {
                        (&c).write(rest)
                    }
                });
                first_done.set(true);
                match attempt {
                    Ok(Ok(n)) => {
                        assert!(n > 0);
                        if off + n < LEN {
                            cut += 1;
                        }
                        off += n;
                    }
                    Ok(Err(e)) => panic!("write: {e}"),
                    Err(_) => cut += 1, // expired before anything went
                }
            }
            drop(c);
            assert!(cut > 0, "the first attempt waits for the reader and is cut");
            let got = no_hang("read the stream", || reader.join().unwrap().unwrap());
            assert_eq!(got.len(), LEN, "vectored: {vectored}");
            assert!(got == data, "vectored: {vectored}: bytes out of order");
        }
    })
}

/// A kill that reaches a writer waiting for room after part of its buffer
/// went ends it as killed, as every kill does: the write does not catch it
/// (nobody would ever deliver it again if the greenlet did not block).
#[test]
fn kill_during_a_write_ends_the_writer_as_killed() {
    bounded(|| {
        let (c, _silent) = green_pair();
        let big = vec![7u8; 32 << 20];
        let w = green::spawn(move || (&c).write(&big).map_err(|e| e.kind()));
        // The writer runs until the buffers are full and parks.
        green::yield_now();
        w.kill();
        let end = no_hang("join the killed writer", || w.join());
        assert!(
            end.as_ref().is_err_and(|e| e.is_killed()),
            "the writer ended with {end:?}"
        );
    })
}

// ---- conversions keep std's mode ----

/// `From<std::net::TcpStream>` (and `FromRawFd`) keep a non-blocking mode
/// the caller had set, as `from_std` does and the docs promise.
#[test]
fn from_std_socket_keeps_its_nonblocking_mode() {
    bounded(|| {
        let (_c, s) = std_pair();
        s.set_nonblocking(true).unwrap();
        let g = green::net::TcpStream::from(s);
        no_hang("read on a stream made green by From", || {
            assert_eq!(kind((&g).read(&mut [0; 4])), ErrorKind::WouldBlock);
        });

        let (_c, s) = std_pair();
        s.set_nonblocking(true).unwrap();
        // SAFETY: the descriptor is an open TCP socket handed over.
        let g = unsafe { green::net::TcpStream::from_raw_fd(s.into_raw_fd()) };
        no_hang("read on a stream made green by from_raw_fd", || {
            assert_eq!(kind((&g).read(&mut [0; 4])), ErrorKind::WouldBlock);
        });
        // And back: into_raw_fd gives a non-blocking descriptor again.
        // SAFETY: the descriptor is the open TCP socket just given up.
        let back = unsafe { std::net::TcpStream::from_raw_fd(g.into_raw_fd()) };
        assert_eq!(kind((&back).read(&mut [0; 4])), ErrorKind::WouldBlock);

        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let g = green::net::TcpListener::from(l);
        no_hang("accept on a listener made green by From", || {
            assert_eq!(kind(g.accept()), ErrorKind::WouldBlock);
        });
    })
}

// ---- Unix datagrams to a full receiver ----

/// std: `send_to` to a Unix datagram socket whose queue is full blocks
/// until the receiver reads (or `SO_SNDTIMEO` expires), even when the
/// queue is full of other senders' datagrams. Green must wake then too.
/// (The kernel raises no event for such a sender when the queue drains,
/// and each failed send raises a writable edge by itself: green waited by
/// busy-retrying on every hub turn, about a full CPU, before it retried
/// after sleeps; that cost is not asserted here, as it is a timing.)
#[test]
fn unix_datagram_send_to_a_full_receiver_waits_for_room() {
    bounded(|| {
        let dir = TempDir::new("dgram");
        let path = dir.path("rx.sock");
        let rx = green::net::unix::UnixDatagram::bind(&path).unwrap();
        // Another sender fills the receiver's queue.
        let filler = green::net::unix::UnixDatagram::unbound().unwrap();
        filler.set_nonblocking(true).unwrap();
        let mut queued = 0;
        loop {
            match filler.send_to(b"fill", &path) {
                Ok(_) => queued += 1,
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::WouldBlock);
                    break;
                }
            }
        }
        // With a write timeout, both give up with `WouldBlock`.
        let t = Some(Duration::from_millis(20));
        let std_tx = std::os::unix::net::UnixDatagram::unbound().unwrap();
        std_tx.set_write_timeout(t).unwrap();
        let std_kind = kind(std_tx.send_to(b"late", &path));
        let g_tx = green::net::unix::UnixDatagram::unbound().unwrap();
        g_tx.set_write_timeout(t).unwrap();
        assert_eq!(kind(g_tx.send_to(b"late", &path)), std_kind);
        assert_eq!(std_kind, ErrorKind::WouldBlock);
        // Our sender parks: the queue is full.
        let p = path.clone();
        let sender = green::spawn(move || {
            let tx = green::net::unix::UnixDatagram::unbound().unwrap();
            tx.send_to(b"mine", &p)
        });
        // Let the hub poll, so the sender's first (registration) edge is
        // spent and it waits for a real one: only then can the receiver's
        // draining be what wakes it.
        green::sleep(Duration::from_millis(20));
        // The receiver drains everything: room for the parked sender.
        let mut buf = [0u8; 8];
        for _ in 0..queued {
            rx.recv(&mut buf).unwrap();
        }
        assert_eq!(
            no_hang("send_to once the receiver has room", || sender
                .join()
                .unwrap())
            .unwrap(),
            4
        );
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"mine");
    })
}

// ---- edge cases of single operations ----

/// Zero-length buffers: on Linux a zero-length `recv` on a TCP stream
/// waits for data like any read (the kernel's low-water mark is at least
/// one byte) and then returns `Ok(0)` without consuming it; a zero-length
/// write returns `Ok(0)` at once.
#[test]
fn zero_length_buffers_behave_as_std() {
    bounded(|| {
        let (mut c, s) = std_pair();
        let std_w = (&c).write(&[]).map_err(|e| e.kind());
        let r = thread::spawn(move || {
            let r = (&s).read(&mut []).map_err(|e| e.kind());
            let p = s.peek(&mut []).map_err(|e| e.kind());
            let mut b = [0u8; 1];
            (&s).read_exact(&mut b).unwrap();
            (r, p, b)
        });
        c.write_all(b"z").unwrap();
        let std_r = r.join().unwrap();

        let (mut c, s) = green_pair();
        assert_eq!(
            no_hang("zero-length write", || (&c)
                .write(&[])
                .map_err(|e| e.kind())),
            std_w
        );
        let r = green::spawn(move || {
            let r = (&s).read(&mut []).map_err(|e| e.kind());
            let p = s.peek(&mut []).map_err(|e| e.kind());
            let mut b = [0u8; 1];
            (&s).read_exact(&mut b).unwrap();
            (r, p, b)
        });
        green::yield_now();
        c.write_all(b"z").unwrap();
        assert_eq!(r.join().unwrap(), std_r);
        assert_eq!(std_r, (Ok(0), Ok(0), *b"z"));

        // UDP: an empty datagram is a datagram; a zero-length receive takes
        // one and reports 0.
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        let std_send = a.send(&[]).unwrap();
        let std_recv = b.recv(&mut [0; 4]).unwrap();
        a.send(b"xyz").unwrap();
        let std_trunc = b.recv(&mut []).unwrap();
        b.set_nonblocking(true).unwrap();
        let std_after = kind(b.recv(&mut [0; 4]));

        let a = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        assert_eq!(a.send(&[]).unwrap(), std_send);
        assert_eq!(b.recv(&mut [0; 4]).unwrap(), std_recv);
        a.send(b"xyz").unwrap();
        assert_eq!(b.recv(&mut []).unwrap(), std_trunc);
        b.set_nonblocking(true).unwrap();
        assert_eq!(kind(b.recv(&mut [0; 4])), std_after);
    })
}

/// `recv_from` into a buffer smaller than the datagram: the datagram is
/// truncated to the buffer and the rest discarded, as std.
#[test]
fn recv_from_truncates_a_datagram_as_std() {
    bounded(|| {
        fn run(
            send: impl Fn(&[u8]),
            recv_from: impl Fn(&mut [u8]) -> io::Result<(usize, std::net::SocketAddr)>,
        ) -> Vec<(usize, Vec<u8>)> {
            send(b"0123456789");
            send(b"ab");
            let mut out = Vec::new();
            for _ in 0..2 {
                let mut buf = [0u8; 4];
                let (n, _) = recv_from(&mut buf).unwrap();
                out.push((n, buf[..n].to_vec()));
            }
            out
        }
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        let std_got = run(
            |d| assert_eq!(a.send_to(d, to).unwrap(), d.len()),
            |buf| b.recv_from(buf),
        );
        let a = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        let green_got = run(
            |d| assert_eq!(a.send_to(d, to).unwrap(), d.len()),
            |buf| b.recv_from(buf),
        );
        assert_eq!(green_got, std_got);
        assert_eq!(green_got[0], (4, b"0123".to_vec()));
    })
}

/// A connected UDP socket talks only to its peer: `send`/`recv` work, a
/// datagram from elsewhere is filtered, and `send` on an unconnected
/// socket fails with std's kind.
#[test]
fn udp_connect_send_recv_as_std() {
    bounded(|| {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let std_unconnected = kind(s.send(b"x"));
        let std_peer = kind(s.peer_addr());
        let g = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(kind(g.send(b"x")), std_unconnected);
        assert_eq!(kind(g.peer_addr()), std_peer);

        let a = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let stranger = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        stranger
            .send_to(b"not for you", a.local_addr().unwrap())
            .unwrap();
        b.send_to(b"hi", a.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 16];
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi");
        assert_eq!(a.send(b"back").unwrap(), 4);
        let (n, from) = b.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"back"[..], a.local_addr().unwrap()));
    })
}

/// Options and their errors: `ttl`, `take_error`, zero timeouts.
#[test]
fn options_and_zero_timeouts_as_std() {
    bounded(|| {
        let (c, _s) = std_pair();
        let std_zero = kind(c.set_read_timeout(Some(Duration::ZERO)));
        let std_zero_w = kind(c.set_write_timeout(Some(Duration::ZERO)));
        let (g, _s) = green_pair();
        assert_eq!(kind(g.set_read_timeout(Some(Duration::ZERO))), std_zero);
        assert_eq!(kind(g.set_write_timeout(Some(Duration::ZERO))), std_zero_w);
        assert_eq!(std_zero, ErrorKind::InvalidInput);
        assert_eq!(
            g.read_timeout().unwrap(),
            None,
            "a refused timeout is not kept"
        );
        g.set_ttl(17).unwrap();
        assert_eq!(g.ttl().unwrap(), 17);
        assert!(g.take_error().unwrap().is_none());
        let std_ttl0 = kind(c.set_ttl(0));
        assert_eq!(kind(g.set_ttl(0)), std_ttl0);

        let u = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(kind(u.set_read_timeout(Some(Duration::ZERO))), std_zero);
        let d = green::net::unix::UnixDatagram::unbound().unwrap();
        assert_eq!(kind(d.set_write_timeout(Some(Duration::ZERO))), std_zero);
        let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_ttl(33).unwrap();
        assert_eq!(l.ttl().unwrap(), 33);
    })
}

/// `connect_timeout`: zero is `InvalidInput`, a closed port is
/// `ConnectionRefused`, as std.
#[test]
fn connect_timeout_errors_as_std() {
    bounded(|| {
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open_addr = open.local_addr().unwrap();
        let d = Duration::from_secs(5);
        let std_zero = kind(std::net::TcpStream::connect_timeout(
            &open_addr,
            Duration::ZERO,
        ));
        let std_refused = kind(std::net::TcpStream::connect_timeout(&closed, d));
        assert_eq!(
            kind(green::net::TcpStream::connect_timeout(
                &open_addr,
                Duration::ZERO
            )),
            std_zero
        );
        assert_eq!(
            kind(green::net::TcpStream::connect_timeout(&closed, d)),
            std_refused
        );
        assert_eq!(kind(green::net::TcpStream::connect(closed)), std_refused);
        assert_eq!(std_refused, ErrorKind::ConnectionRefused);
        let g = green::net::TcpStream::connect_timeout(&open_addr, Duration::MAX).unwrap();
        assert_eq!(g.peer_addr().unwrap(), open_addr);
    })
}

/// Binding an address in use: `AddrInUse` for TCP, UDP and Unix paths.
#[test]
fn bind_in_use_is_addr_in_use() {
    bounded(|| {
        let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        let std_tcp = kind(std::net::TcpListener::bind(a));
        assert_eq!(kind(green::net::TcpListener::bind(a)), std_tcp);
        assert_eq!(std_tcp, ErrorKind::AddrInUse);
        let u = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = u.local_addr().unwrap();
        let std_udp = kind(std::net::UdpSocket::bind(a));
        assert_eq!(kind(green::net::UdpSocket::bind(a)), std_udp);
        let dir = TempDir::new("inuse");
        let p = dir.path("x.sock");
        let _l = green::net::unix::UnixListener::bind(&p).unwrap();
        let std_unix = kind(std::os::unix::net::UnixListener::bind(&p));
        assert_eq!(kind(green::net::unix::UnixListener::bind(&p)), std_unix);
        assert_eq!(kind(green::net::unix::UnixDatagram::bind(&p)), std_unix);
    })
}

/// Address strings std rejects are rejected with the same kind.
#[test]
fn address_parse_errors_as_std() {
    bounded(|| {
        for bad in [
            "127.0.0.1",
            "127.0.0.1:abc",
            "127.0.0.1:99999",
            "",
            ":80",
            "[::1]",
        ] {
            let s = kind(std::net::ToSocketAddrs::to_socket_addrs(bad));
            let g = kind(green::net::ToSocketAddrs::to_socket_addrs(bad));
            assert_eq!(g, s, "{bad:?}");
            assert_eq!(
                kind(green::net::TcpStream::connect(bad)),
                kind(std::net::TcpStream::connect(bad)),
                "{bad:?}"
            );
        }
        let empty: &[std::net::SocketAddr] = &[];
        assert_eq!(
            kind(green::net::TcpListener::bind(empty)),
            kind(std::net::TcpListener::bind(empty))
        );
        let u = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let su = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(kind(u.send_to(b"x", empty)), kind(su.send_to(b"x", empty)));
    })
}

/// After `set_nonblocking(true)` every operation returns `WouldBlock`
/// instead of waiting, as std's do.
#[test]
fn nonblocking_mode_gives_would_block_everywhere() {
    bounded(|| {
        no_hang("non-blocking operations", || {
            let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.set_nonblocking(true).unwrap();
            assert_eq!(kind(l.accept()), ErrorKind::WouldBlock);
            assert_eq!(kind(l.incoming().next().unwrap()), ErrorKind::WouldBlock);
            let (c, s) = green_pair();
            s.set_nonblocking(true).unwrap();
            c.set_nonblocking(true).unwrap();
            assert_eq!(kind((&s).read(&mut [0; 4])), ErrorKind::WouldBlock);
            assert_eq!(kind(s.peek(&mut [0; 4])), ErrorKind::WouldBlock);
            assert_eq!(kind(s.readable()), ErrorKind::WouldBlock);
            let big = vec![0u8; 1 << 20];
            let e = loop {
                if let Err(e) = (&c).write(&big) {
                    break e;
                }
            };
            assert_eq!(e.kind(), ErrorKind::WouldBlock);
            let u = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            u.set_nonblocking(true).unwrap();
            assert_eq!(kind(u.recv_from(&mut [0; 4])), ErrorKind::WouldBlock);
            assert_eq!(kind(u.peek_from(&mut [0; 4])), ErrorKind::WouldBlock);
            let (a, _b) = green::net::unix::UnixDatagram::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            assert_eq!(kind(a.recv(&mut [0; 4])), ErrorKind::WouldBlock);
            assert_eq!(kind(a.recv_from(&mut [0; 4])), ErrorKind::WouldBlock);
            let dir = TempDir::new("nb");
            let ul = green::net::unix::UnixListener::bind(dir.path("l")).unwrap();
            ul.set_nonblocking(true).unwrap();
            assert_eq!(kind(ul.accept()), ErrorKind::WouldBlock);
            assert_eq!(kind(ul.incoming().next().unwrap()), ErrorKind::WouldBlock);
        });
    })
}

/// `incoming` yields each connection and keeps going after errors.
#[test]
fn incoming_yields_connections_in_order() {
    bounded(|| {
        let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let clients: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let peers: Vec<_> = l
            .incoming()
            .take(3)
            .map(|c| c.unwrap().peer_addr().unwrap())
            .collect();
        let want: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
        assert_eq!(peers, want);
    })
}

/// Runs [`accept_at_emfile_child`] in a child process: the descriptor
/// limit is process-wide.
#[test]
fn accept_out_of_descriptors_returns_emfile() {
    let out = util::run_self_with_env(
        &[
            "--exact",
            "accept_at_emfile_child",
            "--ignored",
            "--nocapture",
        ],
        &[("GREEN_NET_PARITY_EMFILE_CHILD", "1")],
        util::HARD_LIMIT,
    );
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("child: emfile parity ok"),
        "{}",
        out.stdout
    );
}

#[test]
#[ignore = "run in a child process by accept_out_of_descriptors_returns_emfile"]
fn accept_at_emfile_child() {
    bounded(|| {
        assert_eq!(
            std::env::var("GREEN_NET_PARITY_EMFILE_CHILD").as_deref(),
            Ok("1"),
            "lowers RLIMIT_NOFILE: only for a child process"
        );
        let sl = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gl = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _c1 = std::net::TcpStream::connect(sl.local_addr().unwrap()).unwrap();
        let _c2 = std::net::TcpStream::connect(gl.local_addr().unwrap()).unwrap();
        util::lower_fd_limit(8);
        let mut hog = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            hog.push(f);
        }
        let std_err = sl.accept().unwrap_err();
        let green_err = no_hang("accept at EMFILE", || gl.accept().unwrap_err());
        assert_eq!(green_err.raw_os_error(), Some(libc::EMFILE));
        assert_eq!(green_err.raw_os_error(), std_err.raw_os_error());
        // Again (the connection is still queued): the same error, no spin.
        let again = no_hang("accept at EMFILE, again", || gl.accept().unwrap_err());
        assert_eq!(again.raw_os_error(), Some(libc::EMFILE));
        drop(hog);
        let (s, _) = no_hang("accept once descriptors are free", || gl.accept().unwrap());
        assert!(s.as_raw_fd() >= 0);
        println!("child: emfile parity ok");
    })
}

// ---- green::io::copy and BufReader against std's ----

/// `green::io::copy` and `std::io::copy` give the same count, bytes and
/// errors for the same input, including a read timeout (`WouldBlock`).
#[test]
fn copy_matches_std_copy() {
    bounded(|| {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        for use_green in [false, true] {
            let (mut c, s) = green_pair();
            let d = data.clone();
            let w = green::spawn(move || {
                c.write_all(&d).unwrap();
                c.shutdown(Shutdown::Write).unwrap();
                c
            });
            let mut out = Vec::new();
            let n = if use_green {
                green::io::copy(&mut &s, &mut out).unwrap()
            } else {
                io::copy(&mut &s, &mut out).unwrap()
            };
            assert_eq!(n as usize, data.len());
            assert_eq!(out, data);
            drop(w.join().unwrap());

            let (_c, s) = green_pair();
            s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
            let r = if use_green {
                green::io::copy(&mut &s, &mut io::sink())
            } else {
                io::copy(&mut &s, &mut io::sink())
            };
            assert_eq!(kind(r), ErrorKind::WouldBlock, "green: {use_green}");
        }
        // Writer that accepts nothing: WriteZero from both.
        struct Zero;
        impl Write for Zero {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Ok(0)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (mut c, s) = green_pair();
        c.write_all(b"abc").unwrap();
        let g = kind(green::io::copy(&mut &s, &mut Zero));
        let (mut c, s) = green_pair();
        c.write_all(b"abc").unwrap();
        assert_eq!(g, kind(io::copy(&mut &s, &mut Zero)));
    })
}

/// `green::io::BufReader` and `std::io::BufReader` give the same lines,
/// bytes and EOF behaviour over the same input.
#[test]
fn bufreader_matches_std_bufreader() {
    bounded(|| {
        let input: Vec<u8> = b"alpha\nbeta\r\n\ngamma-without-newline".repeat(500);
        let run = |use_green: bool| {
            let (mut c, s) = green_pair();
            let d = input.clone();
            let w = green::spawn(move || {
                for chunk in d.chunks(777) {
                    c.write_all(chunk).unwrap();
                    green::yield_now();
                }
            });
            let mut rd: Box<dyn BufRead> = if use_green {
                Box::new(green::io::BufReader::new(s))
            } else {
                Box::new(io::BufReader::new(s))
            };
            let mut pieces = Vec::new();
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = rd.read_until(b'\n', &mut line).unwrap();
                pieces.push(line.clone());
                if n == 0 {
                    break;
                }
                if pieces.len() == 3 {
                    // A large read, then a one-byte one.
                    let mut big = vec![0u8; 20_000];
                    let n = rd.read(&mut big).unwrap();
                    pieces.push(big[..n].to_vec());
                    let mut one = [0u8; 1];
                    let n = rd.read(&mut one).unwrap();
                    pieces.push(one[..n].to_vec());
                }
            }
            w.join().unwrap();
            assert_eq!(rd.fill_buf().unwrap(), b"", "EOF stays EOF");
            assert_eq!(rd.read(&mut [0; 8]).unwrap(), 0);
            pieces
        };
        let std_pieces = run(false);
        let green_pieces = run(true);
        assert_eq!(green_pieces[..3], std_pieces[..3]);
        assert_eq!(green_pieces.concat(), std_pieces.concat());
        assert_eq!(green_pieces.concat(), input);
    })
}
