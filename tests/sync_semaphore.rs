//! `Semaphore` and `BoundedSemaphore`: permits bound concurrency, waiters
//! are served in FIFO order by hand-off, and no permit is lost.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use green::sync::{BoundedSemaphore, Semaphore};
use util::bounded;

#[test]
fn permits_bound_concurrent_holders() {
    bounded(|| {
        let sem = Arc::new(Semaphore::new(3));
        let inside = Rc::new(Cell::new(0));
        let most = Rc::new(Cell::new(0));
        let hs: Vec<_> = (0..10)
            .map(|_| {
                let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
                green::spawn(move || {
                    let _p = sem.acquire();
                    inside.set(inside.get() + 1);
                    most.set(most.get().max(inside.get()));
                    green::yield_now();
                    inside.set(inside.get() - 1);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(most.get(), 3);
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn waiters_acquire_in_fifo_order() {
    bounded(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.acquire();
        let order = Rc::new(RefCell::new(Vec::new()));
        let hs: Vec<_> = (0..5)
            .map(|i| {
                let (sem, order) = (sem.clone(), order.clone());
                green::spawn(move || {
                    let _p = sem.acquire();
                    order.borrow_mut().push(i);
                })
            })
            .collect();
        green::yield_now();
        assert_eq!(sem.waiters(), 5);
        drop(held);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
    });
}

#[test]
fn release_and_reacquire_loop_cannot_starve_a_waiter() {
    bounded(|| {
        let sem = Arc::new(Semaphore::new(1));
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut permit = sem.acquire();
        let (s, l) = (sem.clone(), log.clone());
        let waiter = green::spawn(move || {
            let _p = s.acquire();
            l.borrow_mut().push("waiter");
        });
        green::yield_now(); // the waiter queues
        for _ in 0..3 {
            drop(permit);
            // The release handed the permit to the waiter: this acquire
            // queues behind it instead of taking the permit back.
            permit = sem.acquire();
            log.borrow_mut().push("loop");
        }
        drop(permit);
        waiter.join().unwrap();
        assert_eq!(*log.borrow(), ["waiter", "loop", "loop", "loop"]);
    });
}

#[test]
fn try_acquire_does_not_overtake_a_waiter() {
    bounded(|| {
        let sem = Arc::new(Semaphore::new(1));
        let p = sem.acquire();
        let s = sem.clone();
        let waiter = green::spawn(move || drop(s.acquire()));
        green::yield_now();
        drop(p);
        // Handed to the waiter, which has not run yet.
        assert!(sem.try_acquire().is_none());
        waiter.join().unwrap();
        assert!(sem.try_acquire().is_some());
    });
}

#[test]
fn acquire_timeout_gives_up_and_takes_no_permit() {
    bounded(|| {
        let sem = Semaphore::new(1);
        let p = sem.acquire();
        assert!(sem.acquire_timeout(Duration::from_millis(3)).is_none());
        assert!(sem.acquire_timeout(Duration::ZERO).is_none());
        assert_eq!(sem.waiters(), 0);
        drop(p);
        assert_eq!(sem.available_permits(), 1);
        assert!(sem.acquire_timeout(Duration::ZERO).is_some());
    });
}

#[test]
fn release_adds_a_permit_to_an_unbounded_semaphore() {
    let sem = Semaphore::new(0);
    sem.release();
    sem.release();
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn release_wakes_a_waiter() {
    bounded(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s = sem.clone();
        let h = green::spawn(move || s.acquire().forget());
        green::yield_now();
        sem.release();
        h.join().unwrap();
        assert_eq!(sem.available_permits(), 0);
    });
}

#[test]
fn bounded_release_beyond_initial_count_is_an_error() {
    let sem = BoundedSemaphore::new(2);
    assert!(sem.release().is_err());
    sem.acquire().forget();
    sem.release().unwrap();
    assert!(sem.release().is_err());
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn owned_permit_moves_into_a_greenlet_and_returns_on_exit() {
    bounded(|| {
        let sem = Semaphore::new(1);
        let p = sem.acquire_owned();
        let h = green::spawn(move || {
            let _p = p;
            green::yield_now();
        });
        assert_eq!(sem.available_permits(), 0);
        h.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
        assert!(sem.try_acquire_owned().is_some());
    });
}

#[test]
fn permit_forget_keeps_the_permit() {
    let sem = Semaphore::new(1);
    sem.acquire().forget();
    assert_eq!(sem.available_permits(), 0);
    assert!(sem.acquire_owned_timeout(Duration::ZERO).is_none());
    sem.release();
    sem.acquire_owned().forget();
    assert_eq!(sem.available_permits(), 0);
}
