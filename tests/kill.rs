//! `JoinHandle::kill`: the target unwinds from its blocking point, its
//! destructors run and its joiner sees *killed*.

mod util;

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use util::{bounded, yield_until, DropFlag};

#[test]
fn kill_unwinds_parked_greenlet_and_runs_destructors() {
    bounded(|| {
        let (guard, dropped) = DropFlag::new();
        let started = Rc::new(Cell::new(false));
        let s = started.clone();
        let h = green::spawn(move || {
            let _guard = guard;
            s.set(true);
            loop {
                green::park("forever");
            }
        });
        green::yield_now();
        assert!(started.get());
        assert!(!dropped.get());
        h.kill();
        let e = h.join().unwrap_err();
        assert!(e.is_killed());
        assert!(!e.is_panic());
        assert!(dropped.get(), "the killed greenlet's destructors ran");
    });
}

#[test]
fn kill_unwinds_sleeping_greenlet() {
    bounded(|| {
        let (guard, dropped) = DropFlag::new();
        let h = green::spawn(move || {
            let _guard = guard;
            green::sleep(Duration::from_secs(3600));
        });
        green::yield_now();
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
        assert!(dropped.get());
    });
}

#[test]
fn kill_of_ready_greenlet_is_delivered_at_its_next_blocking_point() {
    bounded(|| {
        let steps = Rc::new(Cell::new(0));
        let s = steps.clone();
        let h = green::spawn(move || loop {
            s.set(s.get() + 1);
            green::yield_now();
        });
        green::yield_now();
        assert_eq!(steps.get(), 1, "ran to its first yield");
        // It is in the run queue now (ready, not parked).
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
        assert_eq!(
            steps.get(),
            1,
            "it did not get past its next blocking point"
        );
    });
}

#[test]
fn kill_before_start_means_it_never_runs() {
    bounded(|| {
        let ran = Rc::new(Cell::new(false));
        let (guard, dropped) = DropFlag::new();
        let r = ran.clone();
        let h = green::spawn(move || {
            let _guard = guard;
            r.set(true);
        });
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
        assert!(!ran.get(), "a greenlet killed before it started never runs");
        assert!(dropped.get(), "its closure (and what it owns) was dropped");
    });
}

#[test]
fn kill_of_finished_greenlet_is_a_no_op() {
    bounded(|| {
        let h = green::spawn(|| 11);
        yield_until(|| h.is_finished());
        h.kill();
        h.kill();
        assert_eq!(h.join().unwrap(), 11, "the value survives a late kill");
    });
}

#[test]
fn kill_twice_is_the_same_as_once() {
    bounded(|| {
        let h = green::spawn(|| loop {
            green::park("forever");
        });
        green::yield_now();
        h.kill();
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
    });
}

#[test]
fn kill_from_another_thread_wakes_and_unwinds_the_greenlet() {
    bounded(|| {
        let (guard, dropped) = DropFlag::new();
        let h = Arc::new(green::spawn(move || {
            let _guard = guard;
            loop {
                green::park("forever");
            }
        }));
        green::yield_now();
        let theirs = h.clone();
        let killer = std::thread::spawn(move || theirs.kill());
        // Wait greenly for the end: the hub sleeps in its poll until the
        // kill arrives through its inbox and waker.
        let me = green::current_unparker();
        h.notify_on_finish(me);
        while !h.is_finished() {
            green::park("the killed greenlet to end");
        }
        killer.join().unwrap();
        let h = Arc::try_unwrap(h).expect("the killer thread is gone");
        assert!(h.join().unwrap_err().is_killed());
        assert!(dropped.get());
    });
}

#[test]
fn killed_greenlet_that_catches_and_blocks_again_is_killed_again() {
    bounded(|| {
        let caught = Rc::new(Cell::new(false));
        let (guard, dropped) = DropFlag::new();
        let c = caught.clone();
        let h = green::spawn(move || {
            let r = panic::catch_unwind(|| loop {
                green::park("first wait");
            });
            assert!(r.is_err(), "the kill unwinds out of the first park");
            c.set(true);
            let _guard = guard;
            // Blocking again: the kill is delivered again here.
            loop {
                green::park("second wait");
            }
        });
        green::yield_now();
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
        assert!(caught.get(), "the first delivery was caught");
        assert!(dropped.get(), "the second delivery unwound the rest");
    });
}

