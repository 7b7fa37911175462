//! Sleeping and the hub's timers: zero and huge durations, deadline order,
//! cancellation, and that nothing leaks once greenlets end.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use util::bounded;

#[test]
fn sleep_lasts_at_least_its_duration() {
    bounded(|| {
        let start = Instant::now();
        green::sleep(Duration::from_millis(15));
        assert!(start.elapsed() >= Duration::from_millis(15));
        let h = green::spawn(|| {
            let start = Instant::now();
            green::sleep(Duration::from_millis(15));
            start.elapsed()
        });
        assert!(h.join().unwrap() >= Duration::from_millis(15));
    });
}

#[test]
fn sleep_zero_yields_without_a_timer() {
    bounded(|| {
        let seen = Rc::new(RefCell::new(None));
        let s = seen.clone();
        let a = green::spawn(move || {
            let before = green::stats().timers;
            green::sleep(Duration::ZERO);
            before
        });
        let a_id = a.id();
        let b = green::spawn(move || {
            // Runs while `a` is inside its sleep(ZERO).
            let a_state = green::dump()
                .into_iter()
                .find(|g| g.id == a_id)
                .map(|g| g.state);
            *s.borrow_mut() = Some((green::stats().timers, a_state));
        });
        let before = a.join().unwrap();
        b.join().unwrap();
        let (during, a_state) = seen.borrow_mut().take().expect("b ran");
        assert_eq!(during, before, "sleep(ZERO) set no timer");
        assert_eq!(
            a_state,
            Some(green::GreenletState::Ready),
            "it is just queued again"
        );
    });
}

