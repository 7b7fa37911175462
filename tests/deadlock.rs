//! The main context fails fast when it waits on something nothing can ever
//! provide: it panics with a "deadlock" report naming each blocked greenlet
//! and what it waits on. Waits that another thread will end do not fail.
//!
//! The check only fires in a process without other threads, so this is a
//! `harness = false` test: it runs itself again as a child, one scenario
//! per child, and looks at how the child ended.

mod util;

use std::time::Duration;

use util::{run_checks, run_self, ChildOutput};

const CHILD_FLAG: &str = "--green-child";
const CHILD_LIMIT: Duration = Duration::from_secs(60);
/// Exit code of a process whose main thread panicked.
const PANIC_EXIT: i32 = 101;

fn child(scenario: &str) {
    match scenario {
        "sleep-forever-with-parked-greenlet" => {
            let _h = green::Builder::new()
                .name("stuck-worker".into())
                .spawn(|| loop {
                    green::park("custom reason");
                })
                .expect("spawn");
            green::sleep(Duration::MAX);
        }
        "join-greenlet-that-parks-forever" => {
            let h = green::Builder::new()
                .name("never-ends".into())
                .spawn(|| loop {
                    green::park("a wake-up nobody sends");
                })
                .expect("spawn");
            let _ = h.join();
        }
        "park-in-main-with-nothing-else" => {
            green::park("main waits alone");
        }
        "two-greenlets-wait-on-each-other" => {
            use std::cell::RefCell;
            use std::rc::Rc;
            type Slot = Rc<RefCell<Option<green::JoinHandle<()>>>>;
            let a_slot: Slot = Rc::new(RefCell::new(None));
            let b_slot: Slot = Rc::new(RefCell::new(None));
            let (bs, as_) = (b_slot.clone(), a_slot.clone());
            let a = green::Builder::new()
                .name("left".into())
                .spawn(move || {
                    let b = bs.borrow_mut().take().expect("b stored");
                    let _ = b.join();
                })
                .expect("spawn");
            let b = green::Builder::new()
                .name("right".into())
                .spawn(move || {
                    let a = as_.borrow_mut().take().expect("a stored");
                    let _ = a.join();
                })
                .expect("spawn");
            let probe = green::spawn(|| ());
            *a_slot.borrow_mut() = Some(a);
            *b_slot.borrow_mut() = Some(b);
            let _ = probe.join();
            green::sleep(Duration::MAX);
        }
        "wait-on-spawn-blocking" => {
            let v = green::spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(100));
                7
            });
            assert_eq!(v, 7);
            // And from a greenlet, while the main context joins it.
            let h = green::spawn(|| {
                green::spawn_blocking(|| {
                    std::thread::sleep(Duration::from_millis(100));
                    8
                })
            });
            assert_eq!(h.join().unwrap(), 8);
            println!("spawn_blocking finished");
        }
        "wait-on-unparker-held-by-thread" => {
            use std::sync::atomic::{AtomicBool, Ordering};
            use std::sync::Arc;
            let done = Arc::new(AtomicBool::new(false));
            let d = done.clone();
            let me = green::current_unparker();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                d.store(true, Ordering::SeqCst);
                me.unpark();
            });
            while !done.load(Ordering::SeqCst) {
                green::park("the helper thread");
            }
            t.join().expect("helper thread");
            println!("woken by the other thread");
        }
        "greenlet-woken-by-thread-while-main-joins" => {
            use std::sync::atomic::{AtomicBool, Ordering};
            use std::sync::Arc;
            let h = green::spawn(|| {
                let done = Arc::new(AtomicBool::new(false));
                let d = done.clone();
                let me = green::current_unparker();
                let t = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(100));
                    d.store(true, Ordering::SeqCst);
                    me.unpark();
                });
                while !done.load(Ordering::SeqCst) {
                    green::park("the helper thread");
                }
                t
            });
            let t = h.join().expect("greenlet");
            t.join().expect("helper thread");
            println!("woken by the other thread");
        }
        "finite-sleep-in-main" => {
            green::sleep(Duration::from_millis(20));
            println!("slept");
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn run(scenario: &str) -> ChildOutput {
    run_self(&[CHILD_FLAG, scenario], CHILD_LIMIT)
}

/// Asserts the child panicked with a deadlock report in which, for each
/// `(who, what)` pair, one line names the greenlet `who` and says it waits
/// on `what`.
fn assert_deadlock(scenario: &str, blocked: &[(&str, &str)]) {
    let out = run(scenario);
    assert_eq!(
        out.status.code(),
        Some(PANIC_EXIT),
        "{scenario}: expected a panic; status {:?}\nstderr: {}",
        out.status,
        out.stderr
    );
    assert!(
        out.stderr.contains("deadlock"),
        "{scenario}: {}",
        out.stderr
    );
    for (who, what) in blocked {
        assert!(
            out.stderr
                .lines()
                .any(|l| l.contains(who) && l.contains(what)),
            "{scenario}: no line of the report says {who} waits on {what:?}:\n{}",
            out.stderr
        );
    }
}

/// Asserts the child ended normally and printed `expect`.
fn assert_completes(scenario: &str, expect: &str) {
    let out = run(scenario);
    assert!(
        out.status.success(),
        "{scenario}: status {:?}\nstderr: {}",
        out.status,
        out.stderr
    );
    assert!(
        !out.stderr.contains("deadlock"),
        "{scenario}: {}",
        out.stderr
    );
    assert!(
        out.stdout.contains(expect),
        "{scenario}: stdout {}",
        out.stdout
    );
}

fn main_sleeping_forever_reports_deadlock_naming_parked_greenlet() {
    assert_deadlock(
        "sleep-forever-with-parked-greenlet",
        &[
            ("'stuck-worker'", "custom reason"),
            ("(main context)", "sleep"),
        ],
    );
}

fn main_joining_a_greenlet_that_parks_forever_reports_deadlock() {
    assert_deadlock(
        "join-greenlet-that-parks-forever",
        &[
            ("'never-ends'", "a wake-up nobody sends"),
            ("(main context)", "join of greenlet"),
        ],
    );
}

fn main_parking_alone_reports_deadlock() {
    assert_deadlock(
        "park-in-main-with-nothing-else",
        &[("(main context)", "main waits alone")],
    );
}

fn greenlets_joining_each_other_report_deadlock() {
    assert_deadlock(
        "two-greenlets-wait-on-each-other",
        &[
            ("'left'", "join of greenlet"),
            ("'right'", "join of greenlet"),
        ],
    );
}

fn main_waiting_on_spawn_blocking_does_not_fail() {
    assert_completes("wait-on-spawn-blocking", "spawn_blocking finished");
}

fn main_waiting_on_unparker_held_by_another_thread_does_not_fail() {
    assert_completes(
        "wait-on-unparker-held-by-thread",
        "woken by the other thread",
    );
}

fn greenlet_waiting_on_another_thread_does_not_fail() {
    assert_completes(
        "greenlet-woken-by-thread-while-main-joins",
        "woken by the other thread",
    );
}

fn finite_sleep_in_main_does_not_fail() {
    assert_completes("finite-sleep-in-main", "slept");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_FLAG) {
        child(args.get(i + 1).map(String::as_str).unwrap_or_default());
        return;
    }
    run_checks(&[
        (
            "main_sleeping_forever_reports_deadlock_naming_parked_greenlet",
            main_sleeping_forever_reports_deadlock_naming_parked_greenlet,
        ),
        (
            "main_joining_a_greenlet_that_parks_forever_reports_deadlock",
            main_joining_a_greenlet_that_parks_forever_reports_deadlock,
        ),
        (
            "main_parking_alone_reports_deadlock",
            main_parking_alone_reports_deadlock,
        ),
        (
            "greenlets_joining_each_other_report_deadlock",
            greenlets_joining_each_other_report_deadlock,
        ),
        (
            "main_waiting_on_spawn_blocking_does_not_fail",
            main_waiting_on_spawn_blocking_does_not_fail,
        ),
        (
            "main_waiting_on_unparker_held_by_another_thread_does_not_fail",
            main_waiting_on_unparker_held_by_another_thread_does_not_fail,
        ),
        (
            "greenlet_waiting_on_another_thread_does_not_fail",
            greenlet_waiting_on_another_thread_does_not_fail,
        ),
        (
            "finite_sleep_in_main_does_not_fail",
            finite_sleep_in_main_does_not_fail,
        ),
    ]);
}
