//! StreamServer and DatagramServer: many concurrent connections, stop
//! with busy handlers, the pool limit, accept under descriptor exhaustion,
//! and UDP round trips.

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use green::net::{
    DatagramServer, Reply, ServerBuilder, SocketAddr, StreamServer, TcpStream, UdpSocket,
};
use green::sync::Event;

mod util;

/// Safety net: a test that would hang fails instead (every green wait of
/// the test's main context unwinds once this passes).
fn bounded<T>(f: impl FnOnce() -> T) -> T {
    green::with_timeout(std::time::Duration::from_secs(120), f)
        .expect("the test did not finish within its safety deadline")
}

fn echo_server() -> green::net::ServerHandle {
    StreamServer::bind("127.0.0.1:0", |conn: TcpStream, _peer| {
        std::io::copy(&mut &conn, &mut &conn).map(drop)
    })
    .unwrap()
    .start()
    .unwrap()
}

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + seed * 13) as u8).collect()
}

/// 1,000 clients connect and all stay connected at once before any sends;
/// then each sends 16 KiB of its own pattern and checks every byte that
/// comes back.
#[test]
fn echo_server_serves_1000_concurrent_connections() {
    bounded(|| {
        const N: usize = 1000;
        const LEN: usize = 16 * 1024;
        let handle = echo_server();
        let addr = handle.local_addr();
        let connected = Rc::new(Cell::new(0usize));
        let all_in = Rc::new(Event::new());
        let clients: Vec<_> = (0..N)
            .map(|i| {
                let (connected, all_in) = (connected.clone(), all_in.clone());
                green::spawn(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    connected.set(connected.get() + 1);
                    if connected.get() == N {
                        all_in.set();
                    }
                    all_in.wait();
                    let data = pattern(i, LEN);
                    let w = c.try_clone().unwrap();
                    let writer = green::spawn(move || (&w).write_all(&data));
                    let mut back = vec![0u8; LEN];
                    c.read_exact(&mut back).unwrap();
                    writer.join().unwrap().unwrap();
                    back == pattern(i, LEN)
                })
            })
            .collect();
        let ok = clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .filter(|&b| b)
            .count();
        assert_eq!(ok, N);
        assert_eq!(handle.stop(Duration::from_secs(5)), 0);
    })
}

/// `stop` closes the listener at once, lets handlers that can finish do so
/// within the timeout, kills the busy ones (running their destructors)
/// and reports how many it killed.
#[test]
fn stop_kills_busy_handlers_after_the_timeout() {
    bounded(|| {
        let release = Rc::new(Event::new());
        let dropped = Rc::new(Cell::new(0usize));
        let (r, d) = (release.clone(), dropped.clone());
        let handle = StreamServer::bind("127.0.0.1:0", move |mut conn: TcpStream, _peer| {
            struct Guard(Rc<Cell<usize>>);
            impl Drop for Guard {
                fn drop(&mut self) {
                    self.0.set(self.0.get() + 1);
                }
            }
            let _g = Guard(d.clone());
            let mut kind = [0u8; 1];
            conn.read_exact(&mut kind).unwrap();
            if kind[0] == b'f' {
                r.wait(); // finishes once released
                conn.write_all(b"finished").unwrap();
            } else {
                green::sleep(Duration::from_secs(3600)); // busy for ever
            }
        })
        .unwrap()
        .start()
        .unwrap();
        let addr = handle.local_addr();
        let mut clients = Vec::new();
        for kind in [b"b", b"f", b"b", b"f", b"b"] {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(kind).unwrap();
            clients.push((kind[0], c));
        }
        while handle.handlers() < 5 {
            green::sleep(Duration::from_millis(1));
        }
        // Runs while `stop` waits: once the listener is closed (a connect is
        // refused), let the finishing handlers finish.
        let r = release.clone();
        let refused_during_grace = green::spawn(move || loop {
            match TcpStream::connect(addr) {
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    r.set();
                    return true;
                }
                Err(e) => panic!("unexpected connect error {e}"),
                Ok(_) => green::sleep(Duration::from_millis(1)),
            }
        });
        // Generous: the finishing handlers must not be killed even on a
        // loaded machine; the busy ones are killed after it.
        let killed = handle.stop(Duration::from_secs(2));
        assert_eq!(killed, 3);
        assert!(refused_during_grace.join().unwrap());
        assert_eq!(dropped.get(), 5, "every handler's destructors ran");
        assert!(handle.is_stopped());
        for (kind, mut c) in clients {
            let mut got = String::new();
            c.read_to_string(&mut got).unwrap();
            assert_eq!(got, if kind == b'f' { "finished" } else { "" });
        }
        assert_eq!(
            TcpStream::connect(addr).unwrap_err().kind(),
            ErrorKind::ConnectionRefused
        );
        assert_eq!(handle.stop(Duration::ZERO), 0);
    })
}

