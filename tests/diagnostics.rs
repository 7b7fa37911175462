//! Diagnostics: `stats()` counters and the `dump()` of live greenlets.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use green::GreenletState;
use util::bounded;

#[test]
fn stats_count_ready_blocked_greenlets_and_timers() {
    bounded(|| {
        let before = green::stats();
        let sleepers: Vec<_> = (0..3)
            .map(|_| green::spawn(|| green::sleep(Duration::from_secs(3600))))
            .collect();
        let parkers: Vec<_> = (0..2)
            .map(|_| {
                green::spawn(|| loop {
                    green::park("diagnostics");
                })
            })
            .collect();
        let spawned = green::stats();
        assert_eq!(spawned.greenlets, before.greenlets + 5);
        assert_eq!(
            spawned.ready,
            before.ready + 5,
            "not started yet: all ready"
        );
        assert_eq!(spawned.blocked, before.blocked);
        assert_eq!(spawned.stacks_in_use, before.stacks_in_use + 5);

        green::yield_now();
        let parked = green::stats();
        assert_eq!(parked.greenlets, before.greenlets + 5);
        assert_eq!(parked.ready, before.ready);
        assert_eq!(parked.blocked, before.blocked + 5);
        assert_eq!(parked.timers, before.timers + 3, "one timer per sleeper");
        assert!(parked.switches >= spawned.switches + 5, "each ran once");

        sleepers.iter().for_each(green::JoinHandle::kill);
        parkers.iter().for_each(green::JoinHandle::kill);
        for h in sleepers {
            assert!(h.join().unwrap_err().is_killed());
        }
        for h in parkers {
            assert!(h.join().unwrap_err().is_killed());
        }
        let after = green::stats();
        assert_eq!(after.greenlets, before.greenlets);
        assert_eq!(after.ready, before.ready);
        assert_eq!(after.blocked, before.blocked);
        assert_eq!(after.timers, before.timers);
        assert_eq!(after.stacks_in_use, before.stacks_in_use);
    });
}

#[test]
fn stats_count_switches_and_polls() {
    bounded(|| {
        let before = green::stats().switches;
        let h = green::spawn(|| {
            for _ in 0..10 {
                green::yield_now();
            }
        });
        h.join().unwrap();
        let after = green::stats().switches;
        assert!(
            after - before >= 11,
            "resumed once to start and once per yield"
        );
        let polls = green::stats().polls;
        green::sleep(Duration::from_millis(1));
        assert!(green::stats().polls > polls, "a sleep waits in the poll");
    });
}

#[test]
fn stats_are_per_thread() {
    bounded(|| {
        let h = green::spawn(|| green::sleep(Duration::from_secs(3600)));
        green::yield_now();
        assert_eq!(green::stats().greenlets, 1);
        let other = std::thread::spawn(|| green::stats().greenlets)
            .join()
            .unwrap();
        assert_eq!(other, 0, "another thread's hub has its own counters");
        h.kill();
        let _ = h.join();
    });
}

