//! Bad input to every public function that takes a user value: zero and
//! absurd sizes, `Duration::ZERO` and `Duration::MAX` in every timeout API,
//! addresses that do not parse, empty buffers, shutting a socket down
//! twice. Each gets a clear `Err` (the kind std gives for the same input)
//! or a documented panic — never undefined behaviour, never a hang.
//!
//! Not testable by construction: joining a greenlet twice (`join` takes
//! the `JoinHandle` by value, so a second call does not compile).
//! Covered elsewhere: `set_max_blocking_threads(0)` (`tests/spawn_blocking.rs`),
//! `Timeout` of zero and of `Duration::MAX` (`tests/timeout.rs`).

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use green::net::unix::{UnixDatagram, UnixListener, UnixStream};
use green::net::{ServerBuilder, StreamServer, TcpListener, TcpStream, UdpSocket};
use green::sync::{
    iwait_timeout, AsyncResult, BoundedSemaphore, Condvar, Event, JoinableQueue, Mutex, Queue,
    RwLock, Semaphore,
};
use green::{Builder, Group, Pool, Timeout};
use util::bounded;

const MAX: Duration = Duration::MAX;
const ZERO: Duration = Duration::ZERO;

// ---- runtime ----

#[test]
fn zero_stack_size_is_rounded_up_to_the_minimum_and_runs() {
    bounded(|| {
        let h = Builder::new().stack_size(0).spawn(|| 6 * 7).unwrap();
        assert_eq!(h.join().unwrap(), 42);
    })
}

#[test]
fn absurd_stack_sizes_are_an_error_from_builder_spawn() {
    bounded(|| {
        for size in [usize::MAX, usize::MAX / 2, 1 << 50] {
            let r = Builder::new().stack_size(size).spawn(|| ());
            assert!(r.is_err(), "a {size}-byte stack was mapped");
        }
        // The hub is unharmed.
        assert_eq!(green::spawn(|| 1).join().unwrap(), 1);
    })
}

#[test]
fn sleep_of_zero_returns_and_sleep_of_max_is_cut_by_a_timeout() {
    bounded(|| {
        green::sleep(ZERO);
        green::sleep_until(Instant::now() - Duration::from_millis(1));
        assert!(Timeout::new(Duration::from_millis(10))
            .run(|| green::sleep(MAX))
            .is_err());
        assert_eq!(green::deadline_after(MAX), None);
    })
}

#[test]
fn join_timeout_of_zero_gives_the_handle_back_and_max_waits() {
    bounded(|| {
        let ev = Rc::new(Event::new());
        let e = ev.clone();
        let h = green::spawn(move || {
            e.wait();
            5
        });
        let h = h.join_timeout(ZERO).unwrap_err();
        ev.set();
        assert_eq!(h.join_timeout(MAX).ok().unwrap().unwrap(), 5);
    })
}

#[test]
fn spawn_later_of_max_can_be_killed_and_never_runs() {
    bounded(|| {
        let h = green::spawn_later(MAX, || panic!("ran"));
        green::yield_now();
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
    })
}

// ---- sync ----

#[test]
#[should_panic(expected = "size must be at least 1")]
fn pool_of_zero_panics_as_documented() {
    let _ = Pool::new(0);
}

#[test]
fn zero_permit_semaphore_times_out_and_max_waits_for_a_release() {
    bounded(|| {
        let s = Rc::new(Semaphore::new(0));
        assert!(s.try_acquire().is_none());
        assert!(s.acquire_timeout(ZERO).is_none());
        assert!(s.acquire_owned_timeout(ZERO).is_none());
        let s1 = s.clone();
        green::spawn(move || s1.release());
        assert!(s.acquire_timeout(MAX).is_some());
        let b = BoundedSemaphore::new(0);
        assert!(b.acquire_timeout(ZERO).is_none());
        assert!(b.release().is_err(), "released past its bound");
    })
}

#[test]
fn rendezvous_queue_of_zero_times_out_both_ways_and_hands_items_over() {
    bounded(|| {
        let q: Rc<Queue<u8>> = Rc::new(Queue::bounded(0));
        assert_eq!(q.capacity(), Some(0));
        let e = q.put_timeout(1, ZERO).unwrap_err();
        assert!(e.is_timeout());
        assert_eq!(e.into_inner(), 1);
        assert!(q.get_timeout(ZERO).is_err());
        let q1 = q.clone();
        let putter = green::spawn(move || q1.put_timeout(2, MAX));
        assert_eq!(q.get_timeout(MAX).unwrap(), 2);
        putter.join().unwrap().unwrap();
        let jq: JoinableQueue<u8> = JoinableQueue::new();
        jq.put(1).unwrap();
        assert!(!jq.join_timeout(ZERO));
        assert!(jq.task_done().is_ok());
        assert!(jq.task_done().is_err(), "task_done past the items put");
        assert!(jq.join_timeout(MAX));
    })
}

