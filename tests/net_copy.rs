//! `green::io::copy` and the `TryRead` operations it is built on
//! (`readable`, `try_read`) over real sockets: every byte arrives in
//! order, EOF and errors end the copy as std's would, timeouts and
//! non-blocking mode behave as for `read`, and a killed copy leaves the
//! other connections working.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

use green::io::TryRead;
use green::net::unix::UnixStream;
use green::net::TcpStream;

mod util;
use util::{bounded, green_tcp_pair as pair};

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect()
}

/// A stream whose write side can be shut.
trait HalfClose {
    fn close_write(&self);
}

impl HalfClose for TcpStream {
    fn close_write(&self) {
        self.shutdown(Shutdown::Write).unwrap();
    }
}

impl HalfClose for UnixStream {
    fn close_write(&self) {
        self.shutdown(Shutdown::Write).unwrap();
    }
}

/// Sends `data` to an echoing peer in uneven pieces from one greenlet,
/// shuts the write side, and reads everything back from another, at the
/// same time: more than the socket buffers hold does not deadlock.
fn echo_back<S: HalfClose + 'static>(client: S, data: Vec<u8>) -> Vec<u8>
where
    for<'a> &'a S: Read + Write,
{
    let client = Rc::new(client);
    let w = client.clone();
    let len = data.len();
    let writer = green::spawn(move || {
        let mut off = 0;
        let mut step = 1;
        while off < len {
            let end = (off + step).min(len);
            (&*w).write_all(&data[off..end]).unwrap();
            off = end;
            step = step * 3 % 20_011 + 1;
        }
        w.close_write();
    });
    let mut back = Vec::with_capacity(len);
    (&*client).read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    back
}

/// An echo through `copy` of 4 MiB written in uneven pieces while the
/// client reads concurrently: far more than the socket buffers hold, so
/// the server's writes park while it holds a pooled buffer, and every byte
/// must come back in order; `copy` returns the count at EOF.
#[test]
fn echo_of_megabytes_comes_back_intact_and_counted() {
    bounded(|| {
        const LEN: usize = 4 << 20;
        let (c, s) = pair();
        let server = green::spawn(move || green::io::copy(&mut &s, &mut &s));
        let back = echo_back(c, pattern(7, LEN));
        assert_eq!(back.len(), LEN);
        assert!(back == pattern(7, LEN), "echoed bytes differ");
        assert_eq!(server.join().unwrap().unwrap(), LEN as u64);
    });
}

/// A proxy: copy from one socket to another, and into a `Vec` (any
/// `Write`), as with std's `copy`.
#[test]
fn copies_between_sockets_and_into_any_writer() {
    bounded(|| {
        let (a_client, a_server) = pair();
        let (b_client, mut b_server) = pair();
        let proxy = green::spawn(move || {
            let n = green::io::copy(&mut &a_server, &mut b_server);
            b_server.shutdown(Shutdown::Write).unwrap();
            n
        });
        let sink = green::spawn(move || {
            let mut got = Vec::new();
            let mut b_client = b_client;
            let n = green::io::copy(&mut b_client, &mut got).unwrap();
            (n, got)
        });
        let data = pattern(3, 300_000);
        (&a_client).write_all(&data).unwrap();
        a_client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(proxy.join().unwrap().unwrap(), data.len() as u64);
        let (n, got) = sink.join().unwrap();
        assert_eq!(n, data.len() as u64);
        assert!(got == data);
    });
}

#[test]
fn copy_of_an_empty_stream_returns_zero() {
    bounded(|| {
        let (c, s) = pair();
        c.shutdown(Shutdown::Write).unwrap();
        let mut out = Vec::new();
        assert_eq!(green::io::copy(&mut &s, &mut out).unwrap(), 0);
        assert!(out.is_empty());
    });
}

/// A peer that resets the connection ends the copy with that error, after
/// the bytes that came before it.
#[test]
fn reset_by_peer_ends_the_copy_with_the_error() {
    bounded(|| {
        let (c, s) = pair();
        (&c).write_all(b"before").unwrap();
        socket2::SockRef::from(&c)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        let reader = green::spawn(move || {
            let mut out = Vec::new();
            let r = green::io::copy(&mut &s, &mut out);
            (r.map_err(|e| e.kind()), out)
        });
        green::sleep(Duration::from_millis(20));
        drop(c);
        let (r, out) = reader.join().unwrap();
        assert_eq!(r, Err(ErrorKind::ConnectionReset));
        assert_eq!(out, b"before");
    });
}

/// The read timeout bounds the wait as it does for `read`, with std's
/// kind (`WouldBlock`); the data received before it is kept.
#[test]
fn read_timeout_ends_the_copy_with_would_block() {
    bounded(|| {
        let (c, s) = pair();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        (&c).write_all(b"some").unwrap();
        let mut out = Vec::new();
        let e = green::io::copy(&mut &s, &mut out).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert_eq!(out, b"some");
        drop(c);
    });
}

/// In non-blocking mode nothing parks: a drained socket gives
/// `WouldBlock`, as a std non-blocking socket's `copy` does.
#[test]
fn non_blocking_reader_gives_would_block_instead_of_parking() {
    bounded(|| {
        let (c, s) = pair();
        s.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let e = green::io::copy(&mut &s, &mut out).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        (&c).write_all(b"later").unwrap();
        // The data is there once the kernel has it; poll without parking
        // on the socket, as a non-blocking user would.
        let mut buf = [0u8; 16];
        let n = loop {
            match s.try_read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    green::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..n], b"later");
    });
}

