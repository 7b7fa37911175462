//! Unix domain sockets, green: many clients on one listener, full duplex
//! on a pair, datagram timeouts, abstract addresses, and std's errors.

use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use green::net::unix::{UnixDatagram, UnixListener, UnixStream};

/// Safety net: a test that would hang fails instead (every green wait of
/// the test's main context unwinds once this passes).
fn bounded<T>(f: impl FnOnce() -> T) -> T {
    green::with_timeout(std::time::Duration::from_secs(120), f)
        .expect("the test did not finish within its safety deadline")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("green-net-unix-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn listener_serves_many_green_clients() {
    bounded(|| {
        let dir = temp_dir("many");
        let path = dir.join("l.sock");
        let l = UnixListener::bind(&path).unwrap();
        let server = green::spawn(move || {
            for s in l.incoming().take(50) {
                let s = s.unwrap();
                green::spawn(move || {
                    let mut buf = [0u8; 8];
                    (&s).read_exact(&mut buf).unwrap();
                    (&s).write_all(&buf).unwrap();
                });
            }
        });
        let clients: Vec<_> = (0..50u64)
            .map(|i| {
                let p = path.clone();
                green::spawn(move || {
                    let mut c = UnixStream::connect(&p).unwrap();
                    c.write_all(&i.to_le_bytes()).unwrap();
                    let mut back = [0u8; 8];
                    c.read_exact(&mut back).unwrap();
                    u64::from_le_bytes(back) == i
                })
            })
            .collect();
        for c in clients {
            assert!(c.join().unwrap());
        }
        server.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    })
}

#[test]
fn reader_and_writer_greenlets_share_a_unix_stream() {
    bounded(|| {
        const LEN: usize = 4 << 20;
        let (a, b) = UnixStream::pair().unwrap();
        let mut joins = Vec::new();
        for (s, seed) in [(a, 3u8), (b, 3u8)] {
            let s = Rc::new(s);
            let w = s.clone();
            joins.push(green::spawn(move || {
                (&*w).write_all(&vec![seed; LEN]).unwrap();
                true
            }));
            joins.push(green::spawn(move || {
                let mut got = vec![0u8; LEN];
                (&*s).read_exact(&mut got).unwrap();
                got.iter().all(|&x| x == seed)
            }));
        }
        for j in joins {
            assert!(j.join().unwrap());
        }
    })
}

#[test]
fn datagram_read_timeout_and_round_trip() {
    bounded(|| {
        let dir = temp_dir("dgram");
        let server = UnixDatagram::bind(dir.join("srv.sock")).unwrap();
        let client = UnixDatagram::bind(dir.join("cli.sock")).unwrap();
        client.connect(dir.join("srv.sock")).unwrap();
        server
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut buf = [0u8; 32];
        assert_eq!(
            server.recv_from(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        server.set_read_timeout(None).unwrap();
        let echo = green::spawn(move || {
            let mut buf = [0u8; 32];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            let from = from.as_pathname().unwrap().to_owned();
            server.send_to(&buf[..n], from).unwrap();
        });
        client.send(b"round trip").unwrap();
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"round trip");
        echo.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    })
}

#[test]
fn abstract_addresses_connect() {
    bounded(|| {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("green-net-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let l = UnixListener::bind_addr(&addr).unwrap();
        let c = UnixStream::connect_addr(&addr).unwrap();
        let (s, _) = l.accept().unwrap();
        (&c).write_all(b"abstract").unwrap();
        let mut b = [0u8; 8];
        (&s).read_exact(&mut b).unwrap();
        assert_eq!(&b, b"abstract");
    })
}

#[test]
fn connect_errors_match_std() {
    bounded(|| {
        let dir = temp_dir("errors");
        let missing = dir.join("missing.sock");
        assert_eq!(
            UnixStream::connect(&missing).unwrap_err().kind(),
            std::os::unix::net::UnixStream::connect(&missing)
                .unwrap_err()
                .kind()
        );
        let stale = dir.join("stale.sock");
        drop(UnixListener::bind(&stale).unwrap()); // the file stays, nobody listens
        assert_eq!(
            UnixStream::connect(&stale).unwrap_err().kind(),
            ErrorKind::ConnectionRefused
        );
        assert_eq!(
            UnixListener::bind(&stale).unwrap_err().kind(),
            ErrorKind::AddrInUse
        );
        std::fs::remove_dir_all(&dir).unwrap();
    })
}

/// A listener whose backlog is full makes a non-blocking connect fail with
/// `EAGAIN`; the green connect retries until the listener accepts.
#[test]
fn connect_waits_out_a_full_backlog() {
    bounded(|| {
        use socket2::{Domain, SockAddr, Socket, Type};
        let dir = temp_dir("backlog");
        let path = dir.join("b.sock");
        let sock = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        sock.bind(&SockAddr::unix(&path).unwrap()).unwrap();
        sock.listen(0).unwrap();
        let l = UnixListener::from(std::os::unix::net::UnixListener::from(sock));
        // Fill the queue until a std non-blocking connect says EAGAIN.
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
        let p = path.clone();
        let late = green::spawn(move || UnixStream::connect(&p).map(|_| ()));
        green::yield_now(); // the late connect meets the full queue and sleeps
        let mut accepted = 0;
        while !late.is_finished() {
            l.accept().unwrap(); // frees a slot; the retry gets in
            accepted += 1;
            assert!(accepted <= held.len() + 1);
            green::yield_now();
        }
        late.join().unwrap().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    })
}
