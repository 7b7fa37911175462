//! Spawn + join of an empty green thread against its peers, in the same run.
//!
//! Run with `cargo bench -p green-benches --bench spawn`.
//!
//! One iteration = create a thread of execution that runs an empty closure,
//! then wait for it to end and take its (unit) result:
//!
//! * `green_main` — `green_runtime::spawn(|| ()).join()` from the main context (the
//!   thread's own stack; the join runs the hub loop, which resumes the new
//!   greenlet, which finishes and wakes the main context).
//! * `green_in_greenlet` — the same loop run inside a greenlet, so the join
//!   parks a greenlet instead of the main context.
//! * `corosensei_on_reused_stack` — lower bound: a bare corosensei
//!   coroutine created on a stack reused from the previous iteration,
//!   resumed once to completion, and its stack taken back. No scheduler,
//!   no result passing, no join.
//! * `std_thread` — `std::thread::spawn(|| ()).join()`.
//! * `tokio_current_thread` — inside one `block_on` of a current-thread
//!   runtime: `tokio::spawn(async {}).await`.
//! * `may_in_coroutine` — inside one may coroutine (one worker thread):
//!   `may::go!(|| ()).join()`.
//! * `may_main` — the same from the main thread (the join blocks the OS
//!   thread until the coroutine has run on may's worker).
//!
//! What the measurement excludes: building the runtimes (the green hub, the
//! tokio runtime, may's scheduler), which happens once before timing; for
//! the loops timed inside a greenlet, `block_on` or a coroutine, the entry
//! into and exit from that context (timed with `iter_custom` from inside).
//! Every green stack comes from the hub's pool, warm after the first
//! iteration: the figures are the steady state, not the cost of mapping a
//! fresh stack.

use std::hint::black_box;
use std::time::{Duration, Instant};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult};
use criterion::{criterion_group, criterion_main, Criterion};

fn green_main(c: &mut Criterion) {
    c.bench_function("spawn_join/green_main", |b| {
        b.iter(|| {
            green_runtime::spawn(|| black_box(()))
                .join()
                .expect("an empty greenlet does not panic")
        })
    });
}

fn green_in_greenlet(c: &mut Criterion) {
    c.bench_function("spawn_join/green_in_greenlet", |b| {
        b.iter_custom(|iters| {
            green_runtime::spawn(move || {
                let t = Instant::now();
                for _ in 0..iters {
                    green_runtime::spawn(|| black_box(()))
                        .join()
                        .expect("an empty greenlet does not panic");
                }
                t.elapsed()
            })
            .join()
            .expect("the benchmark greenlet does not panic")
        })
    });
}

fn corosensei_on_reused_stack(c: &mut Criterion) {
    let mut stack = Some(DefaultStack::default());
    c.bench_function("spawn_join/corosensei_on_reused_stack", |b| {
        b.iter(|| {
            let s = stack.take().expect("the stack is put back every iteration");
            let mut co = Coroutine::<(), (), (), _>::with_stack(s, |_y, ()| black_box(()));
            let done = matches!(co.resume(()), CoroutineResult::Return(()));
            stack = Some(co.into_stack());
            done
        })
    });
}

fn std_thread(c: &mut Criterion) {
    c.bench_function("spawn_join/std_thread", |b| {
        b.iter(|| {
            std::thread::spawn(|| black_box(()))
                .join()
                .expect("an empty thread does not panic")
        })
    });
}

fn tokio_current_thread(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    c.bench_function("spawn_join/tokio_current_thread", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let t = Instant::now();
                for _ in 0..iters {
                    tokio::spawn(async { black_box(()) })
                        .await
                        .expect("an empty task does not panic");
                }
                t.elapsed()
            })
        })
    });
}

fn may_in_coroutine(c: &mut Criterion) {
    c.bench_function("spawn_join/may_in_coroutine", |b| {
        b.iter_custom(|iters| {
            may::go!(move || {
                let t = Instant::now();
                for _ in 0..iters {
                    may::go!(|| black_box(()))
                        .join()
                        .expect("an empty coroutine does not panic");
                }
                t.elapsed()
            })
            .join()
            .expect("the benchmark coroutine does not panic")
        })
    });
}

fn may_main(c: &mut Criterion) {
    c.bench_function("spawn_join/may_main", |b| {
        b.iter(|| {
            may::go!(|| black_box(()))
                .join()
                .expect("an empty coroutine does not panic")
        })
    });
}

fn peers(c: &mut Criterion) {
    // One worker, like green's one hub per thread; set before may's first
    // use.
    may::config().set_workers(1);
    corosensei_on_reused_stack(c);
    std_thread(c);
    tokio_current_thread(c);
    may_in_coroutine(c);
    may_main(c);
}

/// The criterion entry points (`criterion_group!` makes an undocumented
/// `pub fn`, hence the `allow`).
#[allow(missing_docs)]
mod group {
    use super::*;

    criterion_group! {
        name = spawn;
        config = Criterion::default()
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        targets = green_main, green_in_greenlet, peers
    }
}
criterion_main!(group::spawn);