/// A non-blocking socket driven from a plain thread, which never lets a
/// hub poll: `copy` gives `WouldBlock` when nothing is there (it must not
/// spin), and a later call finds data that arrived meanwhile.
#[test]
fn non_blocking_copy_on_a_thread_without_a_hub_sees_new_data() {
    let _net = util::SafetyNet::new("non-blocking copy without a hub", util::HARD_LIMIT);
    let (c, s) = std::thread::spawn(|| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (c, s)
    })
    .join()
    .unwrap();
    std::thread::spawn(move || {
        let mut c = c;
        let s = TcpStream::from_std(s).unwrap();
        s.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let e = green::io::copy(&mut &s, &mut out).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert!(out.is_empty());
        c.write_all(b"data").unwrap();
        // The kernel has the bytes once loopback delivered them: retry with
        // a plain thread sleep, as a non-blocking user would, up to a bound.
        for _ in 0..10_000 {
            match green::io::copy(&mut &s, &mut out) {
                Err(e) if e.kind() == ErrorKind::WouldBlock && out.is_empty() => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                r => panic!("unexpected {r:?}"),
            }
        }
        assert_eq!(out, b"data");
    })
    .join()
    .unwrap();
}

/// `try_read` never waits; `readable` waits for data without consuming
/// it, and for EOF.
#[test]
fn readable_waits_and_try_read_does_not() {
    bounded(|| {
        let (c, s) = pair();
        let mut buf = [0u8; 64];
        assert_eq!(
            s.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        let writer = green::spawn(move || {
            green::sleep(Duration::from_millis(10));
            (&c).write_all(b"hello").unwrap();
            green::sleep(Duration::from_millis(10));
            drop(c);
        });
        s.readable().unwrap();
        // Waiting did not consume anything.
        let mut peeked = [0u8; 5];
        assert_eq!(s.peek(&mut peeked).unwrap(), 5);
        assert_eq!(s.try_read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(
            s.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        // The trait, through `&TcpStream`: waits for the EOF.
        let mut r = &s;
        TryRead::readable(&mut r).unwrap();
        assert_eq!(TryRead::try_read(&mut r, &mut buf).unwrap(), 0);
        writer.join().unwrap();
    });
}

#[test]
fn readable_times_out_like_read() {
    bounded(|| {
        let (_c, s) = pair();
        s.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        assert_eq!(s.readable().unwrap_err().kind(), ErrorKind::WouldBlock);
    });
}

/// Killing greenlets parked in `copy` (and one in the middle of a write,
/// holding a pooled buffer) leaves the other copies working.
#[test]
fn killed_copies_do_not_disturb_the_others() {
    bounded(|| {
        let mut victims = Vec::new();
        let mut keep = Vec::new();
        for _ in 0..8 {
            let (c, s) = pair();
            victims.push(green::spawn(move || green::io::copy(&mut &s, &mut &s)));
            keep.push(c);
        }
        // One victim echoes into a client that never reads, so its write
        // parks with the buffer in hand.
        let (stuck_client, stuck_server) = pair();
        let stuck = green::spawn(move || green::io::copy(&mut &stuck_server, &mut &stuck_server));
        let stuck_id = stuck.id();
        victims.push(stuck);
        let flood = green::spawn(move || {
            let chunk = vec![1u8; 64 << 10];
            // Ends with an error once the server side is gone.
            while (&stuck_client).write_all(&chunk).is_ok() {}
        });
        let (live_client, live_server) = pair();
        let live = green::spawn(move || green::io::copy(&mut &live_server, &mut &live_server));
        // Until the echo into the unread client has filled both socket
        // buffers and its write parked, holding the pooled buffer.
        util::settle(|| {
            green::dump().iter().any(|g| {
                g.id == stuck_id
                    && g.waiting_on
                        .as_deref()
                        .is_some_and(|w| w.starts_with("writable"))
            })
        });
        for v in &victims {
            v.kill_handle().kill();
        }
        for v in victims {
            assert!(v.join().is_err(), "a killed copy reports the kill");
        }
        flood.join().unwrap();
        assert!(echo_back(live_client, pattern(9, 100_000)) == pattern(9, 100_000));
        assert_eq!(live.join().unwrap().unwrap(), 100_000);
        drop(keep);
    });
}

#[test]
fn unix_stream_echo_through_copy() {
    bounded(|| {
        let (c, s) = UnixStream::pair().unwrap();
        let server = green::spawn(move || green::io::copy(&mut &s, &mut &s));
        assert!(echo_back(c, pattern(5, 1 << 20)) == pattern(5, 1 << 20));
        assert_eq!(server.join().unwrap().unwrap(), 1 << 20);
        // And the trait through `&mut`.
        let (a, mut b) = UnixStream::pair().unwrap();
        drop(a);
        let mut r: &mut UnixStream = &mut b;
        r.readable().unwrap();
        assert_eq!(TryRead::try_read(&mut r, &mut [0u8; 4]).unwrap(), 0);
    });
}
