//! Kill and `Timeout` in the middle of every blocking operation of the
//! runtime and of `green::net`: the waiter unwinds with its destructors,
//! its registration, timer and stack are released (`green::stats()` back to
//! its baseline) and another waiter on the same object still gets its data
//! or wake-up. The sync primitives' waits are covered by `tests/sync_kill.rs`;
//! one representative (`Event::wait`) runs here through the same checks.

mod util;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::unix::net as unet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use green::net::unix::{UnixDatagram, UnixListener, UnixStream};
use green::net::{TcpListener, TcpStream, UdpSocket};
use green::sync::Event;
use green::Timeout;
use util::{bounded, is_parked, leak_counters as settled, settle, DropFlag};

/// Length of the `Timeout` regions that expire around a wait.
const SHORT: Duration = Duration::from_millis(30);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Kill the parked victim.
    Kill,
    /// Let the victim's `Timeout` fire while it is parked.
    Timeout,
    /// Make the object ready (data, a connection, a wake-up), then kill the
    /// victim before the hub runs again: if the readiness went to the
    /// victim, it must not be lost with it.
    ReadyThenKill,
    /// Let the victim's deadline pass and make the object ready, both
    /// before the hub runs again.
    ReadyThenTimeout,
}

const MODES: [Mode; 4] = [
    Mode::Kill,
    Mode::Timeout,
    Mode::ReadyThenKill,
    Mode::ReadyThenTimeout,
];

/// How the victim's wait ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Completed,
    Killed,
    Elapsed,
}

/// One blocking operation: `setup` makes the shared object, `wait` blocks
/// on it, `release` lets one waiter through (without running the hub),
/// `finish` ends any helper `release` started.
struct Scenario<S> {
    setup: fn() -> S,
    wait: fn(&S),
    release: fn(&Rc<S>),
    finish: fn(&S),
}

fn nothing<S>(_: &S) {}

fn check<S: 'static>(sc: &Scenario<S>, mode: Mode) {
    let base = green::stats();
    let s = Rc::new((sc.setup)());
    let (guard, dropped) = DropFlag::new();
    let (s1, wait) = (s.clone(), sc.wait);
    let timed = matches!(mode, Mode::Timeout | Mode::ReadyThenTimeout);
    let victim = green::spawn(move || {
        let _guard = guard;
        if timed {
            match Timeout::new(SHORT).run(|| wait(&s1)) {
                Ok(()) => End::Completed,
                Err(_) => End::Elapsed,
            }
        } else {
            wait(&s1);
            End::Completed
        }
    });
    let s2 = s.clone();
    let other = green::spawn(move || wait(&s2));
    settle(|| is_parked(other.id()) && (victim.is_finished() || is_parked(victim.id())));
    // On a loaded machine the victim's deadline may pass before we look:
    // that is the plain Timeout case.
    let mode = if mode == Mode::ReadyThenTimeout && victim.is_finished() {
        Mode::Timeout
    } else {
        mode
    };
    let join_victim = |v: green::JoinHandle<End>| match v.join() {
        Ok(end) => end,
        Err(e) if e.is_killed() => End::Killed,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    let end = match mode {
        Mode::Kill => {
            assert!(is_parked(victim.id()), "the victim never blocked");
            victim.kill();
            join_victim(victim)
        }
        Mode::Timeout => join_victim(victim),
        Mode::ReadyThenKill => {
            assert!(is_parked(victim.id()), "the victim never blocked");
            (sc.release)(&s);
            victim.kill();
            join_victim(victim)
        }
        Mode::ReadyThenTimeout => {
            assert!(is_parked(victim.id()), "the victim never blocked");
            // Pass the deadline without running the hub.
            std::thread::sleep(SHORT * 2);
            (sc.release)(&s);
            join_victim(victim)
        }
    };
    match mode {
        Mode::Kill => assert_eq!(end, End::Killed),
        Mode::Timeout => assert_eq!(end, End::Elapsed, "the Timeout did not fire"),
        // Either outcome is fine: the victim took what it was handed, or
        // it gave it up for the other waiter to take.
        Mode::ReadyThenKill | Mode::ReadyThenTimeout => {}
    }
    assert!(dropped.get(), "the victim's destructors did not run");
    match (mode, end) {
        (Mode::Kill | Mode::Timeout, _) => {
            assert!(is_parked(other.id()), "the other waiter stopped waiting");
            (sc.release)(&s);
        }
        // The victim consumed the release: the other needs one more.
        (_, End::Completed) => (sc.release)(&s),
        // The release is the other's: it must get it (a lost wake-up
        // hangs here and fails by the safety net).
        _ => {}
    }
    other.join().expect("the other waiter completes");
    (sc.finish)(&s);
    drop(s);
    settle(|| settled(&green::stats()) == settled(&base));
}