#[test]
fn timers_fire_in_deadline_order() {
    bounded(|| {
        // The order is only defined if every timer is set before the first
        // one is due; on a machine too slow for that, try a longer lead.
        for lead in [20u64, 200, 2000] {
            let base = Instant::now() + Duration::from_millis(lead);
            let order = Rc::new(RefCell::new(Vec::new()));
            let late_start = Rc::new(Cell::new(false));
            let hs: Vec<_> = [30u64, 10, 20, 0, 10]
                .into_iter()
                .enumerate()
                .map(|(i, ms)| {
                    let (o, late) = (order.clone(), late_start.clone());
                    green::spawn(move || {
                        if Instant::now() >= base {
                            late.set(true);
                        }
                        green::sleep_until(base + Duration::from_millis(ms));
                        o.borrow_mut().push((ms, i));
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            if late_start.get() {
                continue;
            }
            // Equal deadlines fire in the order they were set.
            assert_eq!(
                *order.borrow(),
                [(0, 3), (10, 1), (10, 4), (20, 2), (30, 0)]
            );
            return;
        }
        panic!("could not set five timers within 2 s");
    });
}

#[test]
fn sleep_until_a_past_instant_returns_at_once() {
    bounded(|| {
        let past = Instant::now();
        green::sleep(Duration::from_millis(1));
        let h = green::spawn(move || green::sleep_until(past));
        h.join().unwrap();
        assert_eq!(green::stats().timers, 0);
    });
}

#[test]
fn huge_sleep_waits_until_killed_and_sets_no_timer() {
    bounded(|| {
        let before = green::stats().timers;
        let hs: Vec<_> = [Duration::MAX, Duration::from_secs(u64::MAX / 2)]
            .into_iter()
            .map(|d| green::spawn(move || green::sleep(d)))
            .collect();
        green::yield_now();
        // A duration too large for an Instant sleeps for ever: no timer.
        assert_eq!(green::stats().timers, before);
        assert_eq!(green::stats().blocked, 2);
        let waits: Vec<_> = green::dump()
            .into_iter()
            .filter(|g| !g.is_main)
            .map(|g| g.waiting_on)
            .collect();
        assert_eq!(
            waits,
            [Some("sleep".to_string()), Some("sleep".to_string())]
        );
        for h in &hs {
            h.kill();
        }
        for h in hs {
            assert!(h.join().unwrap_err().is_killed());
        }
    });
}

#[test]
fn large_but_representable_sleep_sets_a_timer_that_kill_cancels() {
    bounded(|| {
        let before = green::stats().timers;
        let h = green::spawn(|| green::sleep(Duration::from_secs(100 * 365 * 24 * 3600)));
        green::yield_now();
        assert_eq!(green::stats().timers, before + 1);
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
        assert_eq!(green::stats().timers, before);
    });
}

#[test]
fn many_cancelled_timers_leave_timer_count_at_baseline() {
    bounded(|| {
        let before = green::stats();
        let hs: Vec<_> = (0..2000u64)
            .map(|i| green::spawn(move || green::sleep(Duration::from_secs(3600 + i))))
            .collect();
        green::yield_now();
        assert_eq!(green::stats().timers, before.timers + 2000);
        // Cancel them in an order unlike the deadline order.
        for h in hs.iter().rev().step_by(2) {
            h.kill();
        }
        for h in hs.iter().step_by(2) {
            h.kill();
        }
        for h in hs {
            assert!(h.join().unwrap_err().is_killed());
        }
        let after = green::stats();
        assert_eq!(after.timers, before.timers);
        assert_eq!(after.greenlets, before.greenlets);
    });
}

#[test]
fn timer_cancelled_by_an_unpark_before_it_fires_is_gone() {
    bounded(|| {
        let before = green::stats().timers;
        let unparker = Rc::new(RefCell::new(None));
        let u = unparker.clone();
        let h = green::spawn(move || {
            *u.borrow_mut() = Some(green::current_unparker());
            green::park_until(
                green::deadline_after(Duration::from_secs(3600)),
                "a long wait",
            )
        });
        green::yield_now();
        assert_eq!(green::stats().timers, before + 1);
        unparker.borrow().as_ref().expect("parked").unpark();
        assert!(
            h.join().unwrap(),
            "woken by the unpark, not by the deadline"
        );
        assert_eq!(green::stats().timers, before);
    });
}

#[test]
fn park_until_deadline_returns_false() {
    bounded(|| {
        let h = green::spawn(|| {
            let deadline = green::deadline_after(Duration::from_millis(5));
            // Loop over spurious wake-ups until the deadline passes.
            while green::park_until(deadline, "deadline") {}
            Instant::now() >= deadline.expect("representable")
        });
        assert!(h.join().unwrap());
        assert_eq!(green::deadline_after(Duration::MAX), None);
    });
}

#[test]
fn nothing_leaks_after_greenlets_end() {
    bounded(|| {
        let before = green::stats();
        let round = || {
            let hs: Vec<_> = (0..200u32)
                .map(|i| {
                    green::spawn(move || match i % 4 {
                        0 => green::sleep(Duration::from_millis(1)),
                        1 => green::yield_now(),
                        2 => {
                            let _ = green::with_timeout(Duration::from_micros(1), || {
                                green::sleep(Duration::from_secs(3600))
                            });
                        }
                        _ => green::sleep(Duration::from_secs(3600)),
                    })
                })
                .collect();
            green::yield_now();
            for h in hs.iter().skip(3).step_by(4) {
                h.kill();
            }
            for h in hs {
                let _ = h.join();
            }
        };
        round();
        let after_one = green::stats();
        assert_eq!(after_one.greenlets, before.greenlets);
        assert_eq!(after_one.stacks_in_use, before.stacks_in_use);
        assert_eq!(after_one.timers, before.timers);
        assert_eq!(after_one.ready, 0);
        assert_eq!(after_one.blocked, 0);
        assert!(after_one.stacks_pooled > 0, "stacks went back to the pool");
        round();
        let after_two = green::stats();
        assert_eq!(after_two.greenlets, before.greenlets);
        assert_eq!(after_two.stacks_in_use, before.stacks_in_use);
        assert_eq!(after_two.timers, before.timers);
        assert_eq!(
            after_two.stack_bytes_mapped, after_one.stack_bytes_mapped,
            "the second round reused the pooled stacks instead of mapping more"
        );
    });
}
