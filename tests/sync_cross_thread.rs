//! Across OS threads: four threads, each running a hundred greenlets on its
//! own hub, hammer one queue and one semaphore; plain threads and greenlets
//! on other hubs wake each other.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use green::sync::{
    AsyncResult, BoundedSemaphore, Channel, Condvar, Event, JoinableQueue, LifoQueue, Mutex,
    PriorityQueue, Queue, RwLock, Semaphore,
};
use util::bounded;

const THREADS: usize = 4;
const GREENLETS: usize = 100;
const ITEMS: u64 = 20;
const LONG: Duration = Duration::from_secs(30);

#[test]
fn queue_hammered_by_four_threads_loses_and_duplicates_nothing() {
    bounded(|| {
        let q: Arc<Queue<u64>> = Arc::new(Queue::bounded(8));
        let producers_left = Arc::new(AtomicUsize::new(THREADS * GREENLETS / 2));
        let threads: Vec<_> = (0..THREADS as u64)
            .map(|t| {
                let q = q.clone();
                let left = producers_left.clone();
                thread::spawn(move || {
                    bounded(|| {
                        let got = Rc::new(RefCell::new(Vec::new()));
                        let hs: Vec<_> = (0..GREENLETS as u64)
                            .map(|g| {
                                let (q, left, got) = (q.clone(), left.clone(), got.clone());
                                if g % 2 == 0 {
                                    green::spawn(move || {
                                        for k in 0..ITEMS {
                                            q.put(t * 1_000_000 + g * 1_000 + k).unwrap();
                                        }
                                        if left.fetch_sub(1, Ordering::SeqCst) == 1 {
                                            q.close(); // the last producer anywhere
                                        }
                                    })
                                } else {
                                    green::spawn(move || {
                                        for v in q.iter() {
                                            got.borrow_mut().push(v);
                                        }
                                    })
                                }
                            })
                            .collect();
                        for h in hs {
                            h.join().unwrap();
                        }
                        let v = got.borrow().clone();
                        v
                    })
                })
            })
            .collect();
        let mut all: Vec<u64> = Vec::new();
        for t in threads {
            all.extend(t.join().unwrap());
        }
        all.sort_unstable();
        let mut expected: Vec<u64> = (0..THREADS as u64)
            .flat_map(|t| {
                (0..GREENLETS as u64)
                    .filter(|g| g % 2 == 0)
                    .flat_map(move |g| (0..ITEMS).map(move |k| t * 1_000_000 + g * 1_000 + k))
            })
            .collect();
        expected.sort_unstable();
        assert_eq!(all.len(), expected.len());
        assert_eq!(all, expected);
        assert!(q.is_empty());
    });
}

