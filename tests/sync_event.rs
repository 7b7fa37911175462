//! `Event` and `AsyncResult`: setting wakes every waiter; waits with a
//! timeout give up; a result is set once.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use green::sync::{AsyncResult, Event};
use util::bounded;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn set_wakes_every_waiter() {
    bounded(|| {
        let ev = Arc::new(Event::new());
        let woken = Rc::new(RefCell::new(Vec::new()));
        let hs: Vec<_> = (0..5)
            .map(|i| {
                let ev = ev.clone();
                let woken = woken.clone();
                green::spawn(move || {
                    ev.wait();
                    woken.borrow_mut().push(i);
                })
            })
            .collect();
        green::yield_now(); // every waiter parks in `wait`
        assert!(woken.borrow().is_empty());
        ev.set();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*woken.borrow(), [0, 1, 2, 3, 4]);
    });
}

#[test]
fn wait_returns_at_once_when_already_set() {
    bounded(|| {
        let ev = Event::new();
        ev.set();
        ev.wait();
        assert!(ev.wait_timeout(Duration::ZERO));
        assert!(ev.is_set());
    });
}

#[test]
fn wait_timeout_gives_up_when_never_set() {
    bounded(|| {
        let ev = Event::new();
        assert!(!ev.wait_timeout(Duration::from_millis(5)));
        assert!(!ev.wait_timeout(Duration::ZERO));
    });
}

#[test]
fn clear_makes_later_waiters_block() {
    bounded(|| {
        let ev = Event::new();
        ev.set();
        ev.clear();
        assert!(!ev.is_set());
        assert!(!ev.wait_timeout(Duration::from_millis(2)));
    });
}

#[test]
fn waiter_woken_by_set_returns_true_even_if_cleared_before_it_runs() {
    bounded(|| {
        let ev = Arc::new(Event::new());
        let e = ev.clone();
        let h = green::spawn(move || e.wait_timeout(LONG));
        green::yield_now();
        ev.set();
        ev.clear();
        assert!(h.join().unwrap());
    });
}

#[test]
fn set_from_plain_thread_wakes_greenlet() {
    bounded(|| {
        let ev = Arc::new(Event::new());
        let e = ev.clone();
        let h = green::spawn(move || e.wait_timeout(LONG));
        green::yield_now();
        let e = ev.clone();
        std::thread::spawn(move || e.set()).join().unwrap();
        assert!(h.join().unwrap());
    });
}

#[test]
fn async_result_wakes_every_reader_with_the_value() {
    bounded(|| {
        let r: Arc<AsyncResult<String, String>> = Arc::new(AsyncResult::new());
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let r = r.clone();
                green::spawn(move || r.get())
            })
            .collect();
        green::yield_now();
        assert!(!r.is_ready());
        r.set("v".to_string()).unwrap();
        for h in hs {
            assert_eq!(h.join().unwrap(), Ok("v".to_string()));
        }
        assert!(r.is_ready() && r.is_successful());
        assert_eq!(r.peek(), Some(&Ok("v".to_string())));
    });
}

#[test]
fn async_result_set_twice_is_an_error_and_keeps_the_first() {
    let r: AsyncResult<u32, &str> = AsyncResult::new();
    r.set(1).unwrap();
    let e = r.set_error("late").unwrap_err();
    assert_eq!(e.into_inner(), Err("late"));
    assert!(r.set(2).is_err());
    assert_eq!(r.get(), Ok(1));
}

#[test]
fn async_result_error_is_not_successful() {
    let r: AsyncResult<u32, &str> = AsyncResult::new();
    r.set_error("boom").unwrap();
    assert!(r.is_ready());
    assert!(!r.is_successful());
    assert_eq!(r.wait(), &Err("boom"));
    assert_eq!(r.into_inner(), Some(Err("boom")));
}

#[test]
fn async_result_wait_timeout_gives_up_when_unset() {
    bounded(|| {
        let r: AsyncResult<u32, ()> = AsyncResult::new();
        assert_eq!(r.wait_timeout(Duration::from_millis(3)), None);
        assert_eq!(r.get_timeout(Duration::ZERO), None);
    });
}

#[test]
fn async_result_borrowing_wait_needs_no_clone() {
    struct NotClone(u8);
    bounded(|| {
        let r: Arc<AsyncResult<NotClone, ()>> = Arc::new(AsyncResult::new());
        let w = r.clone();
        let h = green::spawn(move || match w.wait() {
            Ok(v) => v.0,
            Err(()) => 0,
        });
        green::yield_now();
        let _ = r.set(NotClone(9));
        assert_eq!(h.join().unwrap(), 9);
    });
}
