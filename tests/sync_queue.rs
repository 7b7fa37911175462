//! `Queue`, `JoinableQueue`, `PriorityQueue`, `LifoQueue` and `Channel`:
//! order, bounds, close, hand-off and the iterator.

mod util;

use std::cell::RefCell;
use std::cmp::Reverse;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use green::sync::{
    Channel, GetError, GetTimeoutError, JoinableQueue, LifoQueue, PriorityQueue, PutTimeoutError,
    Queue, TryGetError, TryPutError,
};
use util::bounded;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn items_come_out_in_fifo_order() {
    bounded(|| {
        let q = Queue::new();
        for i in 0..5 {
            q.put(i).unwrap();
        }
        assert_eq!(q.len(), 5);
        let got: Vec<i32> = (0..5).map(|_| q.get().unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert!(q.is_empty());
    });
}

#[test]
fn get_blocks_until_put() {
    bounded(|| {
        let q = Arc::new(Queue::new());
        let r = q.clone();
        let h = green::spawn(move || r.get().unwrap());
        green::yield_now();
        assert_eq!(q.getters(), 1);
        q.put("x").unwrap();
        assert_eq!(h.join().unwrap(), "x");
    });
}

#[test]
fn put_with_a_waiting_getter_hands_the_item_over() {
    bounded(|| {
        let q = Arc::new(Queue::bounded(1));
        let r = q.clone();
        let h = green::spawn(move || r.get().unwrap());
        green::yield_now();
        q.put(1).unwrap();
        // Handed to the getter, not buffered: a later try_get finds nothing.
        assert!(q.is_empty());
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
        assert_eq!(h.join().unwrap(), 1);
    });
}

#[test]
fn getters_are_served_in_fifo_order() {
    bounded(|| {
        let q = Arc::new(Queue::new());
        let got = Rc::new(RefCell::new(Vec::new()));
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let (q, got) = (q.clone(), got.clone());
                green::spawn(move || {
                    let v = q.get().unwrap();
                    got.borrow_mut().push((i, v));
                })
            })
            .collect();
        green::yield_now();
        for v in 10..14 {
            q.put(v).unwrap();
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*got.borrow(), [(0, 10), (1, 11), (2, 12), (3, 13)]);
    });
}

#[test]
fn bounded_put_blocks_while_full() {
    bounded(|| {
        let q = Arc::new(Queue::bounded(2));
        q.put(1).unwrap();
        q.put(2).unwrap();
        assert!(q.is_full());
        assert!(matches!(q.try_put(3), Err(TryPutError::Full(3))));
        let p = q.clone();
        let h = green::spawn(move || p.put(3).unwrap());
        green::yield_now();
        assert!(!h.is_finished());
        assert_eq!(q.get().unwrap(), 1); // moves the blocked put's item in
        h.join().unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q.get().unwrap(), 2);
        assert_eq!(q.get().unwrap(), 3);
    });
}

