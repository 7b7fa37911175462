//! Cross-thread storm: 4 OS threads, each with its own hub, each running
//! producer and consumer greenlets. Producers send every item to another
//! thread's bounded queue, after taking a permit of a semaphore shared by
//! all threads that bounds the items in flight; consumers give the permit
//! back. Every item arrives exactly once, every permit comes back, and
//! every hub ends with no greenlet, stack, timer or registration left.
//!
//! The small variant runs with `cargo test`; the long one (4 × 1,000
//! greenlets, `GREEN_REL_STORM_ITEMS` items, default 1,000,000) runs with
//! `cargo test --test rel_storm -- --ignored`.

mod util;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use green::sync::{Queue, Semaphore};
use util::{leak_counters, SafetyNet};

const THREADS: usize = 4;

struct Storm {
    /// Greenlets per thread: half producers, half consumers.
    greenlets: usize,
    /// Items in all, spread evenly over the producers.
    items: usize,
    /// Capacity of each thread's inbox.
    queue_cap: usize,
    /// Items in flight at once, across all threads.
    permits: usize,
}

struct Shared {
    inboxes: Vec<Queue<usize>>,
    in_flight: Semaphore,
    producers_left: AtomicUsize,
    seen: Vec<AtomicU8>,
}

fn storm(s: Storm) {
    let start = Instant::now();
    let producers = THREADS * s.greenlets / 2;
    assert_eq!(s.items % producers, 0, "items must divide evenly");
    let per_producer = s.items / producers;
    let shared = Arc::new(Shared {
        inboxes: (0..THREADS).map(|_| Queue::bounded(s.queue_cap)).collect(),
        in_flight: Semaphore::new(s.permits),
        producers_left: AtomicUsize::new(producers),
        seen: (0..s.items).map(|_| AtomicU8::new(0)).collect(),
    });
    let greenlets = s.greenlets;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let sh = shared.clone();
            thread::spawn(move || {
                let base = green::stats();
                let handles: Vec<_> = (0..greenlets)
                    .map(|g| {
                        let sh = sh.clone();
                        if g % 2 == 0 {
                            let p = t * greenlets / 2 + g / 2;
                            green::spawn(move || {
                                for k in 0..per_producer {
                                    let id = p * per_producer + k;
                                    // Never our own inbox: always another hub.
                                    let to = (t + 1 + id % (THREADS - 1)) % THREADS;
                                    sh.in_flight.acquire().forget();
                                    sh.inboxes[to].put(id).expect("inbox closed early");
                                }
                                if sh.producers_left.fetch_sub(1, Ordering::AcqRel) == 1 {
                                    for q in &sh.inboxes {
                                        q.close(); // the last producer anywhere
                                    }
                                }
                                0
                            })
                        } else {
                            green::spawn(move || {
                                let mut got = 0usize;
                                while let Ok(id) = sh.inboxes[t].get() {
                                    sh.seen[id].fetch_add(1, Ordering::Relaxed);
                                    sh.in_flight.release();
                                    got += 1;
                                }
                                got
                            })
                        }
                    })
                    .collect();
                let received: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
                assert_eq!(
                    leak_counters(&green::stats()),
                    leak_counters(&base),
                    "hub of thread {t} leaked"
                );
                received
            })
        })
        .collect();
    let received: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let lost = shared
        .seen
        .iter()
        .filter(|c| c.load(Ordering::Relaxed) == 0)
        .count();
    let dup = shared
        .seen
        .iter()
        .filter(|c| c.load(Ordering::Relaxed) > 1)
        .count();
    eprintln!(
        "storm: {THREADS} threads x {} greenlets, {} items received in {:?}; \
         {lost} lost, {dup} duplicated, {} of {} permits back",
        s.greenlets,
        received,
        start.elapsed(),
        shared.in_flight.available_permits(),
        s.permits
    );
    assert_eq!((lost, dup), (0, 0), "items lost or duplicated");
    assert_eq!(received, s.items);
    assert_eq!(
        shared.in_flight.available_permits(),
        s.permits,
        "permits leaked"
    );
}

#[test]
fn storm_of_4_threads_delivers_every_item_exactly_once() {
    let _net = SafetyNet::new("rel_storm small", util::HARD_LIMIT);
    storm(Storm {
        greenlets: 40,
        items: 100_000,
        queue_cap: 8,
        permits: 64,
    });
}

/// Items of the long storm (`GREEN_REL_STORM_ITEMS`, default 1,000,000;
/// rounded down to a multiple of the 2,000 producers).
fn storm_items() -> usize {
    let n: usize = std::env::var("GREEN_REL_STORM_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    (n / 2000).max(1) * 2000
}

#[test]
#[ignore = "long: 4 x 1,000 greenlets, GREEN_REL_STORM_ITEMS (default 1,000,000) items"]
fn storm_of_4_threads_by_1000_greenlets_delivers_every_item_exactly_once() {
    let _net = SafetyNet::new("rel_storm long", Duration::from_secs(1200));
    storm(Storm {
        greenlets: 1000,
        items: storm_items(),
        queue_cap: 64,
        permits: 1024,
    });
}
