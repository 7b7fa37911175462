//! `Timeout` and `with_timeout`: a deadline over a region of blocking code.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::{with_timeout, Elapsed, Timeout};
use util::{bounded, DropFlag};

#[test]
fn blocked_sleep_fails_at_the_deadline_with_elapsed() {
    bounded(|| {
        let after = Rc::new(Cell::new(false));
        let a = after.clone();
        let start = Instant::now();
        let dur = Duration::from_millis(20);
        let r: Result<(), Elapsed> = with_timeout(dur, || {
            green::sleep(Duration::from_secs(3600));
            a.set(true);
        });
        let e = r.expect_err("the sleep outlasts the timeout");
        assert!(Instant::now() >= e.deadline(), "not before its deadline");
        assert!(e.deadline() >= start + dur);
        assert!(!after.get(), "the code after the blocking point never ran");
        assert_eq!(e.to_string(), "deadline has elapsed");
    });
}

#[test]
fn timeout_in_a_greenlet_interrupts_only_that_greenlet() {
    bounded(|| {
        let sleeper = green::spawn(|| {
            with_timeout(Duration::from_millis(10), || {
                green::sleep(Duration::from_secs(3600))
            })
        });
        let other = green::spawn(|| {
            green::sleep(Duration::from_millis(30));
            "other finished its sleep"
        });
        assert!(sleeper.join().unwrap().is_err());
        assert_eq!(other.join().unwrap(), "other finished its sleep");
    });
}

#[test]
fn timeout_interrupts_a_park() {
    bounded(|| {
        let r = with_timeout(Duration::from_millis(10), || loop {
            green::park("nothing will wake me");
        });
        let _: Elapsed = r.unwrap_err();
    });
}

#[test]
fn code_that_finishes_in_time_returns_ok() {
    bounded(|| {
        let r = with_timeout(Duration::from_secs(5), || {
            green::sleep(Duration::from_millis(1));
            5
        });
        assert_eq!(r, Ok(5));
        // A region around a join of a quick greenlet.
        let r = with_timeout(Duration::from_secs(5), || {
            green::spawn(|| 1).join().unwrap()
        });
        assert_eq!(r, Ok(1));
    });
}

#[test]
fn nested_inner_shorter_fires_first_and_outer_still_fires() {
    bounded(|| {
        let inner_deadline = Rc::new(Cell::new(None));
        let i = inner_deadline.clone();
        // The outer deadline leaves the inner region plenty of time to
        // start and expire first, even on a loaded machine.
        let outer = with_timeout(Duration::from_millis(300), || {
            let inner = with_timeout(Duration::from_millis(10), || {
                green::sleep(Duration::from_secs(3600))
            });
            // The inner expiry is caught by the inner region.
            i.set(Some(inner.expect_err("inner timeout fires").deadline()));
            green::sleep(Duration::from_secs(3600));
            "outer region ran to its end"
        });
        let outer = outer.expect_err("the outer timeout still fires");
        let inner = inner_deadline
            .get()
            .expect("the inner region returned Elapsed");
        assert!(
            inner < outer.deadline(),
            "the inner (shorter) one fired first"
        );
    });
}

#[test]
fn nested_outer_shorter_is_returned_by_the_outer_run() {
    bounded(|| {
        let inner_returned = Rc::new(Cell::new(false));
        let r = inner_returned.clone();
        let outer_dur = Duration::from_millis(10);
        let start = Instant::now();
        let outer = with_timeout(outer_dur, || {
            let inner = with_timeout(Duration::from_secs(3600), || {
                green::sleep(Duration::from_secs(7200))
            });
            r.set(true);
            inner
        });
        let e = outer.expect_err("the outer timeout fires");
        assert!(
            e.deadline() < start + Duration::from_secs(60),
            "it is the outer's Elapsed"
        );
        assert!(
            !inner_returned.get(),
            "the outer expiry unwound through the inner run instead of returning from it"
        );
    });
}

#[test]
fn panic_passes_through_with_timeout_unchanged() {
    bounded(|| {
        let h = green::spawn(|| {
            let _ = with_timeout(Duration::from_secs(5), || -> () {
                green::yield_now();
                panic!("boom inside a timeout");
            });
            "unreachable"
        });
        let e = h.join().unwrap_err();
        assert!(e.is_panic());
        let payload = e.into_panic();
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"boom inside a timeout")
        );
    });
}

#[test]
fn kill_passes_through_with_timeout() {
    bounded(|| {
        let h = green::spawn(|| {
            with_timeout(Duration::from_secs(3600), || loop {
                green::park("forever");
            })
        });
        green::yield_now();
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
    });
}

#[test]
fn timeout_unwind_runs_destructors() {
    bounded(|| {
        let (guard, dropped) = DropFlag::new();
        let r = with_timeout(Duration::from_millis(10), move || {
            let _guard = guard;
            green::sleep(Duration::from_secs(3600));
        });
        assert!(r.is_err());
        assert!(
            dropped.get(),
            "the region's locals were dropped on the unwind"
        );
    });
}

