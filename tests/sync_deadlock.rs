//! Main-context waits on sync primitives that can never complete fail fast
//! with the runtime's deadlock report, naming what each waits on; a wait
//! another thread will end does not fail.
//!
//! The check only fires in a process without other threads, so this is a
//! `harness = false` test that runs itself again as a child per scenario.

mod util;

use std::sync::Arc;
use std::time::Duration;

use green::sync::{Event, Mutex, Queue, Semaphore};
use util::{run_checks, run_self};

const CHILD_FLAG: &str = "--green-child";
const CHILD_LIMIT: Duration = Duration::from_secs(60);
/// Exit code of a process whose main thread panicked.
const PANIC_EXIT: i32 = 101;

fn child(scenario: &str) {
    match scenario {
        "get-from-empty-queue" => {
            let q: Queue<u8> = Queue::new();
            let _ = q.get();
        }
        "acquire-exhausted-semaphore" => {
            let sem = Semaphore::new(0);
            let _p = sem.acquire();
        }
        "event-nobody-sets" => {
            Event::new().wait();
        }
        "lock-mutex-held-by-parked-greenlet" => {
            let m = Arc::new(Mutex::new(()));
            let m2 = m.clone();
            let _h = green::Builder::new()
                .name("holder".into())
                .spawn(move || {
                    let _g = m2.lock();
                    loop {
                        green::park("holding the lock for ever");
                    }
                })
                .expect("spawn");
            green::yield_now();
            let _g = m.lock();
        }
        "queue-fed-by-another-thread" => {
            let q: Arc<Queue<&str>> = Arc::new(Queue::new());
            let p = q.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                p.put("from the thread").expect("open queue");
            });
            println!("got {}", q.get().expect("an item"));
            t.join().expect("feeder thread");
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn assert_deadlock(scenario: &str, needles: &[&str]) {
    let out = run_self(&[CHILD_FLAG, scenario], CHILD_LIMIT);
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
    for n in needles {
        assert!(
            out.stderr.contains(n),
            "{scenario}: report lacks {n:?}:\n{}",
            out.stderr
        );
    }
}

fn main_get_from_an_empty_queue_reports_deadlock() {
    assert_deadlock("get-from-empty-queue", &["Queue::get"]);
}

fn main_acquire_of_an_exhausted_semaphore_reports_deadlock() {
    assert_deadlock("acquire-exhausted-semaphore", &["Semaphore::acquire"]);
}

fn main_wait_on_an_event_nobody_sets_reports_deadlock() {
    assert_deadlock("event-nobody-sets", &["Event::wait"]);
}

fn main_lock_of_a_mutex_held_by_a_parked_greenlet_reports_deadlock() {
    assert_deadlock(
        "lock-mutex-held-by-parked-greenlet",
        &["Mutex::lock", "'holder'", "holding the lock for ever"],
    );
}

fn main_get_from_a_queue_fed_by_another_thread_does_not_fail() {
    let out = run_self(&[CHILD_FLAG, "queue-fed-by-another-thread"], CHILD_LIMIT);
    assert!(
        out.status.success(),
        "status {:?}\n{}",
        out.status,
        out.stderr
    );
    assert!(out.stdout.contains("got from the thread"), "{}", out.stdout);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_FLAG) {
        child(args.get(i + 1).map(String::as_str).unwrap_or_default());
        return;
    }
    run_checks(&[
        (
            "main_get_from_an_empty_queue_reports_deadlock",
            main_get_from_an_empty_queue_reports_deadlock,
        ),
        (
            "main_acquire_of_an_exhausted_semaphore_reports_deadlock",
            main_acquire_of_an_exhausted_semaphore_reports_deadlock,
        ),
        (
            "main_wait_on_an_event_nobody_sets_reports_deadlock",
            main_wait_on_an_event_nobody_sets_reports_deadlock,
        ),
        (
            "main_lock_of_a_mutex_held_by_a_parked_greenlet_reports_deadlock",
            main_lock_of_a_mutex_held_by_a_parked_greenlet_reports_deadlock,
        ),
        (
            "main_get_from_a_queue_fed_by_another_thread_does_not_fail",
            main_get_from_a_queue_fed_by_another_thread_does_not_fail,
        ),
    ]);
}