fn kill_and_timeout<S: 'static>(sc: Scenario<S>) {
    bounded(|| {
        for mode in MODES {
            check(&sc, mode);
        }
    })
}

// ---- TCP ----

struct TcpPair {
    a: TcpStream,
    b: TcpStream,
}

fn tcp_pair() -> TcpPair {
    let (a, b) = util::tcp_pair();
    let a = TcpStream::from_std(a).unwrap();
    let b = TcpStream::from_std(b).unwrap();
    a.set_nonblocking(false).unwrap();
    b.set_nonblocking(false).unwrap();
    TcpPair { a, b }
}

/// Fills `a`'s send path until it would block, so the next write waits.
fn tcp_pair_full() -> TcpPair {
    let p = tcp_pair();
    p.a.set_nonblocking(true).unwrap();
    let chunk = [0u8; 65536];
    loop {
        match (&p.a).write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    p.a.set_nonblocking(false).unwrap();
    p
}

/// Reads `b` to its end in a greenlet of its own.
fn drain_b(p: &Rc<TcpPair>) {
    let p = p.clone();
    green::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while (&p.b).read(&mut buf).unwrap() > 0 {}
    });
}

#[test]
fn tcp_read_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: tcp_pair,
        wait: |p| {
            let mut byte = [0u8; 1];
            (&p.a).read_exact(&mut byte).unwrap();
            assert_eq!(byte, [42]);
        },
        release: |p| (&p.b).write_all(&[42]).unwrap(),
        finish: nothing,
    });
}

#[test]
fn tcp_peek_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: tcp_pair,
        wait: |p| assert_eq!(p.a.peek(&mut [0u8; 4]).unwrap(), 1),
        release: |p| (&p.b).write_all(&[42]).unwrap(),
        finish: nothing,
    });
}

#[test]
fn tcp_write_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: tcp_pair_full,
        wait: |p| (&p.a).write_all(&[7u8; 65536]).unwrap(),
        release: drain_b,
        finish: |p| p.a.shutdown(std::net::Shutdown::Write).unwrap(),
    });
}

#[test]
fn tcp_accept_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: || TcpListener::bind("127.0.0.1:0").unwrap(),
        wait: |l| drop(l.accept().unwrap()),
        release: |l| drop(std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap()),
        finish: nothing,
    });
}

/// A listener of backlog 0 whose queue is full: further SYNs are dropped,
/// so a connect waits until a slot frees and a retransmitted SYN gets in.
struct FullTcpBacklog {
    listener: socket2::Socket,
    addr: SocketAddr,
    _held: Vec<TcpStream>,
}

fn full_tcp_backlog() -> FullTcpBacklog {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut held = Vec::new();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => held.push(s),
            Err(e) if e.kind() == ErrorKind::TimedOut => break,
            Err(e) => panic!("{e}"),
        }
        assert!(
            held.len() < 64,
            "the accept queue of backlog 0 never filled"
        );
    }
    FullTcpBacklog {
        listener,
        addr,
        _held: held,
    }
}

#[test]
fn tcp_connect_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: full_tcp_backlog,
        wait: |f| drop(TcpStream::connect(f.addr).unwrap()),
        // Frees a slot; the other connect's next SYN retransmission gets in.
        release: |f| drop(f.listener.accept().unwrap()),
        finish: nothing,
    });
}

// ---- UDP ----

struct UdpPair {
    a: UdpSocket,
    b: std::net::UdpSocket,
}