/// `Semaphore::release` "cannot fail"; at `usize::MAX` permits it
/// overflows (a panic in debug builds; in release builds the count wraps
/// to 0 and every permit is lost).
#[test]
fn semaphore_release_at_usize_max_permits_does_not_overflow() {
    let s = Semaphore::new(usize::MAX);
    s.release();
    assert_eq!(s.available_permits(), usize::MAX);
}

#[test]
fn huge_sizes_for_queues_pools_and_bounded_semaphores_are_fine() {
    bounded(|| {
        let q = Queue::bounded(usize::MAX);
        q.put(1).unwrap();
        assert_eq!(q.get().unwrap(), 1);
        let p = Pool::new(usize::MAX);
        p.spawn(|| ());
        p.join();
        let b = BoundedSemaphore::new(usize::MAX);
        assert!(b.release().is_err(), "released past its bound");
    })
}

#[test]
fn lock_and_wait_timeouts_of_zero_and_max() {
    bounded(|| {
        let m = Mutex::new(0);
        let g = m.lock();
        assert!(m.lock_timeout(ZERO).is_none());
        drop(g);
        assert!(m.lock_timeout(MAX).is_some());
        let rw = RwLock::new(0);
        let w = rw.write();
        assert!(rw.read_timeout(ZERO).is_none());
        assert!(rw.write_timeout(ZERO).is_none());
        drop(w);
        assert!(rw.read_timeout(MAX).is_some());
        let cv = Condvar::new();
        let (g, r) = cv.wait_timeout(m.lock(), ZERO);
        assert!(r.timed_out());
        drop(g);
        let ev = Event::new();
        assert!(!ev.wait_timeout(ZERO));
        ev.set();
        assert!(ev.wait_timeout(MAX));
        let ar: AsyncResult<u8, ()> = AsyncResult::new();
        assert!(ar.wait_timeout(ZERO).is_none());
        ar.set(3).unwrap();
        assert_eq!(ar.get_timeout(MAX), Some(Ok(3)));
        assert!(ar.set(4).is_err(), "set twice");
        assert_eq!(iwait_timeout(&[], ZERO).count(), 0);
        assert_eq!(iwait_timeout(&[&ev], MAX).count(), 1);
    })
}

#[test]
fn group_and_pool_timeouts_of_zero_and_max() {
    bounded(|| {
        let ev = Rc::new(Event::new());
        let g = Group::new();
        let e = ev.clone();
        g.spawn(move || e.wait());
        assert!(!g.join_timeout(ZERO));
        assert!(g.kill_timeout(MAX));
        let p = Pool::new(1);
        let e = ev.clone();
        p.spawn(move || e.wait());
        assert!(!p.join_timeout(ZERO));
        ev.set();
        assert!(p.join_timeout(MAX));
    })
}

// ---- net: timeouts ----

/// Asserts that green and std give the same outcome (Ok, or the same
/// error kind) for one input.
fn same_as_std<T, U>(what: &str, green: std::io::Result<T>, std: std::io::Result<U>) {
    assert_eq!(
        green.as_ref().map(drop).map_err(|e| e.kind()),
        std.as_ref().map(drop).map_err(|e| e.kind()),
        "{what}: green and std differ"
    );
}