#[test]
fn semaphore_hammered_by_four_threads_never_overcommits_or_leaks() {
    bounded(|| {
        const PERMITS: usize = 5;
        const ROUNDS: usize = 10;
        let sem = Arc::new(Semaphore::new(PERMITS));
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let total = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (sem, inside, most, total) =
                    (sem.clone(), inside.clone(), most.clone(), total.clone());
                thread::spawn(move || {
                    bounded(|| {
                        let hs: Vec<_> = (0..GREENLETS)
                            .map(|_| {
                                let (sem, inside, most, total) =
                                    (sem.clone(), inside.clone(), most.clone(), total.clone());
                                green::spawn(move || {
                                    for _ in 0..ROUNDS {
                                        let _p = sem.acquire();
                                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                                        most.fetch_max(now, Ordering::SeqCst);
                                        green::yield_now();
                                        inside.fetch_sub(1, Ordering::SeqCst);
                                        total.fetch_add(1, Ordering::SeqCst);
                                    }
                                })
                            })
                            .collect();
                        for h in hs {
                            h.join().unwrap();
                        }
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= PERMITS);
        assert_eq!(total.load(Ordering::SeqCst), THREADS * GREENLETS * ROUNDS);
        assert_eq!(sem.available_permits(), PERMITS);
        assert_eq!(sem.waiters(), 0);
    });
}

#[test]
fn plain_thread_get_is_woken_by_a_greenlet_on_another_hub() {
    bounded(|| {
        let q: Arc<Queue<&str>> = Arc::new(Queue::new());
        let r = q.clone();
        // A plain thread with no greenlets: `get` blocks by running its hub.
        let reader = thread::spawn(move || r.get_timeout(LONG));
        let p = q.clone();
        let h = green::spawn(move || {
            // Wait until the reader is parked, then put.
            while p.getters() == 0 {
                green::sleep(Duration::from_millis(1));
            }
            p.put("across").unwrap();
        });
        h.join().unwrap();
        assert_eq!(reader.join().unwrap(), Ok("across"));
    });
}

#[test]
fn greenlet_is_woken_by_a_plain_thread_set() {
    bounded(|| {
        let ev = Arc::new(Event::new());
        let res: Arc<AsyncResult<u32, ()>> = Arc::new(AsyncResult::new());
        let (e, r) = (ev.clone(), res.clone());
        let h = green::spawn(move || {
            assert!(e.wait_timeout(LONG));
            r.get_timeout(LONG)
        });
        green::yield_now();
        let (e, r) = (ev.clone(), res.clone());
        thread::spawn(move || {
            e.set();
            r.set(11).unwrap();
        })
        .join()
        .unwrap();
        assert_eq!(h.join().unwrap(), Some(Ok(11)));
    });
}

#[test]
fn mutex_counter_across_four_threads_counts_every_increment() {
    bounded(|| {
        let m = Arc::new(Mutex::new(0usize));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || {
                    bounded(|| {
                        let hs: Vec<_> = (0..GREENLETS)
                            .map(|_| {
                                let m = m.clone();
                                green::spawn(move || {
                                    for _ in 0..5 {
                                        let mut g = m.lock();
                                        let v = *g;
                                        green::yield_now(); // hold it across a switch
                                        *g = v + 1;
                                    }
                                })
                            })
                            .collect();
                        for h in hs {
                            h.join().unwrap();
                        }
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), THREADS * GREENLETS * 5);
    });
}

#[test]
fn every_primitive_is_send_and_sync() {
    fn shareable<T: Send + Sync>(_: &T) {}
    shareable(&Event::new());
    shareable(&AsyncResult::<String, String>::new());
    shareable(&Semaphore::new(1));
    shareable(&BoundedSemaphore::new(1));
    shareable(&Semaphore::new(1).acquire_owned());
    shareable(&Mutex::new(String::new()));
    shareable(&RwLock::new(String::new()));
    shareable(&Condvar::new());
    shareable(&Queue::<String>::new());
    shareable(&JoinableQueue::<String>::new());
    shareable(&PriorityQueue::<String>::new());
    shareable(&LifoQueue::<String>::new());
    shareable(&Channel::<String>::new());
    shareable(&green::Pool::new(1));
    shareable(&green::Group::new());
    // And they work when moved to another thread and back.
    let q = Queue::new();
    let q = thread::spawn(move || {
        q.put(1u8).unwrap();
        q
    })
    .join()
    .unwrap();
    assert_eq!(q.try_get(), Ok(1));
}

#[test]
fn killed_consumers_on_other_threads_lose_no_item() {
    bounded(|| {
        const PRODUCED: u64 = 2_000;
        const CONSUMERS: usize = 50;
        let q: Arc<Queue<u64>> = Arc::new(Queue::bounded(4));
        let consumer_threads: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || {
                    bounded(|| {
                        let got = Rc::new(RefCell::new(Vec::new()));
                        let hs: Vec<_> = (0..CONSUMERS)
                            .map(|_| {
                                let (q, got) = (q.clone(), got.clone());
                                green::spawn(move || {
                                    // Recording right after `get` returns has
                                    // no blocking point in between: a kill
                                    // lands either before the item was taken
                                    // (it passes on) or after it was recorded.
                                    while let Ok(v) = q.get() {
                                        got.borrow_mut().push(v);
                                    }
                                })
                            })
                            .collect();
                        // Kill every other consumer while the producer runs,
                        // most of them blocked in `get`.
                        for h in hs.iter().step_by(2) {
                            green::yield_now();
                            h.kill();
                        }
                        for h in hs {
                            let _ = h.join();
                        }
                        let v = got.borrow().clone();
                        v
                    })
                })
            })
            .collect();
        let p = q.clone();
        let producer = thread::spawn(move || {
            bounded(|| {
                for v in 0..PRODUCED {
                    p.put(v).unwrap();
                }
                p.close();
            })
        });
        producer.join().unwrap();
        let mut all: Vec<u64> = Vec::new();
        for t in consumer_threads {
            all.extend(t.join().unwrap());
        }
        all.sort_unstable();
        assert_eq!(all, (0..PRODUCED).collect::<Vec<_>>());
    });
}

/// A greenlet that refuses to end when its thread exits (a destructor
/// run by its kill blocks in `acquire` for good) is leaked with its stack,
/// still registered in a wait list. Releasing to it later from another
/// thread must stay sound (its entry points into that leaked stack and at
/// its hub's shared part, both kept alive), and the waiter queued behind
/// it is still served.
#[test]
fn a_waiter_leaked_at_thread_exit_can_still_be_handed_to() {
    struct AcquireOnDrop(Arc<Semaphore>);
    impl Drop for AcquireOnDrop {
        fn drop(&mut self) {
            self.0.acquire().forget();
        }
    }
    bounded(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s = sem.clone();
        thread::spawn(move || {
            let stubborn = green::spawn(move || {
                let _blocks_when_killed = AcquireOnDrop(s);
                green::sleep(LONG);
            });
            util::yield_until(|| util::is_parked(stubborn.id()));
            // The thread exits: its hub kills `stubborn`, whose destructor
            // then waits in `acquire` through every retry.
        })
        .join()
        .unwrap();
        assert_eq!(sem.waiters(), 1, "the leaked greenlet is still queued");
        let s = sem.clone();
        let next = green::spawn(move || s.acquire().forget());
        util::yield_until(|| sem.waiters() == 2);
        sem.release(); // handed to the leaked greenlet, which never runs
        sem.release(); // handed to `next`
        next.join().unwrap();
        assert_eq!(sem.waiters(), 0);
        assert_eq!(sem.available_permits(), 0);
    });
}