#[test]
fn udp_recv_from_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: || UdpPair {
            a: UdpSocket::bind("127.0.0.1:0").unwrap(),
            b: std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
        },
        wait: |p| {
            let (n, from) = p.a.recv_from(&mut [0u8; 16]).unwrap();
            assert_eq!((n, from), (3, p.b.local_addr().unwrap()));
        },
        release: |p| assert_eq!(p.b.send_to(b"abc", p.a.local_addr().unwrap()).unwrap(), 3),
        finish: nothing,
    });
}

// ---- Unix ----

fn temp_path(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "green-rel-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("s.sock")
}

struct UnixPair {
    a: UnixStream,
    b: UnixStream,
}

fn unix_pair() -> UnixPair {
    let (a, b) = UnixStream::pair().unwrap();
    UnixPair { a, b }
}

fn unix_pair_full() -> UnixPair {
    let p = unix_pair();
    p.a.set_nonblocking(true).unwrap();
    loop {
        match (&p.a).write(&[0u8; 65536]) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    p.a.set_nonblocking(false).unwrap();
    p
}

#[test]
fn unix_read_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: unix_pair,
        wait: |p| {
            let mut byte = [0u8; 1];
            (&p.a).read_exact(&mut byte).unwrap();
        },
        release: |p| (&p.b).write_all(&[1]).unwrap(),
        finish: nothing,
    });
}

#[test]
fn unix_write_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: unix_pair_full,
        wait: |p| (&p.a).write_all(&[7u8; 65536]).unwrap(),
        release: |p| {
            let p = p.clone();
            green::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while (&p.b).read(&mut buf).unwrap() > 0 {}
            });
        },
        finish: |p| p.a.shutdown(std::net::Shutdown::Write).unwrap(),
    });
}

struct UnixServer {
    path: PathBuf,
    listener: UnixListener,
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn unix_accept_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: || {
            let path = temp_path("accept");
            let listener = UnixListener::bind(&path).unwrap();
            UnixServer { path, listener }
        },
        wait: |s| drop(s.listener.accept().unwrap()),
        release: |s| drop(unet::UnixStream::connect(&s.path).unwrap()),
        finish: nothing,
    });
}

struct FullUnixBacklog {
    server: UnixServer,
    _held: Vec<socket2::Socket>,
}

#[test]
fn unix_connect_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: || {
            use socket2::{Domain, SockAddr, Socket, Type};
            let path = temp_path("connect");
            let sock = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
            sock.bind(&SockAddr::unix(&path).unwrap()).unwrap();
            sock.listen(0).unwrap();
            let listener = UnixListener::from(unet::UnixListener::from(sock));
            let mut held = Vec::new();
            loop {
                let s = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
                s.set_nonblocking(true).unwrap();
                match s.connect(&SockAddr::unix(&path).unwrap()) {
                    Ok(()) => held.push(s),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
                assert!(held.len() < 64, "the backlog never filled");
            }
            FullUnixBacklog {
                server: UnixServer { path, listener },
                _held: held,
            }
        },
        wait: |f| drop(UnixStream::connect(&f.server.path).unwrap()),
        release: |f| drop(f.server.listener.accept().unwrap()),
        finish: nothing,
    });
}

struct DatagramPair {
    a: UnixDatagram,
    b: UnixDatagram,
}

#[test]
fn unix_datagram_recv_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: || {
            let (a, b) = UnixDatagram::pair().unwrap();
            DatagramPair { a, b }
        },
        wait: |p| assert_eq!(p.a.recv_from(&mut [0u8; 8]).unwrap().0, 2),
        release: |p| assert_eq!(p.b.send(b"hi").unwrap(), 2),
        finish: nothing,
    });
}

#[test]
fn unix_datagram_send_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: || {
            let (a, b) = UnixDatagram::pair().unwrap();
            // Fill b's receive queue: the next send from a waits.
            a.set_nonblocking(true).unwrap();
            let mut sent = 0;
            loop {
                match a.send(b"x") {
                    Ok(_) => sent += 1,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
                assert!(sent < 1_000_000, "the datagram queue never filled");
            }
            a.set_nonblocking(false).unwrap();
            DatagramPair { a, b }
        },
        wait: |p| assert_eq!(p.a.send(b"y").unwrap(), 1),
        // A Unix datagram sender limited by its send buffer becomes
        // writable again only once most of it is consumed (the kernel's
        // `unix_writable`: a quarter of `SO_SNDBUF`), so drain it all.
        release: |p| {
            p.b.set_nonblocking(true).unwrap();
            loop {
                match p.b.recv(&mut [0u8; 1]) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
        },
        finish: nothing,
    });
}

