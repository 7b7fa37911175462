//! Readiness: `Registration::io` over real non-blocking sockets on
//! 127.0.0.1 parks a greenlet until its direction is ready; readers and
//! writers wait independently; no wake-up is lost.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::{Direction, GreenletState, Registration};
use util::{bounded, tcp_pair, yield_until};

/// A green view of a non-blocking std socket, as green-net builds its own.
/// The registration is declared first so it leaves the poll before the
/// socket is closed.
struct Green {
    reg: Registration,
    sock: TcpStream,
}

impl Green {
    fn new(sock: TcpStream) -> Rc<Green> {
        Rc::new(Green {
            reg: Registration::new(sock.as_raw_fd()),
            sock,
        })
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.reg
            .io(Direction::Read, None, || (&self.sock).read(buf))
    }

    fn read_until(&self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
        self.reg
            .io(Direction::Read, deadline, || (&self.sock).read(buf))
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.reg
            .io(Direction::Write, None, || (&self.sock).write(buf))
    }

    fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write(buf)?;
            buf = &buf[n..];
        }
        Ok(())
    }

    fn fd(&self) -> i32 {
        self.sock.as_raw_fd()
    }
}

fn waiting_on(id: green::GreenletId) -> Option<String> {
    green::dump()
        .into_iter()
        .find(|g| g.id == id)
        .filter(|g| g.state == GreenletState::Blocked)
        .and_then(|g| g.waiting_on)
}

#[test]
fn read_parks_until_a_peer_writes() {
    bounded(|| {
        let (a, b) = tcp_pair();
        let (a, b) = (Green::new(a), Green::new(b));
        let fd = a.fd();
        let reader = green::spawn(move || {
            let mut buf = [0u8; 16];
            let n = a.read(&mut buf).expect("read");
            buf[..n].to_vec()
        });
        let reader_id = reader.id();
        let seen_waiting = Rc::new(RefCell::new(None));
        let s = seen_waiting.clone();
        let writer = green::spawn(move || {
            // The reader has run and found nothing: it is parked on its fd.
            *s.borrow_mut() = waiting_on(reader_id);
            b.write_all(b"hello").expect("write");
            b
        });
        assert_eq!(reader.join().unwrap(), b"hello");
        let _b = writer.join().unwrap();
        assert_eq!(
            seen_waiting.borrow().as_deref(),
            Some(format!("readable fd {fd}").as_str())
        );
        assert_eq!(green::stats().io_waiters, 0);
    });
}

#[test]
fn reader_and_writer_on_one_socket_wait_independently() {
    bounded(|| {
        let (a, b) = tcp_pair();
        let (a, b) = (Green::new(a), Green::new(b));
        let fd = a.fd();
        let writer_blocked = Rc::new(Cell::new(false));

        // Reads `a`: parked until the far end answers, all along.
        let a_reader = {
            let a = a.clone();
            green::spawn(move || {
                let mut buf = [0u8; 16];
                let n = a.read(&mut buf).expect("read reply");
                buf[..n].to_vec()
            })
        };
        // Writes `a` until the socket buffers are full and it has had to
        // wait for writability, then a little more, then closes its half.
        let a_writer = {
            let (a, blocked) = (a.clone(), writer_blocked.clone());
            green::spawn(move || {
                let chunk = vec![0x5au8; 64 * 1024];
                let mut total = 0usize;
                let mut extra = 0;
                while extra < 4 {
                    let n = a
                        .reg
                        .io(Direction::Write, None, || {
                            let r = (&a.sock).write(&chunk);
                            if r.as_ref()
                                .is_err_and(|e| e.kind() == io::ErrorKind::WouldBlock)
                            {
                                blocked.set(true);
                            }
                            r
                        })
                        .expect("write");
                    total += n;
                    if blocked.get() {
                        extra += 1;
                    }
                }
                a.sock.shutdown(Shutdown::Write).expect("shutdown");
                total
            })
        };
        let ids = (a_reader.id(), a_writer.id());
        // The far end: once the writer is stuck, checks that both greenlets
        // of `a` are parked on the same fd for different directions, then
        // drains everything and answers.
        let far = green::spawn(move || {
            yield_until(|| writer_blocked.get() && waiting_on(ids.1).is_some());
            let r = waiting_on(ids.0);
            let w = waiting_on(ids.1);
            let mut buf = vec![0u8; 256 * 1024];
            let mut drained = 0usize;
            loop {
                let n = b.read(&mut buf).expect("drain");
                if n == 0 {
                    break;
                }
                drained += n;
            }
            b.write_all(b"pong").expect("answer");
            (drained, r, w, b)
        });
        let written = a_writer.join().unwrap();
        let (drained, r, w, _b) = far.join().unwrap();
        assert_eq!(a_reader.join().unwrap(), b"pong");
        assert_eq!(drained, written, "every byte written arrived");
        assert_eq!(r.as_deref(), Some(format!("readable fd {fd}").as_str()));
        assert_eq!(w.as_deref(), Some(format!("writable fd {fd}").as_str()));
        assert_eq!(green::stats().io_waiters, 0);
    });
}

