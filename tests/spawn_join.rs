//! Spawning and joining greenlets: where they can be spawned from, the
//! `Builder`, `current()`, `JoinHandle`, and the run order of the hub.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use util::{bounded, yield_until};

#[test]
fn spawn_from_main_context_runs_and_joins() {
    bounded(|| {
        let h = green::spawn(|| 6 * 7);
        assert_eq!(h.join().unwrap(), 42);
    });
}

#[test]
fn spawn_from_greenlet_runs_and_joins() {
    bounded(|| {
        let outer = green::spawn(|| {
            let inner = green::spawn(|| {
                assert!(!green::current().is_main());
                "inner"
            });
            (inner.join().unwrap(), "outer")
        });
        assert_eq!(outer.join().unwrap(), ("inner", "outer"));
    });
}

#[test]
fn spawn_from_plain_thread_uses_that_threads_hub() {
    bounded(|| {
        let t = std::thread::spawn(|| {
            let me = std::thread::current().id();
            let h = green::spawn(move || {
                green::sleep(Duration::from_millis(1));
                std::thread::current().id() == me
            });
            let ran_here = h.join().unwrap();
            (ran_here, green::stats().greenlets)
        });
        let (ran_here, left) = t.join().unwrap();
        assert!(ran_here, "the greenlet ran on the thread that spawned it");
        assert_eq!(left, 0, "the thread's own hub has no greenlet left");
    });
}

#[test]
fn builder_sets_name() {
    bounded(|| {
        let h = green::Builder::new()
            .name("worker-7".into())
            .spawn(|| green::current().name().map(str::to_owned))
            .unwrap();
        assert_eq!(h.join().unwrap().as_deref(), Some("worker-7"));
    });
}

/// Uses 512 KiB of stack in one frame.
#[inline(never)]
fn use_512_kib_of_stack() -> usize {
    let buf = std::hint::black_box([1u8; 512 * 1024]);
    buf.iter().map(|&b| usize::from(b)).sum()
}

#[test]
fn builder_stack_size_allows_deep_stack_use() {
    bounded(|| {
        // 512 KiB of locals would overflow the 128 KiB default stack.
        let h = green::Builder::new()
            .name("big-stack".into())
            .stack_size(2 * 1024 * 1024)
            .spawn(use_512_kib_of_stack)
            .unwrap();
        assert_eq!(h.join().unwrap(), 512 * 1024);
    });
}

#[test]
fn builder_absurd_stack_size_is_an_error() {
    bounded(|| {
        for size in [usize::MAX / 2, 1 << 50] {
            let r = green::Builder::new().stack_size(size).spawn(|| ());
            assert!(r.is_err(), "a stack of {size} bytes cannot be mapped");
        }
        // The hub is unharmed.
        assert_eq!(green::spawn(|| 1).join().unwrap(), 1);
    });
}

#[test]
fn builder_stack_size_usize_max_is_an_error() {
    bounded(|| {
        let r = green::Builder::new().stack_size(usize::MAX).spawn(|| ());
        let e = r.expect_err("a stack of usize::MAX bytes cannot be mapped");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    });
}

#[test]
fn current_reports_id_name_and_is_main() {
    bounded(|| {
        let main = green::current();
        assert!(main.is_main());
        assert_eq!(main.name(), None);
        assert_eq!(
            green::current().id(),
            main.id(),
            "the main context's id is stable"
        );
        let main_id = main.id();
        let h = green::Builder::new()
            .name("named".into())
            .spawn(move || {
                let me = green::current();
                assert!(!me.is_main());
                assert_ne!(me.id(), main_id);
                (me.id(), me.name().map(str::to_owned))
            })
            .unwrap();
        let handle_id = h.id();
        let (id, name) = h.join().unwrap();
        assert_eq!(
            id, handle_id,
            "JoinHandle::id is the greenlet's current().id()"
        );
        assert_eq!(name.as_deref(), Some("named"));
    });
}

