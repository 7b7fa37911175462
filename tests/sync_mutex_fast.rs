//! `Mutex`'s one-word fast path: the races between a waiter announcing
//! itself and an unlocker clearing the word, across threads; the fairness
//! budget on the fast path; the word left behind by waiters that time out
//! or are killed. No timing assertions: every test is bounded by the
//! safety nets of `util::bounded` and only checks counts and states.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use green::sync::{Condvar, Mutex};
use util::bounded;

/// Runs `body(thread_index)` on `n` OS threads at once, each inside the
/// safety nets, and waits for all of them.
fn on_threads(n: usize, body: impl Fn(usize) + Send + Sync + 'static) {
    let body = Arc::new(body);
    let start = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|t| {
            let (body, start) = (body.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                bounded(|| body(t));
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a test thread panicked");
    }
}

/// Many greenlets on two hubs hammer one mutex with short critical
/// sections (the fast path) and, every few rounds, one held across a
/// switch (so others queue and unlocks take the hand-off path). A lost
/// wake-up would hang a greenlet; two owners at once would lose an
/// increment or trip the `inside` check.
#[test]
fn greenlets_on_two_threads_contending_count_exactly() {
    const GREENLETS: usize = 8;
    const ROUNDS: usize = 5_000;
    let m = Arc::new(Mutex::new(0usize));
    let inside = Arc::new(AtomicBool::new(false));
    let (m2, inside2) = (m.clone(), inside.clone());
    on_threads(2, move |_| {
        let hs: Vec<_> = (0..GREENLETS)
            .map(|g| {
                let (m, inside) = (m2.clone(), inside2.clone());
                green::spawn(move || {
                    for r in 0..ROUNDS {
                        let mut n = m.lock();
                        assert!(!inside.swap(true, Ordering::Relaxed), "two owners");
                        let v = *n;
                        if (r + g) % 7 == 0 {
                            green::yield_now(); // others queue behind us
                        }
                        *n = v + 1;
                        inside.store(false, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    assert_eq!(*m.lock(), 2 * GREENLETS * ROUNDS);
    assert!(!m.is_locked());
    assert!(!inside.load(Ordering::Relaxed));
}

/// Plain threads (each blocking by running its own, otherwise empty, hub)
/// lock and unlock in tight loops: the unlocker's `LOCKED → 0` and the
/// waiter's `LOCKED → LOCKED | QUEUED` meet as often as the machine lets
/// them. The count must come out exact and nobody may hang.
#[test]
fn plain_threads_in_tight_loops_count_exactly() {
    const THREADS: usize = 3;
    const ROUNDS: usize = 20_000;
    let m = Arc::new(Mutex::new(0usize));
    let m2 = m.clone();
    on_threads(THREADS, move |_| {
        for _ in 0..ROUNDS {
            let mut n = m2.lock();
            // A critical section long enough for the others to find the
            // mutex held now and then.
            for _ in 0..50 {
                *n = std::hint::black_box(*n);
            }
            *n += 1;
        }
    });
    assert_eq!(*m.lock(), THREADS * ROUNDS);
    assert!(!m.is_locked());
}

/// `lock_timeout`, `try_lock` and `lock` mixed across two threads: every
/// success is counted once, and at the end the mutex is free (a waiter
/// that timed out, leaving a stale `QUEUED`, did not strand the lock).
#[test]
fn timeouts_and_try_locks_racing_with_unlocks_leave_it_consistent() {
    const ROUNDS: usize = 3_000;
    let m = Arc::new(Mutex::new(0usize));
    let successes = Arc::new(AtomicUsize::new(0));
    let (m2, s2) = (m.clone(), successes.clone());
    on_threads(2, move |t| {
        let hs: Vec<_> = (0..4usize)
            .map(|g| {
                let (m, s) = (m2.clone(), s2.clone());
                green::spawn(move || {
                    for r in 0..ROUNDS {
                        let guard = match (r + g + t) % 3 {
                            0 => m.lock_timeout(Duration::from_micros(50)),
                            1 => m.try_lock(),
                            _ => Some(m.lock()),
                        };
                        if let Some(mut n) = guard {
                            *n += 1;
                            s.fetch_add(1, Ordering::Relaxed);
                            if r % 5 == 0 {
                                green::yield_now();
                            }
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    assert_eq!(*m.lock(), successes.load(Ordering::Relaxed));
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
}

/// A greenlet that locks and unlocks in a loop without ever blocking
/// spends its budget on the fast path and so lets another ready greenlet
/// run.
#[test]
fn uncontended_lock_loop_lets_others_run() {
    bounded(|| {
        let m = Rc::new(Mutex::new(0u64));
        let stop = Rc::new(Cell::new(false));
        let (m2, stop2) = (m.clone(), stop.clone());
        let looper = green::spawn(move || {
            let mut rounds = 0u64;
            while !stop2.get() {
                *m2.lock() += 1;
                rounds += 1;
            }
            rounds
        });
        let stop3 = stop.clone();
        let other = green::spawn(move || stop3.set(true));
        other.join().unwrap();
        let rounds = looper.join().unwrap();
        assert!(rounds > 0);
        assert_eq!(*m.lock(), rounds);
    });
}

/// Waiters that time out remove their entries without clearing the word;
/// the next unlock finds the list empty and frees the mutex, after which
/// the fast paths work again.
#[test]
fn waiters_that_time_out_leave_the_mutex_free_after_unlock() {
    bounded(|| {
        let m = Arc::new(Mutex::new(0));
        let held = m.lock();
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let m = m.clone();
                green::spawn(move || m.lock_timeout(Duration::from_millis(2)).is_some())
            })
            .collect();
        for h in hs {
            assert!(!h.join().unwrap(), "the lock was held all along");
        }
        assert!(m.is_locked());
        drop(held);
        assert!(!m.is_locked());
        for _ in 0..3 {
            *m.try_lock().expect("free again") += 1;
            *m.lock() += 1;
        }
        assert_eq!(*m.lock(), 6);
    });
}

/// A waiter killed while queued leaves; the holder's unlock then frees the
/// mutex instead of handing it to nobody.
#[test]
fn killed_queued_waiter_leaves_the_mutex_free_after_unlock() {
    bounded(|| {
        let m = Arc::new(Mutex::new(0));
        let held = m.lock();
        let m2 = m.clone();
        let waiter = green::spawn(move || *m2.lock() += 1);
        green::yield_now(); // queued
        waiter.kill();
        assert!(waiter.join().unwrap_err().is_killed());
        drop(held);
        assert!(!m.is_locked());
        assert_eq!(*m.try_lock().expect("free"), 0);
    });
}

/// Waiters on two hubs are both handed the lock; the last one handed it
/// clears `QUEUED`, so its own unlock is the fast one and leaves the mutex
/// free.
#[test]
fn waiters_on_two_hubs_are_handed_the_lock_then_it_is_free() {
    bounded(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let held = m.lock();
        let queued = Arc::new(AtomicUsize::new(0));
        // One waiter on another thread.
        let (m2, q2) = (m.clone(), queued.clone());
        let remote = thread::spawn(move || {
            bounded(|| {
                let me = green::spawn(move || {
                    q2.fetch_add(1, Ordering::SeqCst);
                    m2.lock().push("remote");
                });
                me.join().unwrap();
            })
        });
        util::yield_until(|| queued.load(Ordering::SeqCst) == 1);
        let m3 = m.clone();
        let local = green::spawn(move || m3.lock().push("local"));
        green::yield_now();
        drop(held);
        local.join().unwrap();
        remote.join().unwrap();
        let log = m.lock();
        assert_eq!(log.len(), 2);
        assert!(log.contains(&"remote") && log.contains(&"local"));
        drop(log);
        assert!(!m.is_locked());
    });
}

/// A condition variable over the new mutex, ping-ponging between two
/// threads: every wait re-locks through the slow or fast path.
#[test]
fn condvar_ping_pong_across_threads() {
    const ROUNDS: usize = 2_000;
    let pair = Arc::new((Mutex::new(0usize), Condvar::new()));
    let p = pair.clone();
    on_threads(2, move |t| {
        let (m, cv) = &*p;
        let mut g = m.lock();
        loop {
            while *g % 2 != t && *g < ROUNDS {
                g = cv.wait(g);
            }
            if *g >= ROUNDS {
                break;
            }
            *g += 1;
            cv.notify_all();
        }
        cv.notify_all();
    });
    assert_eq!(*pair.0.lock(), ROUNDS);
    assert!(!pair.0.is_locked());
}