#[test]
fn two_readers_on_one_socket_both_get_data() {
    bounded(|| {
        let (a, b) = tcp_pair();
        let (a, b) = (Green::new(a), Green::new(b));
        let got = Rc::new(RefCell::new(Vec::new()));
        let readers: Vec<_> = (0..2)
            .map(|i| {
                let (a, got) = (a.clone(), got.clone());
                green::spawn(move || {
                    let mut buf = [0u8; 16];
                    let n = a.read(&mut buf).expect("read");
                    got.borrow_mut().push((i, buf[..n].to_vec()));
                })
            })
            .collect();
        let ids: Vec<_> = readers.iter().map(|h| h.id()).collect();
        let g = got.clone();
        let writer = green::spawn(move || {
            yield_until(|| ids.iter().all(|id| waiting_on(*id).is_some()));
            b.write_all(b"a").expect("write");
            // One reader takes it; the other must still be woken later.
            yield_until(|| g.borrow().len() == 1);
            b.write_all(b"b").expect("write");
            b
        });
        for r in readers {
            r.join().unwrap();
        }
        let _b = writer.join().unwrap();
        let mut data: Vec<Vec<u8>> = got.borrow().iter().map(|(_, d)| d.clone()).collect();
        data.sort();
        assert_eq!(data, [b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(green::stats().io_waiters, 0);
    });
}

#[test]
fn read_deadline_gives_timed_out() {
    bounded(|| {
        let (a, _b) = tcp_pair();
        let a = Green::new(a);
        let before = green::stats().io_waiters;
        let h = green::spawn(move || {
            let mut buf = [0u8; 16];
            let deadline = Instant::now() + Duration::from_millis(10);
            let r = a.read_until(&mut buf, Some(deadline));
            (r.map_err(|e| e.kind()), Instant::now() >= deadline)
        });
        let (r, after_deadline) = h.join().unwrap();
        assert_eq!(r, Err(io::ErrorKind::TimedOut));
        assert!(after_deadline);
        assert_eq!(green::stats().io_waiters, before);
    });
}

#[test]
fn timeout_region_interrupts_a_read() {
    bounded(|| {
        let (a, _b) = tcp_pair();
        let a = Green::new(a);
        let h = green::spawn(move || {
            let mut buf = [0u8; 16];
            green::with_timeout(Duration::from_millis(10), || a.read(&mut buf)).is_err()
        });
        assert!(h.join().unwrap(), "Elapsed");
        assert_eq!(green::stats().io_waiters, 0);
    });
}

#[test]
fn killing_a_parked_reader_removes_its_io_wait() {
    bounded(|| {
        let (a, b) = tcp_pair();
        let (a, b) = (Green::new(a), Green::new(b));
        let reader = {
            let a = a.clone();
            green::spawn(move || {
                let mut buf = [0u8; 16];
                a.read(&mut buf)
            })
        };
        green::yield_now();
        assert_eq!(green::stats().io_waiters, 1);
        reader.kill();
        assert!(reader.join().unwrap_err().is_killed());
        assert_eq!(green::stats().io_waiters, 0);
        // The socket still works for a new reader afterwards.
        let again = green::spawn(move || {
            let mut buf = [0u8; 16];
            let n = a.read(&mut buf).expect("read");
            buf[..n].to_vec()
        });
        let w = green::spawn(move || b.write_all(b"still here").expect("write"));
        assert_eq!(again.join().unwrap(), b"still here");
        w.join().unwrap();
    });
}

#[test]
fn peer_close_wakes_a_parked_reader_with_eof() {
    bounded(|| {
        let (a, b) = tcp_pair();
        let a = Green::new(a);
        let reader = green::spawn(move || {
            let mut buf = [0u8; 16];
            a.read(&mut buf).expect("read")
        });
        let closer = green::spawn(move || drop(b));
        assert_eq!(reader.join().unwrap(), 0, "EOF");
        closer.join().unwrap();
    });
}

/// Regression: a peer's last data and its FIN can arrive as one edge. A
/// read that returns the data short and then clears readiness (the
/// short-read rule) must still see the EOF, not park for ever.
#[test]
fn clear_readiness_keeps_an_eof_that_came_with_the_data() {
    bounded(|| {
        let (a, b) = tcp_pair();
        let a = Green::new(a);
        let reader = green::spawn(move || {
            let mut buf = [0u8; 32];
            // Park first, so the registration exists when the data and the
            // FIN arrive.
            let n = a.read(&mut buf).expect("read the data");
            a.reg.clear_readiness(Direction::Read);
            let deadline = Instant::now() + Duration::from_secs(5);
            let eof = a.read_until(&mut buf[n..], Some(deadline));
            (n, eof.map_err(|e| e.kind()))
        });
        let writer = green::spawn(move || {
            // One write then a FIN, back to back: usually one edge.
            (&b).write_all(b"half").expect("write");
            b.shutdown(Shutdown::Write).expect("shutdown");
            b
        });
        let (n, eof) = reader.join().unwrap();
        assert_eq!(n, 4);
        assert_eq!(eof, Ok(0), "the EOF after the data is seen");
        drop(writer.join().unwrap());
    });
}

#[test]
fn registration_is_counted_and_released() {
    bounded(|| {
        let before = green::stats().io_sources;
        let (a, b) = tcp_pair();
        let (a, b) = (Green::new(a), Green::new(b));
        let reader = {
            let a = a.clone();
            green::spawn(move || {
                let mut buf = [0u8; 16];
                a.read(&mut buf).expect("read")
            })
        };
        green::yield_now();
        assert_eq!(
            green::stats().io_sources,
            before + 1,
            "registered on first wait"
        );
        let w = green::spawn(move || b.write_all(b"x").expect("write"));
        assert_eq!(reader.join().unwrap(), 1);
        w.join().unwrap();
        drop(a);
        assert_eq!(green::stats().io_sources, before, "dropping it deregisters");
    });
}

/// Regression: the fairness yield used to come after a successful read; a
/// Timeout (or kill) delivered there unwound with the byte already read,
/// losing it. Now the budget is spent before the attempt.
#[test]
fn timeout_at_the_fairness_yield_loses_no_data() {
    bounded(|| {
        let (a, b) = tcp_pair();
        let all: Vec<u8> = (0..=255u8).collect();
        (&b).write_all(&all).unwrap();
        let a = Green::new(a);
        // Wait until every byte is readable, so the reads below never park.
        yield_until(|| a.sock.peek(&mut [0u8; 256]).is_ok_and(|n| n == 256));
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let reader = a.clone();
        // The deadline has already passed: the region ends at its first
        // blocking point, the fairness yield after the budget runs out.
        let r = green::Timeout::at(Instant::now()).run(move || loop {
            let mut one = [0u8; 1];
            let n = reader.read(&mut one).unwrap();
            assert_eq!(n, 1);
            s.borrow_mut().push(one[0]);
        });
        assert!(r.is_err(), "the region ended at the deadline");
        let seen = seen.borrow();
        assert!(!seen.is_empty() && seen.len() < 256);
        let mut next = [0u8; 1];
        assert_eq!(a.read(&mut next).unwrap(), 1);
        assert_eq!(
            usize::from(next[0]),
            seen.len(),
            "the byte after the region is the next one: none was lost"
        );
    });
}