#[test]
fn killed_greenlet_that_catches_and_returns_ends_with_its_value() {
    // Documented on `JoinHandle::kill`: if the killed code catches the
    // unwind and returns normally, the greenlet ends with that value.
    bounded(|| {
        let h = green::spawn(|| {
            let r = panic::catch_unwind(AssertUnwindSafe(|| loop {
                green::park("forever");
            }));
            match r {
                Ok(()) => "not killed",
                Err(_) => "caught the kill",
            }
        });
        green::yield_now();
        h.kill();
        assert_eq!(h.join().unwrap(), "caught the kill");
    });
}

#[test]
fn kill_does_not_disturb_other_greenlets() {
    bounded(|| {
        let victim = green::spawn(|| loop {
            green::park("forever");
        });
        let bystander = green::spawn(|| {
            for _ in 0..10 {
                green::yield_now();
            }
            "fine"
        });
        green::yield_now();
        victim.kill();
        assert!(victim.join().unwrap_err().is_killed());
        assert_eq!(bystander.join().unwrap(), "fine");
    });
}

#[test]
fn killed_greenlet_releases_its_stack_and_timer() {
    bounded(|| {
        let before = green::stats();
        let hs: Vec<_> = (0..100)
            .map(|_| green::spawn(|| green::sleep(Duration::from_secs(3600))))
            .collect();
        green::yield_now();
        let during = green::stats();
        assert_eq!(during.greenlets, before.greenlets + 100);
        assert_eq!(during.timers, before.timers + 100);
        for h in &hs {
            h.kill();
        }
        for h in hs {
            assert!(h.join().unwrap_err().is_killed());
        }
        let after = green::stats();
        assert_eq!(after.greenlets, before.greenlets);
        assert_eq!(after.timers, before.timers);
        assert_eq!(after.stacks_in_use, before.stacks_in_use);
    });
}

/// Runs a closure when dropped: a destructor that does green work.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// Regression: the captures of a greenlet killed before it started are
/// dropped inside the greenlet; a destructor that blocks there used to let
/// the kill unwind out of the greenlet into the hub and "kill" the main
/// context.
#[test]
fn kill_before_start_with_a_blocking_destructor_is_contained() {
    bounded(|| {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let guard = OnDrop(move || {
            green::yield_now();
            r.set(true);
        });
        let h = green::spawn(move || {
            let _g = &guard;
            unreachable!("killed before it started");
        });
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
        assert!(ran.get(), "the destructor ran to its end");
        assert!(
            green::current().is_main(),
            "the main context is still itself"
        );
        assert_eq!(green::spawn(|| 5).join().unwrap(), 5, "the hub still works");
    });
}

/// Regression: as above, with a destructor that panics.
#[test]
fn kill_before_start_with_a_panicking_destructor_is_contained() {
    bounded(|| {
        let guard = OnDrop(|| panic!("destructor panics"));
        let h = green::spawn(move || {
            let _g = &guard;
        });
        h.kill();
        let e = h.join().unwrap_err();
        assert!(
            e.is_panic(),
            "the destructor's panic is the greenlet's: {e}"
        );
        assert!(green::current().is_main());
        assert_eq!(green::spawn(|| 6).join().unwrap(), 6);
    });
}

/// Regression: a destructor that blocks while a kill unwinds used to get
/// the kill thrown again from its own blocking point, aborting the process.
#[test]
fn destructor_may_block_while_a_kill_unwinds() {
    bounded(|| {
        let (flag, dropped) = DropFlag::new();
        let parked = Rc::new(Cell::new(false));
        let p = parked.clone();
        let h = green::spawn(move || {
            let _slow = OnDrop(move || {
                green::sleep(Duration::from_millis(1));
                green::yield_now();
            });
            let _flag = flag;
            p.set(true);
            green::sleep(Duration::from_secs(60));
        });
        yield_until(|| parked.get());
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
        assert!(dropped.get(), "every destructor ran");
    });
}