#[test]
fn dump_shows_name_state_waiting_on_and_spawn_location() {
    bounded(|| {
        let sleeper = green::Builder::new().name("diag-sleeper".into());
        let sleeps = || green::sleep(Duration::from_secs(3600));
        let h_sleep = sleeper.spawn(sleeps).unwrap();
        let sleep_line = line!() - 1;
        let parker = green::Builder::new().name("diag-parker".into());
        let parks = || loop {
            green::park("custom reason");
        };
        let h_park = parker.spawn(parks).unwrap();
        let park_line = line!() - 1;
        let unnamed = || loop {
            green::park("unnamed wait");
        };
        let h_unnamed = green::spawn(unnamed);
        let unnamed_line = line!() - 1;

        // Not started yet: listed as ready, nothing waited on.
        let d = green::dump();
        let find = |d: &[green::GreenletInfo], id| d.iter().find(|g| g.id == id).cloned().unwrap();
        let s = find(&d, h_sleep.id());
        assert_eq!(s.state, GreenletState::Ready);
        assert_eq!(s.waiting_on, None);

        green::yield_now();
        let d = green::dump();
        assert!(d[0].is_main, "the main context comes first");
        assert_eq!(d[0].state, GreenletState::Running);
        assert_eq!(d.iter().filter(|g| g.is_main).count(), 1);

        let s = find(&d, h_sleep.id());
        assert_eq!(s.name.as_deref(), Some("diag-sleeper"));
        assert_eq!(s.state, GreenletState::Blocked);
        assert_eq!(s.waiting_on.as_deref(), Some("sleep"));
        assert!(
            s.spawned_at.file().ends_with("diagnostics.rs"),
            "{}",
            s.spawned_at
        );
        assert_eq!(s.spawned_at.line(), sleep_line);

        let p = find(&d, h_park.id());
        assert_eq!(p.name.as_deref(), Some("diag-parker"));
        assert_eq!(p.waiting_on.as_deref(), Some("custom reason"));
        assert_eq!(p.spawned_at.line(), park_line);
        let text = p.to_string();
        assert!(text.contains("diag-parker"), "{text}");
        assert!(text.contains("custom reason"), "{text}");
        assert!(
            text.contains(&format!("diagnostics.rs:{park_line}")),
            "{text}"
        );

        let u = find(&d, h_unnamed.id());
        assert_eq!(u.name, None);
        assert_eq!(u.waiting_on.as_deref(), Some("unnamed wait"));
        assert_eq!(u.spawned_at.line(), unnamed_line);

        h_sleep.kill();
        h_park.kill();
        h_unnamed.kill();
        let _ = (h_sleep.join(), h_park.join(), h_unnamed.join());
        assert_eq!(green::dump().len(), 1, "only the main context is left");
    });
}

#[test]
fn dump_shows_what_a_joiner_waits_on() {
    bounded(|| {
        let release = Rc::new(Cell::new(false));
        let unparker = Rc::new(RefCell::new(None));
        let (r, u) = (release.clone(), unparker.clone());
        let target = green::spawn(move || {
            *u.borrow_mut() = Some(green::current_unparker());
            while !r.get() {
                green::park("release");
            }
            "released"
        });
        let target_id = target.id();
        let joiner = green::Builder::new()
            .name("diag-joiner".into())
            .spawn(move || target.join().unwrap())
            .unwrap();
        green::yield_now();
        let d = green::dump();
        let j = d
            .iter()
            .find(|g| g.id == joiner.id())
            .expect("joiner listed");
        assert_eq!(j.state, GreenletState::Blocked);
        let w = j.waiting_on.clone().expect("the joiner is blocked");
        assert!(w.contains("join"), "{w}");
        assert!(w.contains(&target_id.to_string()), "{w}");
        release.set(true);
        unparker.borrow().as_ref().expect("target parked").unpark();
        assert_eq!(joiner.join().unwrap(), "released");
    });
}

#[test]
fn dump_shows_a_greenlet_waiting_on_spawn_blocking() {
    bounded(|| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let h = green::Builder::new()
            .name("diag-blocking".into())
            .spawn(move || green::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10))))
            .unwrap();
        green::yield_now();
        let d = green::dump();
        let g = d.iter().find(|g| g.id == h.id()).expect("listed");
        assert_eq!(g.state, GreenletState::Blocked);
        assert!(
            g.waiting_on
                .as_deref()
                .is_some_and(|w| w.contains("spawn_blocking")),
            "{g}"
        );
        assert_eq!(green::stats().blocking_in_flight, 1);
        tx.send(()).unwrap();
        assert_eq!(h.join().unwrap(), Ok(()));
        // The pool thread lowers the count just after it wakes the caller.
        util::yield_until(|| green::stats().blocking_in_flight == 0);
    });
}
