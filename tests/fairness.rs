//! Fairness: a greenlet whose green operations keep completing without
//! blocking yields after a small budget of them, so it cannot starve the
//! other ready greenlets.

mod util;

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;

use green::{Direction, Registration};
use util::{bounded, tcp_pair};

const ITERATIONS: u32 = 100_000;

#[test]
fn consume_budget_loop_cannot_starve_another_ready_greenlet() {
    bounded(|| {
        let other_ran = Rc::new(Cell::new(false));
        let seen = other_ran.clone();
        // Simulates an always-ready socket: every operation completes at once.
        let busy = green::spawn(move || {
            for i in 0..ITERATIONS {
                if seen.get() {
                    return Some(i);
                }
                green::consume_budget();
            }
            None
        });
        let o = other_ran.clone();
        let other = green::spawn(move || o.set(true));
        let saw_other_at = busy.join().unwrap();
        other.join().unwrap();
        let i = saw_other_at.expect("the other greenlet ran before the busy one finished");
        assert!(i < ITERATIONS);
    });
}

#[test]
fn always_ready_socket_reader_cannot_starve_others() {
    bounded(|| {
        let (a, mut b) = tcp_pair();
        // Plenty of data waiting: every 1-byte read completes at once.
        let data = vec![7u8; 32 * 1024];
        b.write_all(&data).expect("fill the socket");
        let other_ran = Rc::new(Cell::new(false));
        let seen = other_ran.clone();
        let reader = green::spawn(move || {
            let reg = Registration::new(std::os::fd::AsRawFd::as_raw_fd(&a));
            let mut buf = [0u8; 1];
            let mut n = 0usize;
            while !seen.get() {
                let got = reg
                    .io(Direction::Read, None, || (&a).read(&mut buf))
                    .expect("read");
                assert_eq!(got, 1);
                n += 1;
                assert!(
                    n < data.len(),
                    "read everything without letting the other run"
                );
            }
            drop(reg);
            n
        });
        let o = other_ran.clone();
        let other = green::spawn(move || o.set(true));
        let n = reader.join().unwrap();
        other.join().unwrap();
        assert!(n > 0, "the reader did read before it yielded");
        drop(b);
    });
}

#[test]
fn busy_greenlets_share_the_hub_round_robin() {
    bounded(|| {
        // Two greenlets that never block: each sees the other advance.
        let a_count = Rc::new(Cell::new(0u32));
        let b_count = Rc::new(Cell::new(0u32));
        let spawn_busy = |mine: Rc<Cell<u32>>, theirs: Rc<Cell<u32>>| {
            green::spawn(move || {
                let mut max_seen = 0;
                for _ in 0..10_000 {
                    mine.set(mine.get() + 1);
                    max_seen = max_seen.max(theirs.get());
                    green::consume_budget();
                }
                max_seen
            })
        };
        let a = spawn_busy(a_count.clone(), b_count.clone());
        let b = spawn_busy(b_count.clone(), a_count.clone());
        let a_saw = a.join().unwrap();
        let b_saw = b.join().unwrap();
        assert!(a_saw > 0, "a saw b make progress while a was still running");
        assert!(b_saw > 0);
        assert!(a_saw < 10_000, "a finished before b did");
    });
}
