//! Greenlet switch round trip against a bare corosensei round trip, in the
//! same run.
//!
//! Run with `cargo bench -p green-benches --bench switch`.
//!
//! **One round trip** is: control leaves a coroutine and comes back into a
//! coroutine — one `suspend` plus one `resume`. It is the least any blocking
//! green operation pays.
//!
//! * `corosensei_resume_suspend` — the baseline: the benchmark loop on the
//!   thread's stack `resume`s a corosensei coroutine (on a `DefaultStack`)
//!   that `suspend`s straight back. One iteration = one round trip.
//! * `minimal_hub_yield_pair` — the floor of any hub-mediated design: a
//!   dozen-line scheduler written here (a thread-local `VecDeque` run queue
//!   and a loop that pops a key and resumes that corosensei coroutine), two
//!   coroutines that push themselves back and suspend. One iteration = one
//!   such yield = one round trip through that loop. No records, states,
//!   timers, I/O or checkpoints.
//! * `green_yield_now_alone` — one greenlet calls `green_runtime::yield_now()` in a
//!   loop and is the only ready greenlet: it suspends into the hub loop, the
//!   hub pops it off the run queue and resumes it. One iteration = one
//!   `yield_now` = one round trip through the hub.
//! * `green_yield_now_pair` — two greenlets call `yield_now()` in a loop, so
//!   each yield resumes the *other* one (the hub loop goes A, B, A, B...).
//!   One iteration = one `yield_now` call of either greenlet = one round
//!   trip through the hub.
//! * `green_park_unpark_pair` — two greenlets ping-pong: each unparks the
//!   other through its `Unparker` and then `park`s, looping until its turn
//!   comes (the documented park protocol). One iteration = one hand-off
//!   (unpark of the peer + park + resume of the peer) = one round trip
//!   through the hub plus the unpark bookkeeping.
//!
//! What the measurement excludes: the green figures are timed inside the
//! greenlets, from the first greenlet's first instruction to the last
//! greenlet's last loop iteration, so spawning the greenlets, the first
//! resume of each (coroutine start-up), their completion and the joins in
//! the main context are not counted. The corosensei and minimal-hub figures
//! exclude the allocation of their stacks (the minimal hub is timed around
//! its loop only). Both include `Instant::now()` only twice per
//! sample (criterion's `iter_custom`), which is negligible over the
//! thousands of iterations of a sample.
//!
//! What the green figures include that the baseline does not: everything
//! the hub does per switch (run-queue push and pop, the greenlet record's
//! state changes, the kill/`Timeout` checkpoints), and, once every 61
//! resumes, the hub's look at timers, I/O (a zero-timeout `epoll_wait`)
//! and the cross-thread inbox — the hub's fairness towards sockets, which a
//! green program always pays.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corosensei::{Coroutine, CoroutineResult, Yielder};
use criterion::{criterion_group, criterion_main, Criterion};

fn corosensei_resume_suspend(c: &mut Criterion) {
    let mut co = Coroutine::new(|y, mut input: usize| loop {
        input = y.suspend(input);
    });
    c.bench_function("switch/corosensei_resume_suspend", |b| {
        b.iter(|| co.resume(black_box(0usize)))
    });
    // SAFETY: the coroutine only loops on `suspend` and owns nothing that
    // needs dropping, so abandoning its stack without unwinding is sound
    // (this is what corosensei's own benchmark does).
    unsafe { co.force_reset() };
}

thread_local! {
    /// Run queue of the minimal hub: indexes into its coroutine vector.
    static MINIMAL_QUEUE: RefCell<VecDeque<usize>> = const { RefCell::new(VecDeque::new()) };
}

/// Runs two coroutines of the minimal hub for `each` yields apiece and
/// returns the time the hub loop took.
fn minimal_hub(each: u64) -> Duration {
    let mut cos: Vec<Coroutine<usize, (), ()>> = (0..2)
        .map(|_| {
            Coroutine::new(move |y: &Yielder<usize, ()>, mut me: usize| {
                for _ in 0..each {
                    MINIMAL_QUEUE.with(|q| q.borrow_mut().push_back(me));
                    me = y.suspend(());
                }
            })
        })
        .collect();
    MINIMAL_QUEUE.with(|q| q.borrow_mut().extend([0, 1]));
    let t = Instant::now();
    while let Some(k) = MINIMAL_QUEUE.with(|q| q.borrow_mut().pop_front()) {
        if let CoroutineResult::Return(()) = cos[k].resume(k) {
            black_box(k);
        }
    }
    t.elapsed()
}