#[test]
fn socket_timeouts_of_zero_are_invalid_input_and_max_is_accepted_like_std() {
    bounded(|| {
        let (a, b) = util::tcp_pair();
        let g = TcpStream::from_std(a).unwrap();
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let su = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (us, _us2) = UnixStream::pair().unwrap();
        let (ss, _ss2) = std::os::unix::net::UnixStream::pair().unwrap();
        let (ud, _ud2) = UnixDatagram::pair().unwrap();
        let (sd, _sd2) = std::os::unix::net::UnixDatagram::pair().unwrap();
        for d in [Some(ZERO), Some(MAX), Some(Duration::from_nanos(1)), None] {
            same_as_std("tcp read", g.set_read_timeout(d), b.set_read_timeout(d));
            same_as_std("tcp write", g.set_write_timeout(d), b.set_write_timeout(d));
            same_as_std("udp read", u.set_read_timeout(d), su.set_read_timeout(d));
            same_as_std("udp write", u.set_write_timeout(d), su.set_write_timeout(d));
            same_as_std("unix read", us.set_read_timeout(d), ss.set_read_timeout(d));
            same_as_std(
                "unix write",
                us.set_write_timeout(d),
                ss.set_write_timeout(d),
            );
            same_as_std("dgram read", ud.set_read_timeout(d), sd.set_read_timeout(d));
            same_as_std(
                "dgram write",
                ud.set_write_timeout(d),
                sd.set_write_timeout(d),
            );
        }
        g.set_read_timeout(Some(MAX)).unwrap();
        b.set_read_timeout(Some(MAX)).unwrap();
        assert_eq!(g.read_timeout().unwrap(), b.read_timeout().unwrap());
        assert_eq!(
            g.set_read_timeout(Some(ZERO)).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        // A huge read timeout still lets data through.
        g.set_read_timeout(Some(MAX)).unwrap();
        (&b).write_all(b"x").unwrap();
        let mut byte = [0u8; 1];
        (&g).read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x");
    })
}

#[test]
fn connect_timeout_of_zero_is_invalid_input_and_max_connects() {
    bounded(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        same_as_std(
            "connect_timeout 0",
            TcpStream::connect_timeout(&addr, ZERO),
            std::net::TcpStream::connect_timeout(&addr, ZERO),
        );
        assert_eq!(
            TcpStream::connect_timeout(&addr, ZERO).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        TcpStream::connect_timeout(&addr, MAX).unwrap();
    })
}

#[test]
fn server_stop_with_zero_and_max_timeouts() {
    bounded(|| {
        let server = StreamServer::bind("127.0.0.1:0", |_c: TcpStream, _| ())
            .unwrap()
            .start()
            .unwrap();
        assert_eq!(server.stop(ZERO), 0);
        assert_eq!(server.stop(MAX), 0, "stopping a stopped server");
    })
}

#[test]
fn pool_size_and_backlog_of_zero_still_serve() {
    bounded(|| {
        let server = ServerBuilder::new()
            .backlog(0)
            .pool_size(0) // documented: taken as 1
            .stream("127.0.0.1:0", |mut c: TcpStream, _| c.write_all(b"up"))
            .unwrap()
            .start()
            .unwrap();
        for _ in 0..3 {
            let mut c = TcpStream::connect(server.local_addr()).unwrap();
            let mut got = String::new();
            c.read_to_string(&mut got).unwrap();
            assert_eq!(got, "up");
        }
        assert_eq!(server.stop(Duration::from_secs(1)), 0);
    })
}

#[test]
fn out_of_range_ttls_and_backlogs_behave_like_std() {
    bounded(|| {
        let g = UdpSocket::bind("127.0.0.1:0").unwrap();
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for ttl in [0, 1, 255, 256, u32::MAX] {
            same_as_std("udp ttl", g.set_ttl(ttl), s.set_ttl(ttl));
            same_as_std(
                "multicast ttl",
                g.set_multicast_ttl_v4(ttl),
                s.set_multicast_ttl_v4(ttl),
            );
        }
        let (a, b) = util::tcp_pair();
        let t = TcpStream::from_std(a).unwrap();
        for ttl in [0, 256, u32::MAX] {
            same_as_std("tcp ttl", t.set_ttl(ttl), b.set_ttl(ttl));
        }
        // The kernel caps the backlog at somaxconn.
        for backlog in [0, 1, u32::MAX] {
            let l = ServerBuilder::new()
                .backlog(backlog)
                .listen("127.0.0.1:0")
                .unwrap();
            let addr = l.local_addr().unwrap();
            let c = TcpStream::connect(addr).unwrap();
            assert_eq!(l.accept().unwrap().1, c.local_addr().unwrap());
        }
    })
}

// ---- net: addresses ----

/// Addresses that fail before any name lookup (no DNS in tests).
const BAD_ADDRS: &[&str] = &[
    "",
    "127.0.0.1",
    "localhost",
    "127.0.0.1:99999",
    "127.0.0.1:port",
    "127.0.0.1:-1",
    ":",
];

#[test]
fn unparsable_addresses_fail_like_std() {
    bounded(|| {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let su = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for &a in BAD_ADDRS {
            let g = TcpStream::connect(a);
            assert!(g.is_err(), "{a:?} connected");
            same_as_std(a, g, std::net::TcpStream::connect(a));
            same_as_std(a, TcpListener::bind(a), std::net::TcpListener::bind(a));
            same_as_std(a, UdpSocket::bind(a), std::net::UdpSocket::bind(a));
            same_as_std(a, u.send_to(b"x", a), su.send_to(b"x", a));
            same_as_std(a, u.connect(a), su.connect(a));
            same_as_std(
                a,
                ServerBuilder::new().listen(a),
                std::net::TcpListener::bind(a),
            );
        }
    })
}

/// Paths std rejects or that cannot exist, without NUL bytes (see
/// [`unix_stream_connect_refuses_a_path_with_a_nul_byte_like_std`]).
#[test]
fn bad_unix_paths_fail_like_std() {
    bounded(|| {
        let long = "x".repeat(200);
        for p in ["", "/nonexistent-green-dir/s.sock", long.as_str()] {
            unix_path_like_std(p);
        }
    })
}

fn unix_path_like_std(p: &str) {
    use std::os::unix::net as unet;
    same_as_std(
        &format!("UnixStream::connect({p:?})"),
        UnixStream::connect(p),
        unet::UnixStream::connect(p),
    );
    same_as_std(
        &format!("UnixListener::bind({p:?})"),
        UnixListener::bind(p),
        unet::UnixListener::bind(p),
    );
    same_as_std(
        &format!("UnixDatagram::bind({p:?})"),
        UnixDatagram::bind(p),
        unet::UnixDatagram::bind(p),
    );
    let (g, s) = (
        UnixDatagram::unbound().unwrap(),
        unet::UnixDatagram::unbound().unwrap(),
    );
    same_as_std(
        &format!("UnixDatagram::send_to({p:?})"),
        g.send_to(b"x", p),
        s.send_to(b"x", p),
    );
}

/// std refuses a path with an interior NUL byte (`InvalidInput`).
/// `UnixStream::connect` instead passes it to the kernel, which stops at
/// the NUL: it connects to a different socket, the one named by the part
/// before it. (The bind and datagram calls already refuse it.)
#[test]
fn unix_stream_connect_refuses_a_path_with_a_nul_byte_like_std() {
    bounded(|| {
        let dir = std::env::temp_dir().join(format!("green-rel-nul-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A socket at the truncated path, so a wrong connect succeeds.
        let _truncated = UnixListener::bind(dir.join("s")).unwrap();
        let with_nul = dir.join("s\0tail");
        let r = UnixStream::connect(&with_nul).map(drop);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(r.map_err(|e| e.kind()), Err(ErrorKind::InvalidInput));
        unix_path_like_std(with_nul.to_str().unwrap());
    })
}

// ---- net: buffers and shutdown ----

#[test]
fn empty_buffers_are_accepted_and_move_empty_datagrams() {
    bounded(|| {
        let (a, b) = util::tcp_pair();
        let g = TcpStream::from_std(a).unwrap();
        g.set_nonblocking(false).unwrap();
        // As with std (the kernel's receive low-water mark is at least one
        // byte), a zero-length read on a stream waits until data is
        // pending, then returns 0 and leaves the data in place.
        let (b, g) = (Rc::new(b), Rc::new(g));
        let g1 = g.clone();
        let reader = green::spawn(move || (&*g1).read(&mut []));
        util::settle(|| util::is_parked(reader.id()));
        (&*b).write_all(b"x").unwrap();
        assert_eq!(reader.join().unwrap().unwrap(), 0);
        let mut byte = [0u8; 1];
        (&*g).read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x");
        assert_eq!((&*g).write(&[]).unwrap(), 0);
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let v = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(u.send_to(&[], v.local_addr().unwrap()).unwrap(), 0);
        let (n, from) = v.recv_from(&mut [0u8; 4]).unwrap();
        assert_eq!((n, from), (0, u.local_addr().unwrap()));
        let (x, y) = UnixDatagram::pair().unwrap();
        assert_eq!(x.send(&[]).unwrap(), 0);
        assert_eq!(y.recv(&mut [0u8; 4]).unwrap(), 0);
    })
}

#[test]
fn shutting_down_twice_matches_std() {
    bounded(|| {
        for how in [Shutdown::Read, Shutdown::Write, Shutdown::Both] {
            let (a, _b) = util::tcp_pair();
            let (sa, _sb) = util::tcp_pair();
            let g = TcpStream::from_std(a).unwrap();
            same_as_std("tcp first", g.shutdown(how), sa.shutdown(how));
            same_as_std("tcp second", g.shutdown(how), sa.shutdown(how));
            let (u, _u2) = UnixStream::pair().unwrap();
            let (su, _su2) = std::os::unix::net::UnixStream::pair().unwrap();
            same_as_std("unix first", u.shutdown(how), su.shutdown(how));
            same_as_std("unix second", u.shutdown(how), su.shutdown(how));
        }
        // After the peer has gone too.
        let (a, b) = util::tcp_pair();
        let (sa, sb) = util::tcp_pair();
        drop((b, sb));
        let g = TcpStream::from_std(a).unwrap();
        for _ in 0..2 {
            same_as_std(
                "tcp after peer close",
                g.shutdown(Shutdown::Both),
                sa.shutdown(Shutdown::Both),
            );
        }
    })
}

#[test]
fn killing_after_join_and_killing_twice_are_no_ops() {
    bounded(|| {
        let h = green::spawn(|| 1);
        let k = h.kill_handle();
        assert_eq!(h.join().unwrap(), 1);
        k.kill();
        k.kill();
        assert!(k.is_finished());
        // A shared handle may cross threads.
        let a = Arc::new(k);
        std::thread::spawn(move || a.kill()).join().unwrap();
    })
}
