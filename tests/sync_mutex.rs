//! `Mutex`, `RwLock` and `Condvar`: green locking, FIFO hand-off, timeouts.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use green::sync::{Condvar, Mutex, RwLock};
use util::bounded;

#[test]
fn lock_held_across_a_yield_excludes_others() {
    bounded(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let m = m.clone();
                green::spawn(move || {
                    let mut g = m.lock();
                    g.push((i, "in"));
                    green::yield_now(); // others run and queue for the lock
                    g.push((i, "out"));
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let log = m.lock();
        // Never interleaved: every "in" is followed by its own "out".
        for pair in log.chunks(2) {
            assert_eq!(pair[0].0, pair[1].0);
        }
        assert_eq!(log.len(), 8);
    });
}

#[test]
fn waiters_get_the_lock_in_fifo_order() {
    bounded(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let g = m.lock();
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let m = m.clone();
                green::spawn(move || m.lock().push(i))
            })
            .collect();
        green::yield_now();
        drop(g);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*m.lock(), [0, 1, 2, 3]);
    });
}

#[test]
fn unlock_and_relock_loop_cannot_starve_a_waiter() {
    bounded(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let mut g = m.lock();
        let m2 = m.clone();
        let waiter = green::spawn(move || m2.lock().push("waiter"));
        green::yield_now();
        for _ in 0..3 {
            drop(g);
            g = m.lock();
            g.push("loop");
        }
        drop(g);
        waiter.join().unwrap();
        assert_eq!(*m.lock(), ["waiter", "loop", "loop", "loop"]);
    });
}

#[test]
fn try_lock_and_lock_timeout_fail_while_held() {
    bounded(|| {
        let m = Mutex::new(1);
        let g = m.lock();
        assert!(m.is_locked());
        assert!(m.try_lock().is_none());
        assert!(m.lock_timeout(Duration::from_millis(3)).is_none());
        drop(g);
        assert!(!m.is_locked());
        assert_eq!(*m.try_lock().unwrap(), 1);
        *m.lock_timeout(Duration::ZERO).unwrap() += 1;
        assert_eq!(m.into_inner(), 2);
    });
}

#[test]
fn panicking_holder_unlocks_without_poisoning() {
    bounded(|| {
        let m = Arc::new(Mutex::new(0));
        let m2 = m.clone();
        let h = green::spawn(move || {
            let _g = m2.lock();
            panic!("holder panics");
        });
        assert!(h.join().unwrap_err().is_panic());
        *m.lock() += 1;
        assert_eq!(*m.lock(), 1);
    });
}

#[test]
fn rwlock_allows_many_readers_and_one_writer() {
    bounded(|| {
        let l = RwLock::new(0);
        let r1 = l.read();
        let r2 = l.try_read().unwrap();
        assert!(l.try_write().is_none());
        assert!(l.write_timeout(Duration::from_millis(2)).is_none());
        drop((r1, r2));
        let mut w = l.write();
        *w += 1;
        assert!(l.try_read().is_none());
        drop(w);
        assert_eq!(*l.read(), 1);
    });
}

#[test]
fn rwlock_reader_queues_behind_a_waiting_writer() {
    bounded(|| {
        let l = Arc::new(RwLock::new(Vec::new()));
        let r = l.read();
        let lw = l.clone();
        let writer = green::spawn(move || lw.write().push("writer"));
        green::yield_now(); // the writer waits for the reader
                            // A new reader must not overtake the waiting writer.
        assert!(l.try_read().is_none());
        let lr = l.clone();
        let reader = green::spawn(move || lr.read().len());
        green::yield_now();
        drop(r);
        writer.join().unwrap();
        assert_eq!(reader.join().unwrap(), 1);
    });
}

#[test]
fn rwlock_writer_release_admits_all_queued_readers_together() {
    bounded(|| {
        let l = Arc::new(RwLock::new(0));
        let w = l.write();
        let inside = Rc::new(RefCell::new(0));
        let most = Rc::new(RefCell::new(0));
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let (l, inside, most) = (l.clone(), inside.clone(), most.clone());
                green::spawn(move || {
                    let _r = l.read();
                    *inside.borrow_mut() += 1;
                    let now = *inside.borrow();
                    let m = *most.borrow();
                    *most.borrow_mut() = m.max(now);
                    green::yield_now();
                    *inside.borrow_mut() -= 1;
                })
            })
            .collect();
        green::yield_now();
        drop(w);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*most.borrow(), 3);
    });
}

#[test]
fn condvar_notify_one_wakes_a_waiter() {
    bounded(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p = pair.clone();
        let waiter = green::spawn(move || {
            let g = p.1.wait_while(p.0.lock(), |ready| !*ready);
            *g
        });
        green::yield_now();
        *pair.0.lock() = true;
        pair.1.notify_one();
        assert!(waiter.join().unwrap());
    });
}

#[test]
fn condvar_notify_all_wakes_every_waiter_in_order() {
    bounded(|| {
        let pair = Arc::new((Mutex::new((false, Vec::new())), Condvar::new()));
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let p = pair.clone();
                green::spawn(move || {
                    let mut g = p.1.wait_while(p.0.lock(), |s| !s.0);
                    g.1.push(i);
                })
            })
            .collect();
        green::yield_now();
        pair.0.lock().0 = true;
        pair.1.notify_all();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(pair.0.lock().1, [0, 1, 2]);
    });
}

#[test]
fn condvar_wait_timeout_reports_timed_out() {
    bounded(|| {
        let m = Mutex::new(0);
        let cv = Condvar::new();
        let (g, r) = cv.wait_timeout(m.lock(), Duration::from_millis(3));
        assert!(r.timed_out());
        assert_eq!(*g, 0);
        drop(g);
        let (g, r) = cv.wait_timeout_while(m.lock(), Duration::from_millis(3), |v| *v == 0);
        assert!(r.timed_out());
        drop(g);
        // The mutex is free again.
        assert!(m.try_lock().is_some());
    });
}

#[test]
fn condvar_wait_releases_the_mutex() {
    bounded(|| {
        let pair = Arc::new((Mutex::new(0), Condvar::new()));
        let p = pair.clone();
        let waiter = green::spawn(move || {
            let g = p.1.wait(p.0.lock());
            *g
        });
        green::yield_now();
        // The waiter sleeps in `wait`, so the mutex is free.
        *pair.0.try_lock().unwrap() = 5;
        pair.1.notify_one();
        assert_eq!(waiter.join().unwrap(), 5);
    });
}