// ---- runtime ----

#[test]
fn sleep_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        // Both sleepers share a deadline; the survivor wakes at it.
        setup: || Instant::now() + Duration::from_millis(300),
        wait: |deadline| green::sleep_until(*deadline),
        release: |_| {},
        finish: nothing,
    });
}

#[test]
fn event_wait_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: Event::new,
        wait: |e| e.wait(),
        release: |e| e.set(),
        finish: nothing,
    });
}

/// Two `spawn_blocking` jobs that each wait for a message.
struct BlockingJobs {
    tx: mpsc::Sender<u32>,
    rx: Arc<std::sync::Mutex<mpsc::Receiver<u32>>>,
}

#[test]
fn spawn_blocking_kill_and_timeout_release_everything() {
    kill_and_timeout(Scenario {
        setup: || {
            let (tx, rx) = mpsc::channel();
            BlockingJobs {
                tx,
                rx: Arc::new(std::sync::Mutex::new(rx)),
            }
        },
        wait: |j| {
            let rx = j.rx.clone();
            green::spawn_blocking(move || rx.lock().unwrap().recv().unwrap());
        },
        // The abandoned job still runs to its end: it needs a message too,
        // and `blocking_in_flight` comes back to its baseline only then.
        release: |j| {
            j.tx.send(1).unwrap();
            j.tx.send(2).unwrap();
        },
        finish: nothing,
    });
}

#[test]
fn join_kill_and_timeout_release_everything_and_the_target_runs_on() {
    bounded(|| {
        for mode in [Mode::Kill, Mode::Timeout] {
            let base = green::stats();
            let go = Rc::new(Event::new());
            let ran = Rc::new(Cell::new(false));
            let (g, r) = (go.clone(), ran.clone());
            let target = green::spawn(move || {
                g.wait();
                r.set(true);
            });
            let (guard, dropped) = DropFlag::new();
            let joiner = green::spawn(move || {
                let _guard = guard;
                if mode == Mode::Kill {
                    target.join().is_err()
                } else {
                    Timeout::new(SHORT).run(|| target.join()).is_err()
                }
            });
            settle(|| joiner.is_finished() || is_parked(joiner.id()));
            if mode == Mode::Kill {
                joiner.kill();
                assert!(joiner.join().unwrap_err().is_killed());
            } else {
                assert!(joiner.join().unwrap(), "the Timeout did not fire");
            }
            assert!(dropped.get());
            assert!(!ran.get());
            go.set(); // the detached target still runs to its end
            settle(|| ran.get());
            settle(|| settled(&green::stats()) == settled(&base));
        }
    })
}

/// A greenlet that catches the kill's unwind and blocks again is killed
/// again at its next blocking point: the kill is re-delivered.
#[test]
fn killed_reader_that_catches_the_unwind_and_reads_again_is_killed_again() {
    bounded(|| {
        let base = green::stats();
        let p = Rc::new(tcp_pair());
        let caught = Rc::new(Cell::new(0));
        let (p1, c1) = (p.clone(), caught.clone());
        let (guard, dropped) = DropFlag::new();
        let victim = green::spawn(move || {
            let _guard = guard;
            let r = catch_unwind(AssertUnwindSafe(|| (&p1.a).read(&mut [0u8; 1])));
            let payload = r.expect_err("the read was not interrupted");
            assert!(green::is_kill(&*payload));
            c1.set(1);
            // Blocks again: the kill must come back here.
            let _ = (&p1.a).read(&mut [0u8; 1]);
            c1.set(2);
        });
        settle(|| is_parked(victim.id()));
        victim.kill();
        assert!(victim.join().unwrap_err().is_killed());
        assert_eq!(caught.get(), 1, "the second read was not interrupted");
        assert!(dropped.get());
        // The socket still works for someone else.
        (&p.b).write_all(b"z").unwrap();
        let mut byte = [0u8; 1];
        (&p.a).read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"z");
        drop(p);
        settle(|| settled(&green::stats()) == settled(&base));
    })
}
