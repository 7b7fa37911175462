//! `wait` and `iwait` over a mix of waitables.

mod util;

use std::sync::Arc;
use std::time::Duration;

use green::sync::{iwait_timeout, AsyncResult, Event, Queue, Waitable};
use green::{iwait, wait};
use util::bounded;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn wait_for_all_returns_when_every_object_is_ready() {
    bounded(|| {
        let ev = Arc::new(Event::new());
        let res: Arc<AsyncResult<u8, ()>> = Arc::new(AsyncResult::new());
        let q: Arc<Queue<u8>> = Arc::new(Queue::new());
        let h = {
            let (ev, res, q) = (ev.clone(), res.clone(), q.clone());
            green::spawn(move || {
                ev.set();
                green::yield_now();
                res.set(1).unwrap();
                green::yield_now();
                q.put(2).unwrap();
            })
        };
        let ready = wait(&[&*ev, &*res, &*q], Some(LONG), None);
        assert_eq!(ready, [0, 1, 2]);
        h.join().unwrap();
    });
}

#[test]
fn wait_with_count_returns_after_the_first() {
    bounded(|| {
        let never = Event::new();
        let soon = Arc::new(Event::new());
        let s = soon.clone();
        let h = green::spawn(move || s.set());
        let ready = wait(&[&never, &*soon], Some(LONG), Some(1));
        assert_eq!(ready, [1]);
        h.join().unwrap();
    });
}

#[test]
fn wait_times_out_with_what_is_ready() {
    bounded(|| {
        let never = Event::new();
        let set = Event::new();
        set.set();
        let ready = wait(&[&never, &set], Some(Duration::from_millis(3)), None);
        assert_eq!(ready, [1]);
    });
}

#[test]
fn wait_on_join_handles() {
    bounded(|| {
        let a = green::spawn(|| 1);
        let b = green::spawn(|| 2);
        let ready = wait(&[&a, &b], Some(LONG), None);
        assert_eq!(ready, [0, 1]);
        assert!(a.is_ready());
    });
}

#[test]
fn iwait_yields_in_completion_order() {
    bounded(|| {
        let first = Arc::new(Event::new());
        let second = Arc::new(Event::new());
        let (f, s) = (first.clone(), second.clone());
        let h = green::spawn(move || {
            s.set();
            green::yield_now();
            f.set();
        });
        let order: Vec<usize> = iwait(&[&*first, &*second]).collect();
        assert_eq!(order, [1, 0]);
        h.join().unwrap();
    });
}

#[test]
fn iwait_timeout_stops_at_the_deadline() {
    bounded(|| {
        let never = Event::new();
        let set = Event::new();
        set.set();
        let got: Vec<usize> = iwait_timeout(&[&never, &set], Duration::from_millis(3)).collect();
        assert_eq!(got, [1]);
    });
}

#[test]
fn wait_leaves_no_watch_behind() {
    bounded(|| {
        let q: Queue<u8> = Queue::new();
        let ready = wait(&[&q], Some(Duration::from_millis(2)), None);
        assert!(ready.is_empty());
        // A later get is served normally (no stale watcher takes anything).
        q.put(1).unwrap();
        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.getters(), 0);
    });
}

/// On a rendezvous queue a `get` becomes possible when a putter blocks
/// (it takes the putter's item): that must wake a `wait` watching it.
#[test]
fn wait_on_a_rendezvous_queue_wakes_when_a_putter_blocks() {
    bounded(|| {
        let q: Arc<Queue<u32>> = Arc::new(Queue::bounded(0));
        let q2 = q.clone();
        let putter = green::spawn(move || q2.put(7).unwrap());
        // Registers, then parks; the putter runs and blocks in `put`.
        let ready = wait(&[&*q], None, Some(1));
        assert_eq!(ready, [0]);
        assert_eq!(q.get().unwrap(), 7);
        putter.join().unwrap();
    });
}