#[test]
fn greenlet_ids_are_unique() {
    bounded(|| {
        let hs: Vec<_> = (0..50).map(|_| green::spawn(|| ())).collect();
        let mut ids: Vec<_> = hs.iter().map(|h| h.id().as_u64()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 50);
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn is_finished_turns_true_when_greenlet_ends() {
    bounded(|| {
        let go = Rc::new(Cell::new(false));
        let g = go.clone();
        let h = green::spawn(move || {
            yield_until(|| g.get());
            5
        });
        assert!(!h.is_finished(), "not started yet");
        green::yield_now();
        assert!(!h.is_finished(), "started, still waiting");
        go.set(true);
        yield_until(|| h.is_finished());
        assert_eq!(h.join().unwrap(), 5);
    });
}

#[test]
fn join_timeout_gives_handle_back_then_join_succeeds() {
    bounded(|| {
        let go = Rc::new(Cell::new(false));
        let g = go.clone();
        let h = green::spawn(move || {
            yield_until(|| g.get());
            "done"
        });
        let h = match h.join_timeout(Duration::from_millis(10)) {
            Ok(r) => panic!("join_timeout returned {r:?} before the greenlet could end"),
            Err(h) => h,
        };
        assert!(!h.is_finished());
        go.set(true);
        assert_eq!(h.join().unwrap(), "done");
    });
}

#[test]
fn join_timeout_returns_result_when_greenlet_ends_in_time() {
    bounded(|| {
        let h = green::spawn(|| {
            green::sleep(Duration::from_millis(1));
            9
        });
        match h.join_timeout(Duration::from_secs(5)) {
            Ok(r) => assert_eq!(r.unwrap(), 9),
            Err(_) => panic!("join_timeout gave up on a greenlet that ends at once"),
        }
    });
}

#[test]
fn join_self_is_an_error_not_a_hang() {
    bounded(|| {
        let slot: Rc<RefCell<Option<green::JoinHandle<()>>>> = Rc::new(RefCell::new(None));
        let result = Rc::new(Cell::new(None));
        let (s, r) = (slot.clone(), result.clone());
        let h = green::spawn(move || {
            let me = s.borrow_mut().take().expect("handle stored before start");
            let e = me.join().expect_err("joining yourself cannot succeed");
            r.set(Some(e.is_join_self()));
        });
        let id = h.id();
        *slot.borrow_mut() = Some(h);
        yield_until(|| result.get().is_some());
        assert_eq!(
            result.get(),
            Some(true),
            "greenlet {id} got JoinError::is_join_self"
        );
        assert!(green::dump().iter().all(|g| g.id != id), "it ended");
    });
}

#[test]
fn spawned_greenlets_run_in_fifo_order() {
    bounded(|| {
        let order = Rc::new(RefCell::new(Vec::new()));
        let hs: Vec<_> = (0..20)
            .map(|i| {
                let o = order.clone();
                green::spawn(move || o.borrow_mut().push(i))
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*order.borrow(), (0..20).collect::<Vec<_>>());
    });
}

#[test]
fn spawn_does_not_run_the_greenlet_until_the_caller_blocks() {
    bounded(|| {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let h = green::spawn(move || r.set(true));
        assert!(!ran.get());
        h.join().unwrap();
        assert!(ran.get());
    });
}

#[test]
fn spawn_later_runs_after_the_delay() {
    bounded(|| {
        let order = Rc::new(RefCell::new(Vec::new()));
        let o = order.clone();
        let start = Instant::now();
        let delay = Duration::from_millis(30);
        let later = green::spawn_later(delay, move || {
            o.borrow_mut().push("later");
            Instant::now()
        });
        let o = order.clone();
        let now = green::spawn(move || o.borrow_mut().push("now"));
        let ran_at = later.join().unwrap();
        now.join().unwrap();
        assert!(
            ran_at - start >= delay,
            "ran {:?} after spawn",
            ran_at - start
        );
        assert_eq!(*order.borrow(), ["now", "later"]);
    });
}

#[test]
fn spawn_later_killed_before_start_never_runs() {
    bounded(|| {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let h = green::spawn_later(Duration::from_millis(20), move || r.set(true));
        // Let it reach its initial delay, then kill it there.
        green::yield_now();
        assert!(!h.is_finished());
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
        assert!(!ran.get(), "f never ran");
        // Also killed before its greenlet even started.
        let r = ran.clone();
        let h = green::spawn_later(Duration::from_millis(20), move || r.set(true));
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
        assert!(!ran.get(), "f never ran");
    });
}

#[test]
fn sleep_zero_yields_to_other_ready_greenlets() {
    bounded(|| {
        let order = Rc::new(RefCell::new(Vec::new()));
        let o = order.clone();
        let a = green::spawn(move || {
            o.borrow_mut().push("a1");
            green::sleep(Duration::ZERO);
            o.borrow_mut().push("a2");
        });
        let o = order.clone();
        let b = green::spawn(move || o.borrow_mut().push("b"));
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(*order.borrow(), ["a1", "b", "a2"]);
    });
}

#[test]
fn yield_now_interleaves_ready_greenlets_in_turn() {
    bounded(|| {
        let order = Rc::new(RefCell::new(Vec::new()));
        let hs: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let o = order.clone();
                green::spawn(move || {
                    for i in 0..3 {
                        o.borrow_mut().push(format!("{name}{i}"));
                        green::yield_now();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(
            *order.borrow(),
            ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]
        );
    });
}

#[test]
fn idle_runs_only_when_nothing_else_is_ready() {
    bounded(|| {
        let order = Rc::new(RefCell::new(Vec::new()));
        let o = order.clone();
        // Spawned first, so it runs first and asks to wait for idleness.
        let idler = green::spawn(move || {
            o.borrow_mut().push("idle-start".to_string());
            green::idle();
            o.borrow_mut().push("idle-end".to_string());
        });
        // Two greenlets ping-pong through yields: always one of them ready.
        let pingers: Vec<_> = ["ping", "pong"]
            .into_iter()
            .map(|name| {
                let o = order.clone();
                green::spawn(move || {
                    for i in 0..50 {
                        o.borrow_mut().push(format!("{name}{i}"));
                        green::yield_now();
                    }
                })
            })
            .collect();
        for h in pingers {
            h.join().unwrap();
        }
        idler.join().unwrap();
        let order = order.borrow();
        assert_eq!(order.first().map(String::as_str), Some("idle-start"));
        assert_eq!(order.last().map(String::as_str), Some("idle-end"));
        assert_eq!(order.len(), 102);
    });
}

#[test]
fn greenlets_waiting_on_a_target_wake_when_it_exits() {
    bounded(|| {
        let go = Rc::new(Cell::new(false));
        let g = go.clone();
        let target = Rc::new(green::spawn(move || {
            yield_until(|| g.get());
            "bye"
        }));
        let woken = Rc::new(Cell::new(0));
        let watchers: Vec<_> = (0..3)
            .map(|_| {
                let (t, w) = (target.clone(), woken.clone());
                green::spawn(move || {
                    let me = green::current_unparker();
                    t.notify_on_finish(me.clone());
                    while !t.is_finished() {
                        green::park("watching");
                    }
                    t.cancel_notify(&me);
                    w.set(w.get() + 1);
                })
            })
            .collect();
        green::yield_now();
        assert_eq!(woken.get(), 0, "the watchers wait while the target runs");
        go.set(true);
        for w in watchers {
            w.join().unwrap();
        }
        assert_eq!(woken.get(), 3);
        let target = Rc::try_unwrap(target).expect("watchers dropped their clones");
        assert_eq!(target.join().unwrap(), "bye");
    });
}
