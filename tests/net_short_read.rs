//! Reads that stop short while data is still queued. green-net takes a
//! short read as "the receive buffer is drained" and waits for the next
//! edge instead of reading again (docs/net.md, "Short reads"). The kernel
//! stops a read early without draining in two places, and there the rule
//! must not apply, or the next read waits for data that is already there:
//!
//! * TCP: a read stops at the urgent mark, before the byte a peer sent
//!   with `MSG_OOB` (unless `SO_OOBINLINE`);
//! * Unix streams: a read stops after a segment that carried descriptors
//!   (`SCM_RIGHTS`), and between segments of different senders when
//!   `SO_PASSCRED` is set.
//!
//! In each test the green reader is parked before the data is sent, so
//! all of it (loopback delivers during the sender's `send`) wakes the
//! reader with one edge, and the test compares with a std socket fed the
//! same bytes. A read timeout bounds the wait the bug would make.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

mod util;

/// Longer than any delivery on loopback; only reached if the read waits
/// for an edge that never comes.
const STALL: Duration = Duration::from_secs(5);

/// `send(fd, bytes, MSG_OOB)`: the last byte becomes TCP urgent data.
fn send_oob(fd: RawFd, bytes: &[u8]) {
    // SAFETY: `bytes` is valid for its length; `fd` is an open socket.
    let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_OOB) };
    assert_eq!(n, bytes.len() as isize, "send MSG_OOB");
}

/// Sends `bytes` on a Unix stream with one descriptor (`pass`) attached.
fn send_with_fd(fd: RawFd, bytes: &[u8], pass: RawFd) {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` points at `control`, which has room for one header
    // and one descriptor (CMSG_SPACE above), so the first header and its
    // data lie inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), pass);
    }
    // SAFETY: `msg` and everything it points at are valid for the call.
    let n = unsafe { libc::sendmsg(fd, &msg, 0) };
    assert_eq!(n, bytes.len() as isize, "sendmsg with SCM_RIGHTS");
}

/// Two reads of up to 64 bytes each, as a user's loop would make them.
fn two_reads(r: &mut impl Read) -> (Vec<u8>, std::io::Result<Vec<u8>>) {
    let mut buf = [0u8; 64];
    let n = r.read(&mut buf).expect("first read");
    let first = buf[..n].to_vec();
    let second = r.read(&mut buf).map(|n| buf[..n].to_vec());
    (first, second)
}

#[test]
fn tcp_read_after_the_urgent_mark_finds_the_queued_data() {
    util::bounded(|| {
        // std, as the reference.
        let (mut c, mut s) = std_pair();
        s.set_read_timeout(Some(STALL)).unwrap();
        c.write_all(b"abc").unwrap();
        send_oob(c.as_raw_fd(), b"!");
        c.write_all(b"def").unwrap();
        let (std_first, std_second) = two_reads(&mut s);
        assert_eq!(std_first, b"abc", "std stops at the urgent mark");
        assert_eq!(std_second.unwrap(), b"def");

        // green, fed the same bytes.
        let (mut c, mut s) = util::green_tcp_pair();
        s.set_read_timeout(Some(STALL)).unwrap();
        // The reader waits first, so all three sends reach it as one edge.
        let reader = green::spawn(move || two_reads(&mut s));
        green::yield_now();
        c.write_all(b"abc").unwrap();
        send_oob(c.as_raw_fd(), b"!");
        c.write_all(b"def").unwrap();
        let (first, second) = reader.join().expect("reader");
        assert_eq!(first, std_first);
        expect_def(second, "the urgent mark");
    });
}

#[test]
fn tcp_copy_after_the_urgent_mark_finds_the_queued_data() {
    util::bounded(|| {
        let (mut c, s) = util::green_tcp_pair();
        s.set_read_timeout(Some(STALL)).unwrap();
        c.write_all(b"abc").unwrap();
        send_oob(c.as_raw_fd(), b"!");
        c.write_all(b"def").unwrap();
        // readable() + try_read(), the path of green::io::copy.
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < 6 {
            s.readable().expect("readable: data is queued");
            match s.try_read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("try_read: {e}"),
            }
        }
        assert_eq!(got, b"abcdef");
    });
}

#[test]
fn unix_read_after_a_segment_with_descriptors_finds_the_queued_data() {
    util::bounded(|| {
        let pass = std::fs::File::open("/dev/null").unwrap();
        // std, as the reference.
        let (c, mut s) = std::os::unix::net::UnixStream::pair().unwrap();
        s.set_read_timeout(Some(STALL)).unwrap();
        send_with_fd(c.as_raw_fd(), b"abc", pass.as_raw_fd());
        (&c).write_all(b"def").unwrap();
        let (std_first, std_second) = two_reads(&mut s);
        assert_eq!(std_first, b"abc", "std stops after the descriptors");
        assert_eq!(std_second.unwrap(), b"def");

        let (c, mut s) = green::net::unix::UnixStream::pair().unwrap();
        s.set_read_timeout(Some(STALL)).unwrap();
        // The reader waits first, so both sends reach it as one edge.
        let reader = green::spawn(move || two_reads(&mut s));
        green::yield_now();
        send_with_fd(c.as_raw_fd(), b"abc", pass.as_raw_fd());
        (&c).write_all(b"def").unwrap();
        let (first, second) = reader.join().expect("reader");
        assert_eq!(first, std_first);
        expect_def(second, "the descriptors");
    });
}

/// The second read must find `def`, queued behind `after`; a
/// `WouldBlock` means it waited out the read timeout for data already there.
fn expect_def(second: std::io::Result<Vec<u8>>, after: &str) {
    match second {
        Ok(bytes) => assert_eq!(bytes, b"def"),
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            panic!("the read after {after} waited for data already queued")
        }
        Err(e) => panic!("second read: {e}"),
    }
}

/// A connected pair of std TCP streams (client, server) on 127.0.0.1.
fn std_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}