/// A handler may stop its own server: it is neither waited for nor
/// killed, and the other, busy handler is killed.
#[test]
fn a_handler_can_stop_its_own_server() {
    bounded(|| {
        let slot: Rc<std::cell::RefCell<Option<green::net::ServerHandle>>> = Rc::default();
        let s = slot.clone();
        let handle = StreamServer::bind("127.0.0.1:0", move |mut conn: TcpStream, _peer| {
            let mut cmd = [0u8; 4];
            conn.read_exact(&mut cmd).unwrap();
            if &cmd == b"stop" {
                let h = s.borrow().clone().unwrap();
                let killed = h.stop(Duration::from_millis(100));
                conn.write_all(format!("killed {killed}").as_bytes())
                    .unwrap();
            } else {
                green::sleep(Duration::from_secs(3600));
            }
        })
        .unwrap()
        .start()
        .unwrap();
        *slot.borrow_mut() = Some(handle.clone());
        let addr = handle.local_addr();
        let mut busy = TcpStream::connect(addr).unwrap();
        busy.write_all(b"busy").unwrap();
        while handle.handlers() < 1 {
            green::sleep(Duration::from_millis(1));
        }
        let mut stopper = TcpStream::connect(addr).unwrap();
        stopper.write_all(b"stop").unwrap();
        let mut reply = String::new();
        stopper.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "killed 1");
        handle.join().unwrap();
        assert!(handle.is_stopped());
        let mut rest = Vec::new();
        busy.read_to_end(&mut rest).unwrap(); // closed by the kill
        assert!(rest.is_empty());
    })
}

/// With a pool of 2, a third handler never starts while two run; the
/// waiting connections are served once a slot frees.
#[test]
fn pool_size_bounds_concurrent_handlers() {
    bounded(|| {
        let active = Rc::new(Cell::new(0usize));
        let peak = Rc::new(Cell::new(0usize));
        let two_running = Rc::new(Event::new());
        let release = Rc::new(Event::new());
        let (a, p, t, r) = (
            active.clone(),
            peak.clone(),
            two_running.clone(),
            release.clone(),
        );
        let handle = ServerBuilder::new()
            .pool_size(2)
            .stream("127.0.0.1:0", move |mut conn: TcpStream, _peer| {
                a.set(a.get() + 1);
                p.set(p.get().max(a.get()));
                if a.get() == 2 {
                    t.set();
                }
                r.wait();
                let res = conn.write_all(b"ok");
                a.set(a.get() - 1);
                res
            })
            .unwrap()
            .start()
            .unwrap();
        let addr = handle.local_addr();
        let clients: Vec<_> = (0..4)
            .map(|_| {
                green::spawn(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    let mut s = String::new();
                    c.read_to_string(&mut s).unwrap();
                    s
                })
            })
            .collect();
        two_running.wait();
        // Safety margin for a broken limit to show: give the acceptor turns.
        for _ in 0..20 {
            green::yield_now();
        }
        assert_eq!(handle.handlers(), 2);
        release.set();
        for c in clients {
            assert_eq!(c.join().unwrap(), "ok");
        }
        assert_eq!(peak.get(), 2);
        handle.stop(Duration::from_secs(1));
    })
}

#[test]
fn serve_forever_ends_when_its_greenlet_is_killed() {
    bounded(|| {
        let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = StreamServer::new(listener, |mut c: TcpStream, _| c.write_all(b"hi"));
        let g = green::spawn(move || server.serve_forever());
        let mut c = TcpStream::connect(addr).unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hi");
        g.kill();
        assert!(g.join().unwrap_err().is_killed());
        green::yield_now();
        assert_eq!(
            TcpStream::connect(addr).unwrap_err().kind(),
            ErrorKind::ConnectionRefused
        );
    })
}

