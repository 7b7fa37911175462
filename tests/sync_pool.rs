//! `Pool` and `Group`: bounded concurrency, map/imap, join and kill.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use green::sync::Event;
use green::{Group, Pool};
use util::bounded;

#[test]
fn pool_runs_at_most_size_at_once() {
    bounded(|| {
        let pool = Pool::new(2);
        let inside = Rc::new(Cell::new(0));
        let most = Rc::new(Cell::new(0));
        for _ in 0..6 {
            let (inside, most) = (inside.clone(), most.clone());
            pool.spawn(move || {
                inside.set(inside.get() + 1);
                most.set(most.get().max(inside.get()));
                green::yield_now();
                green::yield_now();
                inside.set(inside.get() - 1);
            });
        }
        pool.join();
        assert_eq!(most.get(), 2);
        assert!(pool.is_empty());
        assert_eq!(pool.free_count(), 2);
    });
}

#[test]
fn pool_try_spawn_fails_when_full() {
    bounded(|| {
        let pool = Pool::new(1);
        let gate = Arc::new(Event::new());
        let g = gate.clone();
        pool.spawn(move || g.wait());
        assert_eq!(pool.free_count(), 0);
        assert!(pool.try_spawn(|| ()).is_err());
        assert!(pool.spawn_timeout(|| (), Duration::from_millis(2)).is_err());
        gate.set();
        pool.join();
        assert!(pool.try_spawn(|| ()).is_ok());
        pool.join();
    });
}

#[test]
fn map_returns_results_in_input_order() {
    bounded(|| {
        let pool = Pool::new(3);
        // Later items finish first.
        let out = pool
            .map(0..6u64, |i| {
                for _ in 0..(6 - i) {
                    green::yield_now();
                }
                i * 10
            })
            .unwrap();
        assert_eq!(out, [0, 10, 20, 30, 40, 50]);
    });
}

#[test]
fn imap_unordered_yields_in_completion_order() {
    bounded(|| {
        let pool = Pool::new(4);
        let got: Vec<u64> = pool
            .imap_unordered(0..4u64, |i| {
                for _ in 0..(4 - i) * 2 {
                    green::yield_now();
                }
                i
            })
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, [3, 2, 1, 0]);
    });
}

#[test]
fn map_reports_a_panicking_task() {
    bounded(|| {
        let pool = Pool::new(2);
        let err = pool
            .map(0..4, |i: i32| {
                if i == 2 {
                    panic!("task 2 fails");
                }
                i
            })
            .unwrap_err();
        assert_eq!(err.index(), 2);
        let all: Vec<_> = pool.imap(0..3, |i: i32| i).collect();
        assert_eq!(all, [Ok(0), Ok(1), Ok(2)]);
    });
}

#[test]
fn pool_kill_ends_every_task_and_frees_slots() {
    bounded(|| {
        let pool = Pool::new(2);
        for _ in 0..2 {
            pool.spawn(|| loop {
                green::park("forever");
            });
        }
        green::yield_now();
        assert_eq!(pool.len(), 2);
        pool.kill();
        assert!(pool.is_empty());
        assert_eq!(pool.free_count(), 2);
    });
}

#[test]
fn group_join_waits_for_members_added_later() {
    bounded(|| {
        let group = Arc::new(Group::new());
        let done = Rc::new(Cell::new(0));
        let (g, d) = (group.clone(), done.clone());
        group.spawn(move || {
            green::yield_now();
            let d2 = d.clone();
            g.spawn(move || {
                green::yield_now();
                d2.set(d2.get() + 1);
            });
            d.set(d.get() + 1);
        });
        group.join();
        assert_eq!(done.get(), 2);
        assert!(group.is_empty());
    });
}

#[test]
fn group_add_tracks_an_existing_greenlet() {
    bounded(|| {
        let group = Group::new();
        let gate = Arc::new(Event::new());
        let g = gate.clone();
        group.add(green::spawn(move || g.wait()));
        green::yield_now();
        assert_eq!(group.len(), 1);
        assert!(!group.join_timeout(Duration::from_millis(2)));
        gate.set();
        assert!(group.join_timeout(Duration::from_secs(30)));
    });
}

#[test]
fn group_kill_runs_destructors_of_members() {
    bounded(|| {
        let group = Group::new();
        let (flag, dropped) = util::DropFlag::new();
        group.spawn(move || {
            let _f = flag;
            loop {
                green::park("forever");
            }
        });
        green::yield_now();
        assert!(group.kill_timeout(Duration::from_secs(30)));
        assert!(dropped.get());
    });
}

#[test]
fn pool_len_counts_only_tasks_still_running() {
    bounded(|| {
        let pool = Pool::new(4);
        for _ in 0..1_000 {
            pool.spawn(|| ());
        }
        // Only a handful can still be running or queued to start.
        let h = green::spawn(|| ());
        h.join().unwrap();
        assert!(pool.len() <= 4);
        pool.join();
        assert!(pool.is_empty());
    });
}
