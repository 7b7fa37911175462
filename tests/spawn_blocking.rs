//! `spawn_blocking`: work on the blocking pool parks only the calling
//! greenlet; the hub keeps running the others.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::Duration;

use util::bounded;

#[test]
fn spawn_blocking_returns_the_value_of_f() {
    bounded(|| {
        let h = green::spawn(|| green::spawn_blocking(|| 6 * 7));
        assert_eq!(h.join().unwrap(), 42);
    });
}

#[test]
fn spawn_blocking_from_main_context_returns_the_value() {
    bounded(|| {
        let v = green::spawn_blocking(|| String::from("from the pool"));
        assert_eq!(v, "from the pool");
    });
}

#[test]
fn spawn_blocking_runs_on_another_os_thread() {
    bounded(|| {
        let here = std::thread::current().id();
        let there = green::spawn(|| green::spawn_blocking(|| std::thread::current().id()))
            .join()
            .unwrap();
        assert_ne!(there, here);
    });
}

#[test]
fn other_greenlets_keep_running_during_spawn_blocking() {
    bounded(|| {
        // The pool job can only finish after the counting greenlet has made
        // progress on the hub: it waits for the count on a std channel.
        let (tx, rx) = mpsc::channel::<u32>();
        let blocked = green::spawn(move || {
            green::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)))
        });
        let count = Rc::new(Cell::new(0u32));
        let c = count.clone();
        let counter = green::spawn(move || {
            for _ in 0..100 {
                c.set(c.get() + 1);
                green::yield_now();
            }
            tx.send(c.get()).expect("the pool job is listening");
        });
        let got = blocked.join().unwrap();
        assert_eq!(got, Ok(100), "the job saw the other greenlet's progress");
        counter.join().unwrap();
        assert_eq!(count.get(), 100);
    });
}

#[test]
fn spawn_blocking_panic_is_resumed_in_the_caller() {
    bounded(|| {
        let h = green::spawn(|| -> u32 { green::spawn_blocking(|| panic!("pool job failed")) });
        let e = h.join().unwrap_err();
        assert!(e.is_panic());
        assert_eq!(
            e.into_panic().downcast_ref::<&str>(),
            Some(&"pool job failed")
        );
        // The pool still works afterwards.
        assert_eq!(
            green::spawn(|| green::spawn_blocking(|| 1)).join().unwrap(),
            1
        );
    });
}

#[test]
fn spawn_blocking_jobs_run_concurrently() {
    bounded(|| {
        // Four jobs that each wait for all four to have started: they can
        // only finish if the pool runs them at the same time.
        const N: usize = 4;
        let started = Arc::new((Mutex::new(0usize), Condvar::new()));
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let s = started.clone();
                green::spawn(move || {
                    green::spawn_blocking(move || {
                        let (lock, cv) = &*s;
                        let mut n = lock.lock().unwrap();
                        *n += 1;
                        cv.notify_all();
                        let (n, t) = cv
                            .wait_timeout_while(n, Duration::from_secs(10), |n| *n < N)
                            .unwrap();
                        !t.timed_out() && *n == N
                    })
                })
            })
            .collect();
        for h in hs {
            assert!(h.join().unwrap(), "all jobs were running at once");
        }
    });
}

#[test]
fn killing_a_greenlet_waiting_on_spawn_blocking_lets_the_job_finish() {
    bounded(|| {
        let (tx, rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let h = green::spawn(move || {
            green::spawn_blocking(move || {
                let _ = rx.recv_timeout(Duration::from_secs(10));
                let _ = done_tx.send(());
            })
        });
        green::yield_now();
        assert_eq!(green::stats().blocking_in_flight, 1);
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
        tx.send(()).unwrap();
        // The job still runs to its end on the pool.
        let finished = green::spawn_blocking(move || done_rx.recv_timeout(Duration::from_secs(10)));
        assert_eq!(finished, Ok(()));
    });
}

#[test]
fn blocking_job_waiting_on_a_later_job_does_not_starve_it() {
    bounded(|| {
        const IDLE: usize = 16;
        // Leave IDLE pool threads idle: independent jobs that overlap.
        let warm: Vec<_> = (0..IDLE)
            .map(|_| {
                green::spawn(|| {
                    green::spawn_blocking(|| std::thread::sleep(Duration::from_millis(20)))
                })
            })
            .collect();
        for h in warm {
            h.join().unwrap();
        }
        // IDLE jobs that wait for one more job, all submitted in one hub
        // turn: the pool must run that last job too.
        let released = Arc::new((Mutex::new(false), Condvar::new()));
        let waiters: Vec<_> = (0..IDLE)
            .map(|_| {
                let r = released.clone();
                green::spawn(move || {
                    green::spawn_blocking(move || {
                        let (lock, cv) = &*r;
                        let g = lock.lock().unwrap();
                        let (g, _) = cv
                            .wait_timeout_while(g, Duration::from_secs(5), |done| !*done)
                            .unwrap();
                        *g
                    })
                })
            })
            .collect();
        let r = released.clone();
        let releaser = green::spawn(move || {
            green::spawn_blocking(move || {
                let (lock, cv) = &*r;
                *lock.lock().unwrap() = true;
                cv.notify_all();
            })
        });
        for w in waiters {
            assert!(
                w.join().unwrap(),
                "the releasing job ran while the others waited"
            );
        }
        releaser.join().unwrap();
    });
}

#[test]
fn set_max_blocking_threads_rejects_zero() {
    let e = green::set_max_blocking_threads(0).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}
