//! Writing to a closed peer gives `BrokenPipe` and does not kill the
//! process with `SIGPIPE`, even with `SIGPIPE` at its default action (the
//! Rust runtime ignores it before `main`; a library cannot count on that).
//! Its own test binary, because the signal disposition is process-wide.

use std::io::{ErrorKind, Write};

use green::net::unix::UnixStream;
use green::net::{TcpListener, TcpStream};

#[test]
fn writes_to_a_closed_peer_fail_without_sigpipe() {
    // SAFETY: restoring the default action of SIGPIPE; no handler involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };

    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    drop(l.accept().unwrap());
    let mut kinds = Vec::new();
    for _ in 0..100 {
        if let Err(e) = c.write(&[0u8; 1024]) {
            kinds.push(e.kind());
            if e.kind() == ErrorKind::BrokenPipe {
                break;
            }
        }
    }
    assert_eq!(kinds.last(), Some(&ErrorKind::BrokenPipe), "{kinds:?}");

    let (mut a, b) = UnixStream::pair().unwrap();
    drop(b);
    assert_eq!(a.write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
}
