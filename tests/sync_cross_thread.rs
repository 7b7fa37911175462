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

/// Leaves a waiter behind in a wait list: a greenlet on another thread
/// that refuses to end when that thread exits. `wait` runs in a destructor
/// during the kill's unwind (where a kill is not delivered again), so it
/// blocks through every retry of the thread's teardown, and the thread
/// leaks the greenlet with its stack, still queued. Its entry points into
/// that leaked stack and at its hub's shared part, both kept alive.
fn leave_a_waiter_behind(wait: impl FnOnce() + Send + 'static) {
    struct WaitOnDrop<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for WaitOnDrop<F> {
        fn drop(&mut self) {
            if let Some(wait) = self.0.take() {
                wait();
            }
        }
    }
    thread::spawn(move || {
        let stubborn = green::spawn(move || {
            let _waits_when_killed = WaitOnDrop(Some(wait));
            green::sleep(LONG);
        });
        util::yield_until(|| util::is_parked(stubborn.id()));
        // The thread exits here: its hub kills `stubborn`, whose destructor
        // then waits through every retry.
    })
    .join()
    .unwrap();
}

/// A release skips a waiter leaked at thread exit (it would never use the
/// permit) and serves the waiter queued behind it; nothing is stranded.
#[test]
fn a_waiter_leaked_at_thread_exit_is_skipped_by_semaphore_release() {
    bounded(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s = sem.clone();
        leave_a_waiter_behind(move || s.acquire().forget());
        assert_eq!(sem.waiters(), 1, "the leaked greenlet is still queued");
        let s = sem.clone();
        let next = green::spawn(move || s.acquire().forget());
        util::yield_until(|| sem.waiters() == 2);
        sem.release(); // skips the leaked greenlet: handed to `next`
        next.join().unwrap();
        assert_eq!(sem.waiters(), 0);
        sem.release();
        assert_eq!(sem.available_permits(), 1, "no permit was stranded");
    });
}

#[test]
fn a_mutex_unlocked_while_a_leaked_waiter_is_queued_becomes_free() {
    bounded(|| {
        let m = Arc::new(Mutex::new(0));
        let held = m.lock();
        let m2 = m.clone();
        leave_a_waiter_behind(move || *m2.lock() += 1);
        drop(held);
        let mut g = m
            .try_lock()
            .expect("the lock was not handed to the leaked waiter");
        *g += 10;
        drop(g);
        assert_eq!(*m.lock(), 10);
    });
}

#[test]
fn an_item_put_while_a_leaked_getter_is_queued_stays_in_the_queue() {
    bounded(|| {
        let q: Arc<Queue<u32>> = Arc::new(Queue::new());
        let q2 = q.clone();
        leave_a_waiter_behind(move || {
            let _ = q2.get();
        });
        q.put(7).unwrap();
        assert_eq!(
            q.try_get().ok(),
            Some(7),
            "the item went to the leaked getter"
        );
    });
}

/// A leaked writer at the head of an `RwLock`'s queue neither takes the
/// lock nor keeps the readers queued behind it waiting.
#[test]
fn readers_queued_behind_a_leaked_writer_get_the_lock() {
    bounded(|| {
        let rw = Arc::new(RwLock::new(0));
        let read = rw.read();
        let rw2 = rw.clone();
        leave_a_waiter_behind(move || *rw2.write() += 1);
        let rw3 = rw.clone();
        // Queued behind the writer (FIFO), although only a reader holds it.
        let reader = green::spawn(move || *rw3.read());
        green::yield_now();
        assert!(!reader.is_finished());
        drop(read);
        assert_eq!(reader.join().unwrap(), 0);
        assert!(
            rw.try_write().is_some(),
            "the lock was not handed to the leaked writer"
        );
    });
}