fn minimal_hub_yield_pair(c: &mut Criterion) {
    c.bench_function("switch/minimal_hub_yield_pair", |b| {
        b.iter_custom(|iters| {
            let each = iters.div_ceil(2);
            minimal_hub(each).mul_f64(iters as f64 / (2 * each) as f64)
        })
    });
}

fn green_yield_now_alone(c: &mut Criterion) {
    c.bench_function("switch/green_yield_now_alone", |b| {
        b.iter_custom(|iters| {
            green_runtime::spawn(move || {
                let t = Instant::now();
                for _ in 0..iters {
                    green_runtime::yield_now();
                }
                t.elapsed()
            })
            .join()
            .expect("the yielding greenlet does not panic")
        })
    });
}

/// Two greenlets each running `body(iters_each)`; returns the time from the
/// first one's start to the last one's end.
fn timed_pair<F>(iters_each: u64, body: F) -> Duration
where
    F: Fn(u64) + Clone + 'static,
{
    let start: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
    let end: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (start, end, body) = (start.clone(), end.clone(), body.clone());
            green_runtime::spawn(move || {
                if start.get().is_none() {
                    start.set(Some(Instant::now()));
                }
                body(iters_each);
                end.set(Some(Instant::now()));
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a benchmark greenlet does not panic");
    }
    match (start.get(), end.get()) {
        (Some(s), Some(e)) => e.duration_since(s),
        _ => unreachable!("both greenlets ran"),
    }
}

fn green_yield_now_pair(c: &mut Criterion) {
    c.bench_function("switch/green_yield_now_pair", |b| {
        b.iter_custom(|iters| {
            // Each greenlet yields iters/2 times: `iters` round trips in all.
            let each = iters.div_ceil(2);
            let d = timed_pair(each, |n| {
                for _ in 0..n {
                    green_runtime::yield_now();
                }
            });
            d.mul_f64(iters as f64 / (2 * each) as f64)
        })
    });
}

fn green_park_unpark_pair(c: &mut Criterion) {
    c.bench_function("switch/green_park_unpark_pair", |b| {
        b.iter_custom(|iters| {
            // `turn` says whose move it is (0 or 1); each greenlet takes
            // iters/2 turns, so there are `iters` hand-offs in all.
            let each = iters.div_ceil(2);
            let turn = Rc::new(Cell::new(0u8));
            let unparkers: Rc<[Cell<Option<green_runtime::Unparker>>; 2]> =
                Rc::new([Cell::new(None), Cell::new(None)]);
            let me = Rc::new(Cell::new(0u8));
            let d = timed_pair(each, move |n| {
                let mine = me.get();
                me.set(mine + 1);
                unparkers[usize::from(mine)].set(Some(green_runtime::current_unparker()));
                let other = 1 - mine;
                for _ in 0..n {
                    while turn.get() != mine {
                        green_runtime::park("bench turn");
                    }
                    turn.set(other);
                    // The peer registers its unparker on its first run; until
                    // then it is still in the run queue and needs no wake-up.
                    let peer = unparkers[usize::from(other)].take();
                    if let Some(u) = &peer {
                        u.unpark();
                    }
                    unparkers[usize::from(other)].set(peer);
                }
            });
            d.mul_f64(iters as f64 / (2 * each) as f64)
        })
    });
}

/// The criterion entry points (`criterion_group!` makes an undocumented
/// `pub fn`, hence the `allow`).
#[allow(missing_docs)]
mod group {
    use super::*;

    criterion_group! {
        name = switch;
        config = Criterion::default()
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        targets = corosensei_resume_suspend, minimal_hub_yield_pair, green_yield_now_alone, green_yield_now_pair,
            green_park_unpark_pair
    }
}
criterion_main!(group::switch);