#[test]
fn put_timeout_gives_the_item_back_when_full() {
    bounded(|| {
        let q = Queue::bounded(1);
        q.put("a").unwrap();
        match q.put_timeout("b", Duration::from_millis(3)) {
            Err(PutTimeoutError::Timeout(b)) => assert_eq!(b, "b"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert_eq!(q.len(), 1);
    });
}

#[test]
fn get_timeout_gives_up_when_empty() {
    bounded(|| {
        let q: Queue<u8> = Queue::new();
        assert_eq!(
            q.get_timeout(Duration::from_millis(3)),
            Err(GetTimeoutError::Timeout)
        );
        assert_eq!(q.get_timeout(Duration::ZERO), Err(GetTimeoutError::Timeout));
        assert_eq!(q.getters(), 0);
    });
}

#[test]
fn close_fails_put_and_get_drains_then_reports_closed() {
    bounded(|| {
        let q = Queue::new();
        q.put(1).unwrap();
        q.close();
        assert!(q.is_closed());
        assert_eq!(q.put(2).unwrap_err().into_inner(), 2);
        assert!(matches!(q.try_put(3), Err(TryPutError::Closed(3))));
        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.get(), Err(GetError));
        assert_eq!(q.try_get(), Err(TryGetError::Closed));
        assert_eq!(q.get_timeout(LONG), Err(GetTimeoutError::Closed));
    });
}

#[test]
fn close_wakes_blocked_getters_and_putters() {
    bounded(|| {
        let empty: Arc<Queue<u8>> = Arc::new(Queue::new());
        let full = Arc::new(Queue::bounded(1));
        full.put(0).unwrap();
        let e = empty.clone();
        let getter = green::spawn(move || e.get());
        let f = full.clone();
        let putter = green::spawn(move || f.put(7));
        green::yield_now();
        empty.close();
        full.close();
        assert_eq!(getter.join().unwrap(), Err(GetError));
        assert_eq!(putter.join().unwrap().unwrap_err().into_inner(), 7);
        assert_eq!(full.get(), Ok(0));
    });
}

#[test]
fn iterator_ends_on_close() {
    bounded(|| {
        let q = Arc::new(Queue::bounded(1));
        let p = q.clone();
        let h = green::spawn(move || {
            for i in 0..4 {
                p.put(i).unwrap();
            }
            p.close();
        });
        let got: Vec<i32> = q.iter().collect();
        h.join().unwrap();
        assert_eq!(got, [0, 1, 2, 3]);
        let again: Vec<i32> = (&*q).into_iter().collect();
        assert!(again.is_empty());
    });
}

#[test]
fn joinable_queue_join_waits_for_task_done() {
    bounded(|| {
        let q = Arc::new(JoinableQueue::new());
        for i in 0..3 {
            q.put(i).unwrap();
        }
        assert_eq!(q.unfinished(), 3);
        assert!(!q.join_timeout(Duration::ZERO));
        let w = q.clone();
        let worker = green::spawn(move || {
            let mut n = 0;
            while let Ok(_job) = w.get_timeout(Duration::ZERO) {
                green::yield_now();
                w.task_done().unwrap();
                n += 1;
            }
            n
        });
        q.join();
        assert_eq!(q.unfinished(), 0);
        assert_eq!(worker.join().unwrap(), 3);
        assert!(q.task_done().is_err());
    });
}

#[test]
fn priority_queue_gives_greatest_first() {
    let q = PriorityQueue::new();
    for v in [3, 1, 4, 1, 5] {
        q.put(Reverse(v)).unwrap();
    }
    let got: Vec<i32> = (0..5).map(|_| q.get().unwrap().0).collect();
    assert_eq!(got, [1, 1, 3, 4, 5]);
}

#[test]
fn lifo_queue_gives_newest_first() {
    let q = LifoQueue::bounded(3);
    for v in 1..=3 {
        q.put(v).unwrap();
    }
    assert!(q.is_full());
    let got: Vec<i32> = (0..3).map(|_| q.get().unwrap()).collect();
    assert_eq!(got, [3, 2, 1]);
}

#[test]
fn channel_put_waits_for_a_taker() {
    bounded(|| {
        let ch = Arc::new(Channel::new());
        let taken = Rc::new(RefCell::new(false));
        let (c, t) = (ch.clone(), taken.clone());
        let putter = green::spawn(move || {
            c.put(5).unwrap();
            // Only returns once the item was taken.
            assert!(*t.borrow());
        });
        green::yield_now();
        assert!(!putter.is_finished());
        assert_eq!(ch.len(), 0);
        *taken.borrow_mut() = true;
        assert_eq!(ch.get(), Ok(5));
        putter.join().unwrap();
    });
}

#[test]
fn channel_try_put_needs_a_waiting_getter() {
    bounded(|| {
        let ch = Arc::new(Channel::new());
        assert!(matches!(ch.try_put(1), Err(TryPutError::Full(1))));
        let c = ch.clone();
        let getter = green::spawn(move || c.get().unwrap());
        green::yield_now();
        ch.try_put(2).unwrap();
        assert_eq!(getter.join().unwrap(), 2);
    });
}

#[test]
fn rendezvous_queue_put_timeout_gives_item_back() {
    bounded(|| {
        let q = Queue::bounded(0);
        assert!(matches!(
            q.put_timeout(1, Duration::from_millis(2)),
            Err(PutTimeoutError::Timeout(1))
        ));
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
    });
}

/// An item whose `Ord` panics while the flag is up.
#[derive(Debug, PartialEq, Eq)]
struct Touchy(u32, Rc<std::cell::Cell<bool>>);

impl PartialOrd for Touchy {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Touchy {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.1.get() {
            panic!("this Ord panics on purpose");
        }
        self.0.cmp(&other.0)
    }
}

/// A `get` from a full priority queue takes a blocked putter's item and
/// tells the putter so, then pushes the item into the heap, calling the
/// items' `Ord`. If that panics, the putter was already served: it must
/// still be woken (its item is in the queue), not left parked for ever.
#[test]
fn a_panicking_ord_does_not_strand_a_served_putter() {
    bounded(|| {
        let panics = Rc::new(std::cell::Cell::new(false));
        let q = Rc::new(PriorityQueue::bounded(1));
        q.put(Touchy(1, panics.clone())).unwrap();
        let q2 = q.clone();
        let p = panics.clone();
        let putter = green::spawn(move || q2.put(Touchy(2, p)).is_ok());
        util::yield_until(|| util::is_parked(putter.id()));
        panics.set(true);
        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.get()));
        panics.set(false);
        assert!(got.is_err(), "the Ord panicked inside get");
        assert!(putter.join().unwrap(), "the served putter returns Ok");
    });
}

/// An item whose `Ord` blocks greenly (which its documentation forbids).
#[cfg(debug_assertions)]
#[derive(Debug, PartialEq, Eq)]
struct Sleepy(u32);

#[cfg(debug_assertions)]
impl PartialOrd for Sleepy {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(debug_assertions)]
impl Ord for Sleepy {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        green::sleep(Duration::from_millis(1));
        self.0.cmp(&other.0)
    }
}

/// A blocking `Ord` switches out while the queue's internal lock is held;
/// another greenlet of the same thread touching the queue would spin for
/// ever. Debug builds detect the re-entry and panic with a message.
#[cfg(debug_assertions)]
#[test]
fn a_blocking_ord_is_reported_in_debug_builds_instead_of_spinning() {
    bounded(|| {
        let q = Rc::new(PriorityQueue::new());
        q.put(Sleepy(1)).unwrap(); // an empty heap compares nothing
        let q2 = q.clone();
        let holder = green::spawn(move || q2.put(Sleepy(2)).unwrap());
        green::yield_now(); // `holder` parks inside its Ord, holding the lock
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.len()))
            .expect_err("the re-entry is reported");
        let msg = err
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| err.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert!(msg.contains("taken again"), "unexpected panic: {msg}");
        holder.join().unwrap();
        assert_eq!(q.len(), 2);
    });
}
