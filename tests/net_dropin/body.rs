// The body of the drop-in test: written against `std::net` and
// `std::os::unix::net`, included twice by `tests/net_dropin.rs` — once
// after `use std::net::...` and once after `use green::net::...` — and
// held to the same assertions. Nothing here names either flavour; the
// peer side runs on a plain OS thread in both.

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

pub fn echo_round_trip() {
    let (l, addr) = listener();
    let t = std::thread::spawn(move || {
        let (mut s, peer) = l.accept().unwrap();
        assert_eq!(s.peer_addr().unwrap(), peer);
        let mut buf = [0u8; 11];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let mut c = TcpStream::connect(addr).unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr);
    c.write_all(b"hello world").unwrap();
    let mut back = [0u8; 11];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"hello world");
    t.join().unwrap();
}

pub fn read_and_write_through_shared_refs() {
    let (l, addr) = listener();
    let t = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut r = &s;
        let mut buf = Vec::new();
        r.read_to_end(&mut buf).unwrap();
        (&s).write_all(&buf).unwrap();
    });
    let c = TcpStream::connect(("127.0.0.1", addr.port())).unwrap();
    (&c).write_all(b"via &T").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut s = String::new();
    (&c).read_to_string(&mut s).unwrap();
    assert_eq!(s, "via &T");
    t.join().unwrap();
}

pub fn read_timeout_gives_would_block() {
    let (l, addr) = listener();
    let c = TcpStream::connect(addr).unwrap();
    let _server_side = l.accept().unwrap();
    assert_eq!(c.read_timeout().unwrap(), None);
    c.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    assert!(c.read_timeout().unwrap().is_some());
    let mut buf = [0u8; 4];
    let e = (&c).read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    let e = c.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

pub fn nonblocking_read_gives_would_block() {
    let (l, addr) = listener();
    let c = TcpStream::connect(addr).unwrap();
    let (mut s, _) = l.accept().unwrap();
    c.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!((&c).read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    s.write_all(b"x").unwrap();
    c.set_nonblocking(false).unwrap();
    assert_eq!((&c).read(&mut buf).unwrap(), 1);
}

pub fn half_close_then_reply() {
    let (l, addr) = listener();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap(); // EOF after the peer's shutdown(Write)
        s.write_all(format!("got {} bytes", got.len()).as_bytes()).unwrap();
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(&[7u8; 1000]).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "got 1000 bytes");
    t.join().unwrap();
}

pub fn connect_to_closed_port_is_refused() {
    let (l, addr) = listener();
    drop(l);
    let e = TcpStream::connect(addr).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    let e = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    let e = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

pub fn write_to_closed_peer_fails() {
    let (l, addr) = listener();
    let c = TcpStream::connect(addr).unwrap();
    drop(l.accept().unwrap());
    let chunk = [1u8; 4096];
    let mut err = None;
    for _ in 0..10_000 {
        if let Err(e) = (&c).write(&chunk) {
            err = Some(e);
            break;
        }
    }
    let kind = err.expect("writes to a closed peer keep failing").kind();
    assert!(
        matches!(kind, ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
        "{kind:?}"
    );
}

pub fn peek_does_not_consume() {
    let (l, addr) = listener();
    let mut c = TcpStream::connect(addr).unwrap();
    let (mut s, _) = l.accept().unwrap();
    s.write_all(b"peekaboo").unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(c.peek(&mut buf).unwrap(), 4);
    assert_eq!(&buf, b"peek");
    let mut all = [0u8; 8];
    c.read_exact(&mut all).unwrap();
    assert_eq!(&all, b"peekaboo");
}

pub fn try_clone_shares_the_connection() {
    let (l, addr) = listener();
    let c = TcpStream::connect(addr).unwrap();
    let (s, _) = l.accept().unwrap();
    let c2 = c.try_clone().unwrap();
    (&c2).write_all(b"from the clone").unwrap();
    drop(c2);
    let mut buf = [0u8; 14];
    (&s).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"from the clone");
    (&s).write_all(b"back").unwrap();
    let mut b = [0u8; 4];
    (&c).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"back");
}

pub fn socket_options_round_trip() {
    let (l, addr) = listener();
    let c = TcpStream::connect(addr).unwrap();
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_ttl(42).unwrap();
    assert_eq!(c.ttl().unwrap(), 42);
    l.set_ttl(43).unwrap();
    assert_eq!(l.ttl().unwrap(), 43);
    assert!(c.take_error().unwrap().is_none());
    c.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    assert!(c.write_timeout().unwrap().is_some());
    c.set_write_timeout(None).unwrap();
    assert_eq!(c.write_timeout().unwrap(), None);
}

pub fn incoming_yields_connections() {
    let (l, addr) = listener();
    let t = std::thread::spawn(move || {
        for _ in 0..2 {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"!").unwrap();
        }
    });
    let mut n = 0;
    for s in l.incoming().take(2) {
        let mut b = [0u8; 1];
        s.unwrap().read_exact(&mut b).unwrap();
        n += b.len();
    }
    assert_eq!(n, 2);
    t.join().unwrap();
}

pub fn udp_send_to_and_recv_from() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b_addr = b.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (n, from) = b.recv_from(&mut buf).unwrap();
        b.send_to(&buf[..n], from).unwrap();
    });
    a.send_to(b"datagram", b_addr).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = a.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"datagram"[..], b_addr));
    t.join().unwrap();
}

pub fn udp_connected_send_recv_and_timeout() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    a.send(b"one").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(b.peek(&mut buf).unwrap(), 3);
    assert_eq!(b.recv(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"one");
    b.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(b.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    b.set_broadcast(true).unwrap();
    assert!(b.broadcast().unwrap());
    let e = a.send_to(b"x", &[][..]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

pub fn unix_stream_pair_and_listener() {
    let dir = std::env::temp_dir().join(format!(
        "green-dropin-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let l = UnixListener::bind(&path).unwrap();
    let p = path.clone();
    let t = std::thread::spawn(move || {
        let mut c = UnixStream::connect(&p).unwrap();
        c.write_all(b"unix!").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut r = String::new();
        c.read_to_string(&mut r).unwrap();
        r
    });
    let (mut s, _) = l.accept().unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    s.write_all(got.to_uppercase().as_bytes()).unwrap();
    drop(s);
    assert_eq!(t.join().unwrap(), "UNIX!");

    let (a, b) = UnixStream::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!((&b).read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    (&a).write_all(b"pair").unwrap();
    (&b).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pair");

    let (d1, d2) = UnixDatagram::pair().unwrap();
    d1.send(b"dg").unwrap();
    assert_eq!(d2.recv(&mut buf).unwrap(), 2);
    let bound = UnixDatagram::bind(dir.join("d.sock")).unwrap();
    let unbound = UnixDatagram::unbound().unwrap();
    unbound.send_to(b"to path", dir.join("d.sock")).unwrap();
    let mut big = [0u8; 16];
    let (n, _) = bound.recv_from(&mut big).unwrap();
    assert_eq!(&big[..n], b"to path");
    std::fs::remove_dir_all(&dir).unwrap();
}
