//! The main context: code outside any greenlet that blocks greenly runs the
//! hub loop on its own thread until it can continue. (The deadlock report,
//! which needs a process without other threads, is in `deadlock.rs`.)

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use util::bounded;

#[test]
fn main_context_sleep_runs_other_greenlets() {
    bounded(|| {
        let count = Rc::new(Cell::new(0));
        let c = count.clone();
        let h = green::spawn(move || {
            for _ in 0..5 {
                c.set(c.get() + 1);
                green::yield_now();
            }
        });
        // No join: the greenlets run because the main context sleeps.
        green::sleep(Duration::from_millis(5));
        assert_eq!(count.get(), 5);
        assert!(h.is_finished());
        h.join().unwrap();
    });
}

#[test]
fn main_context_yield_now_runs_ready_greenlets_once() {
    bounded(|| {
        let order = Rc::new(RefCell::new(Vec::new()));
        let o = order.clone();
        let h = green::spawn(move || {
            o.borrow_mut().push("g1");
            green::yield_now();
            o.borrow_mut().push("g2");
        });
        order.borrow_mut().push("m1");
        green::yield_now();
        order.borrow_mut().push("m2");
        h.join().unwrap();
        assert_eq!(*order.borrow(), ["m1", "g1", "m2", "g2"]);
    });
}

#[test]
fn main_context_is_main_and_has_a_stable_id() {
    bounded(|| {
        let me = green::current();
        assert!(me.is_main());
        let id = me.id();
        green::sleep(Duration::from_millis(1));
        assert_eq!(green::current().id(), id);
        let main_in_dump = green::dump()
            .into_iter()
            .find(|g| g.is_main)
            .expect("main listed");
        assert_eq!(main_in_dump.id, id);
        assert_eq!(main_in_dump.state, green::GreenletState::Running);
    });
}

#[test]
fn main_context_park_is_woken_by_a_greenlet() {
    bounded(|| {
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        let me = green::current_unparker();
        let h = green::spawn(move || {
            green::sleep(Duration::from_millis(1));
            d.set(true);
            me.unpark();
        });
        while !done.get() {
            green::park("the helper greenlet");
        }
        h.join().unwrap();
    });
}

#[test]
fn unpark_before_park_is_kept_as_a_permit() {
    bounded(|| {
        let me = green::current_unparker();
        me.unpark();
        // Returns at once (no hang until the safety net): the wake-up came
        // first and was kept.
        green::park("permit");
    });
}

#[test]
fn main_context_timeout_interrupts_its_wait() {
    bounded(|| {
        let r = green::with_timeout(Duration::from_millis(10), || {
            green::park("nothing");
        });
        assert!(r.is_err());
    });
}

#[test]
fn main_context_sees_a_kill_done_by_another_greenlet() {
    bounded(|| {
        // A greenlet killing another while the main context waits: the main
        // context keeps going and sees the outcome.
        let victim = green::spawn(|| loop {
            green::park("forever");
        });
        let victim = Rc::new(victim);
        let v = victim.clone();
        let killer = green::spawn(move || v.kill());
        killer.join().unwrap();
        let victim = Rc::try_unwrap(victim).expect("killer is done");
        assert!(victim.join().unwrap_err().is_killed());
        assert!(green::current().is_main());
    });
}