#[test]
fn zero_timeout_fires_at_the_first_blocking_point() {
    bounded(|| {
        let reached = Rc::new(Cell::new(false));
        let r = reached.clone();
        let res = with_timeout(Duration::ZERO, || {
            r.set(true); // code before the first blocking point runs
            green::yield_now();
            "after the blocking point"
        });
        assert!(res.is_err());
        assert!(reached.get());
        // Code that never blocks is not interrupted, as in gevent.
        assert_eq!(with_timeout(Duration::ZERO, || 3), Ok(3));
    });
}

#[test]
fn max_timeout_never_fires() {
    bounded(|| {
        assert_eq!(Timeout::new(Duration::MAX).deadline(), None);
        let r = with_timeout(Duration::MAX, || {
            green::sleep(Duration::from_millis(5));
            green::yield_now();
            3
        });
        assert_eq!(r, Ok(3));
        let r = Timeout::never().run(|| {
            green::sleep(Duration::from_millis(1));
            4
        });
        assert_eq!(r, Ok(4));
    });
}

#[test]
fn timeout_at_an_instant_fires_there() {
    bounded(|| {
        let at = Instant::now() + Duration::from_millis(10);
        let r = Timeout::at(at).run(|| green::sleep(Duration::from_secs(3600)));
        assert_eq!(r.unwrap_err().deadline(), at);
        assert!(Instant::now() >= at);
    });
}

#[test]
fn timeout_interrupts_a_join() {
    bounded(|| {
        let release = Rc::new(Cell::new(false));
        let unparker = Rc::new(std::cell::RefCell::new(None));
        let (r, u) = (release.clone(), unparker.clone());
        let slow = green::spawn(move || {
            *u.borrow_mut() = Some(green::current_unparker());
            while !r.get() {
                green::park("release");
            }
        });
        let res = with_timeout(Duration::from_millis(10), move || slow.join());
        assert!(res.is_err(), "the join was cut short by the timeout");
        // The target is unaffected by its joiner's timeout: release it and
        // watch it end on its own.
        assert_eq!(green::stats().greenlets, 1);
        release.set(true);
        unparker.borrow().as_ref().expect("it parked").unpark();
        util::yield_until(|| green::stats().greenlets == 0);
    });
}

#[test]
fn elapsed_converts_to_timed_out_io_error() {
    bounded(|| {
        let e = with_timeout(Duration::ZERO, green::yield_now).unwrap_err();
        let io: std::io::Error = e.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn finished_timeouts_leave_no_timers() {
    bounded(|| {
        let before = green::stats().timers;
        for _ in 0..100 {
            let r = with_timeout(Duration::from_secs(3600), || {
                green::sleep(Duration::from_micros(1))
            });
            assert!(r.is_ok());
        }
        for _ in 0..100 {
            let r = with_timeout(Duration::from_micros(1), || {
                green::sleep(Duration::from_secs(3600))
            });
            assert!(r.is_err());
        }
        assert_eq!(green::stats().timers, before);
    });
}

/// Regression: a destructor that blocks while a Timeout unwinds must be
/// able to wait; the expired deadline is not thrown from inside it.
#[test]
fn destructor_may_block_while_a_timeout_unwinds() {
    bounded(|| {
        struct SlowDrop(Rc<Cell<bool>>);
        impl Drop for SlowDrop {
            fn drop(&mut self) {
                green::sleep(Duration::from_millis(1));
                self.0.set(true);
            }
        }
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        let r = with_timeout(Duration::from_millis(5), move || {
            let _slow = SlowDrop(d);
            green::sleep(Duration::from_secs(60));
        });
        assert!(r.is_err());
        assert!(done.get(), "the blocking destructor finished");
    });
}

/// A destructor that blocks while an expired `Timeout` unwinds its region
/// waits normally: the region's deadline is not delivered during the
/// unwind, so it must not keep waking the destructor's park either (that
/// was a busy wait through the hub, one switch per hub turn).
#[test]
fn a_destructor_blocking_during_a_timeout_unwind_does_not_spin() {
    bounded(|| {
        struct WaitOnDrop {
            go: Rc<green::sync::Event>,
            entered: Rc<Cell<bool>>,
            switches: Rc<Cell<u64>>,
        }
        impl Drop for WaitOnDrop {
            fn drop(&mut self) {
                self.entered.set(true);
                let before = green::stats().switches;
                self.go.wait();
                self.switches.set(green::stats().switches - before);
            }
        }
        let go = Rc::new(green::sync::Event::new());
        let entered = Rc::new(Cell::new(false));
        let switches = Rc::new(Cell::new(0));
        let guard = WaitOnDrop {
            go: go.clone(),
            entered: entered.clone(),
            switches: switches.clone(),
        };
        let victim = green::spawn(move || {
            with_timeout(Duration::from_millis(1), move || {
                let _blocks = guard;
                green::sleep(Duration::from_secs(3600));
            })
        });
        util::settle(|| entered.get()); // the region expired; its unwind waits
        for _ in 0..200 {
            green::yield_now(); // hub turns the destructor's park must sleep through
        }
        go.set();
        assert!(victim.join().unwrap().is_err(), "the region timed out");
        assert!(
            switches.get() < 50,
            "the destructor's wait took {} switches: it was woken again and again",
            switches.get()
        );
    });
}
