//! Across OS threads: an `Unparker` used on another thread wakes a greenlet
//! through its hub's inbox and waker; every thread runs its own hub.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use util::bounded;

#[test]
fn unparker_sent_to_plain_thread_wakes_parked_greenlet() {
    bounded(|| {
        let (tx, rx) = mpsc::channel::<green::Unparker>();
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let helper = std::thread::spawn(move || {
            let u = rx.recv_timeout(Duration::from_secs(10)).expect("unparker");
            f.store(true, Ordering::SeqCst);
            u.unpark();
        });
        let f = flag.clone();
        let h = green::spawn(move || {
            tx.send(green::current_unparker()).expect("helper listens");
            let mut parks = 0;
            while !f.load(Ordering::SeqCst) {
                green::park("the helper thread");
                parks += 1;
            }
            parks
        });
        h.join().unwrap();
        helper.join().unwrap();
        assert!(flag.load(Ordering::SeqCst));
    });
}

#[test]
fn unpark_from_another_thread_before_park_is_kept() {
    bounded(|| {
        let u = green::current_unparker();
        std::thread::spawn(move || u.unpark()).join().unwrap();
        // The wake-up is already in the inbox: this park returns.
        green::park("permit from another thread");
    });
}

#[test]
fn four_threads_each_run_their_own_hub() {
    bounded(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let ran = ran.clone();
                std::thread::spawn(move || {
                    let me = std::thread::current().id();
                    let hs: Vec<_> = (0..100u64)
                        .map(|i| {
                            let ran = ran.clone();
                            green::spawn(move || {
                                green::yield_now();
                                green::sleep(Duration::from_millis(1));
                                assert_eq!(std::thread::current().id(), me);
                                ran.fetch_add(1, Ordering::SeqCst);
                                t * 1000 + i
                            })
                        })
                        .collect();
                    let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
                    let left = green::stats().greenlets;
                    (sum, left)
                })
            })
            .collect();
        for (t, th) in threads.into_iter().enumerate() {
            let (sum, left) = th.join().unwrap();
            let t = t as u64;
            assert_eq!(sum, (0..100).map(|i| t * 1000 + i).sum::<u64>());
            assert_eq!(left, 0);
        }
        assert_eq!(ran.load(Ordering::SeqCst), 400);
    });
}

#[test]
fn greenlet_on_one_hub_wakes_greenlet_on_another() {
    bounded(|| {
        let (tx, rx) = mpsc::channel::<green::Unparker>();
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let waker_thread = std::thread::spawn(move || {
            let h = green::spawn(move || {
                let u = green::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)))
                    .expect("unparker");
                f.store(true, Ordering::SeqCst);
                u.unpark();
            });
            h.join().unwrap();
        });
        let f = flag.clone();
        let h = green::spawn(move || {
            tx.send(green::current_unparker()).expect("send");
            while !f.load(Ordering::SeqCst) {
                green::park("a greenlet of another hub");
            }
        });
        h.join().unwrap();
        waker_thread.join().unwrap();
    });
}

#[test]
fn join_from_another_thread_waits_for_the_greenlet() {
    bounded(|| {
        let (u_tx, u_rx) = mpsc::channel::<green::Unparker>();
        let (res_tx, res_rx) = mpsc::channel::<&'static str>();
        let go = Arc::new(AtomicBool::new(false));
        let g = go.clone();
        let h = green::spawn(move || {
            u_tx.send(green::current_unparker())
                .expect("joiner listens");
            while !g.load(Ordering::SeqCst) {
                green::park("the joiner thread");
            }
            "from the main thread's hub"
        });
        let main = green::current_unparker();
        let joiner = std::thread::spawn(move || {
            // Release the greenlet, then join it from this thread (its own
            // hub): the greenlet ends on the main thread's hub.
            let u = u_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("unparker");
            go.store(true, Ordering::SeqCst);
            u.unpark();
            let v = h.join().unwrap();
            res_tx.send(v).expect("main listens");
            main.unpark();
        });
        let v = loop {
            if let Ok(v) = res_rx.try_recv() {
                break v;
            }
            green::park("the joiner thread's result");
        };
        assert_eq!(v, "from the main thread's hub");
        joiner.join().unwrap();
    });
}

#[test]
fn unparker_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<green::Unparker>();
    check::<green::JoinHandle<u32>>();
}