#[test]
fn reuse_port_lets_two_servers_share_an_address() {
    bounded(|| {
        let b = ServerBuilder::new().reuse_port(true).backlog(16);
        let l1 = b.listen("127.0.0.1:0").unwrap();
        let addr = l1.local_addr().unwrap();
        let l2 = b.listen(addr).unwrap();
        assert_eq!(l2.local_addr().unwrap(), addr);
        let plain = ServerBuilder::new().reuse_port(false).listen(addr);
        assert_eq!(plain.unwrap_err().kind(), ErrorKind::AddrInUse);
    })
}

#[test]
fn datagram_server_replies_to_each_sender() {
    bounded(|| {
        let handle = DatagramServer::bind(
            "127.0.0.1:0",
            |data: Vec<u8>, peer: SocketAddr, reply: Reply| {
                assert_eq!(reply.peer(), peer);
                let mut out = data;
                out.reverse();
                reply.send(&out).map(drop)
            },
        )
        .unwrap()
        .start()
        .unwrap();
        let addr = handle.local_addr();
        let clients: Vec<_> = (0..20)
            .map(|i| {
                green::spawn(move || {
                    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let msg = format!("message {i}");
                    c.send_to(msg.as_bytes(), addr).unwrap();
                    let mut buf = [0u8; 64];
                    let (n, from) = c.recv_from(&mut buf).unwrap();
                    assert_eq!(from, addr);
                    let mut want = msg.into_bytes();
                    want.reverse();
                    buf[..n] == want[..]
                })
            })
            .collect();
        for c in clients {
            assert!(c.join().unwrap());
        }
        assert_eq!(handle.stop(Duration::from_secs(1)), 0);
    })
}

/// Counts the server's "accept failed" warnings and when they happened.
struct AcceptLog(Mutex<Vec<Instant>>);

impl log::Log for AcceptLog {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if record.level() == log::Level::Warn && record.args().to_string().contains("accept failed")
        {
            self.0.lock().unwrap().push(Instant::now());
        }
    }
    fn flush(&self) {}
}

static ACCEPT_LOG: AcceptLog = AcceptLog(Mutex::new(Vec::new()));

/// Runs [`accept_backs_off_under_descriptor_exhaustion_child`] in a child
/// process: the descriptor limit is process-wide.
#[test]
fn accept_backs_off_under_descriptor_exhaustion() {
    let out = util::run_self_with_env(
        &[
            "--exact",
            "accept_backs_off_under_descriptor_exhaustion_child",
            "--ignored",
            "--nocapture",
        ],
        &[("GREEN_NET_EMFILE_CHILD", "1")],
        util::HARD_LIMIT,
    );
    let stdout = out.stdout;
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        out.stderr
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(
        stdout.contains("child: served after exhaustion"),
        "{stdout}"
    );
}

#[test]
#[ignore = "run in a child process by accept_backs_off_under_descriptor_exhaustion"]
fn accept_backs_off_under_descriptor_exhaustion_child() {
    bounded(|| {
        assert_eq!(
            std::env::var("GREEN_NET_EMFILE_CHILD").as_deref(),
            Ok("1"),
            "lowers RLIMIT_NOFILE: only for a child process"
        );
        log::set_logger(&ACCEPT_LOG).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
        let handle = echo_server();
        let addr = handle.local_addr();

        // Make the limit just above what is open now, connect one client (its
        // connection waits in the backlog), then take every descriptor left.
        util::lower_fd_limit(16);

        let mut client = TcpStream::connect(addr).unwrap();
        let mut hog = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(f) => hog.push(f),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
                    break;
                }
            }
        }
        client.write_all(b"still there?").unwrap();
        // The acceptor now fails with EMFILE: wait until it has retried a few
        // times, then check that it backed off instead of spinning.
        let safety = Instant::now() + Duration::from_secs(30);
        while ACCEPT_LOG.0.lock().unwrap().len() < 4 {
            assert!(Instant::now() < safety, "the server never reported EMFILE");
            green::sleep(Duration::from_millis(5));
        }
        {
            let times = ACCEPT_LOG.0.lock().unwrap();
            for w in times.windows(2) {
                assert!(
                    w[1] - w[0] >= Duration::from_millis(5),
                    "retried without backing off"
                );
            }
        }
        assert!(!handle.is_stopped(), "the server must not die of EMFILE");

        drop(hog); // descriptors free up: the server resumes
        client
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut back = [0u8; 12];
        client.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"still there?");
        println!("child: served after exhaustion");
    })
}
