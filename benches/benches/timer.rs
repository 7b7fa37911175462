//! Timer insert + cancel with 0, 1,000 and 1,000,000 timers already
//! pending, green against tokio current-thread, in the same run.
//!
//! Run with `cargo bench -p green-benches --bench timer`.
//!
//! The pending timers are sleepers: greenlets (tokio: `Sleep` futures polled
//! once, so registered with the timer driver) sleeping for an hour. They are
//! added between the groups (0, then 1,000, then 1,000,000 in all) and stay
//! until the process ends. The timer inserted and cancelled by each
//! iteration has a deadline one minute ahead: earlier than every pending
//! one, as a socket timeout among idle sleepers is.
//!
//! * `green_park_until` — one greenlet `W` loops on
//!   `park_until(Some(deadline), ..)`; the benchmark loop in the main
//!   context calls `W`'s `Unparker::unpark()` and then `yield_now()`. One
//!   iteration = one unpark of `W` + one round trip of the main context
//!   through the hub loop + one resume of `W`, whose park returns (its
//!   timer is **cancelled**) and parks again (a timer is **inserted**).
//! * `green_park_control` — the same loop with `park_until(None, ..)`: no
//!   timer at all. The difference between the two is the cost of one timer
//!   insert + cancel (plus the `Instant::now()` the park makes to check a
//!   deadline that may already have passed).
//! * `tokio_sleep_poll_drop` — inside one `block_on` of a current-thread
//!   runtime: `tokio::time::sleep_until(deadline)` is created on the stack,
//!   polled once (which registers it with the timer wheel) and dropped
//!   (which deregisters it). One iteration = one insert + one cancel, with
//!   no task switch.
//!
//! What the measurement excludes: creating the pending timers (spawning
//! the sleeping greenlets, polling the pending `Sleep`s), and building the
//! runtimes. The green figures include two hub round trips per iteration
//! that tokio's do not (hence the control); compare tokio against the
//! difference `green_park_until − green_park_control`, and each flavour
//! against itself across the pending counts: a figure that grows with the
//! number pending is a scan or a tree walk, not a constant.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// How long the pending sleepers sleep: longer than the whole run.
const PENDING_SLEEP: Duration = Duration::from_secs(3600);
/// How far ahead the inserted-and-cancelled timer is.
const INSERTED_AHEAD: Duration = Duration::from_secs(60);
/// The pending counts measured, in increasing order.
const PENDING: [usize; 3] = [0, 1_000, 1_000_000];

/// The sleeping greenlets added so far on the main thread's hub.
struct GreenSleepers {
    started: Rc<Cell<usize>>,
    spawned: usize,
}

impl GreenSleepers {
    fn new() -> Self {
        GreenSleepers {
            started: Rc::new(Cell::new(0)),
            spawned: 0,
        }
    }

    /// Spawns detached sleepers until `total` exist and waits until every
    /// one has parked on its timer.
    fn grow_to(&mut self, total: usize) {
        while self.spawned < total {
            let s = self.started.clone();
            drop(green_runtime::spawn(move || {
                s.set(s.get() + 1);
                green_runtime::sleep(PENDING_SLEEP);
            }));
            self.spawned += 1;
        }
        while self.started.get() < total {
            green_runtime::yield_now();
        }
    }
}

/// The greenlet `W` of `green_park_until` / `green_park_control`, driven
/// from the main context.
struct Parker {
    unparker: green_runtime::Unparker,
    stop: Rc<Cell<bool>>,
    handle: green_runtime::JoinHandle<()>,
}

impl Parker {
    fn start(deadline: Option<Instant>) -> Parker {
        let slot = Rc::new(RefCell::new(None));
        let stop = Rc::new(Cell::new(false));
        let (s, st) = (slot.clone(), stop.clone());
        let handle = green_runtime::spawn(move || {
            *s.borrow_mut() = Some(green_runtime::current_unparker());
            while !st.get() {
                green_runtime::park_until(deadline, "timer bench");
            }
        });
        let unparker = loop {
            if let Some(u) = slot.borrow_mut().take() {
                break u;
            }
            green_runtime::yield_now();
        };
        Parker {
            unparker,
            stop,
            handle,
        }
    }

    /// One iteration: wake `W`, let it run (cancel + insert), come back.
    fn round(&self) {
        self.unparker.unpark();
        green_runtime::yield_now();
    }

    fn finish(self) {
        self.stop.set(true);
        self.unparker.unpark();
        self.handle.join().expect("the parker does not panic");
    }
}

/// Sleeps registered with a tokio current-thread runtime's timer driver.
struct TokioSleepers {
    rt: tokio::runtime::Runtime,
    pending: Vec<Pin<Box<tokio::time::Sleep>>>,
}

impl TokioSleepers {
    fn new() -> Self {
        TokioSleepers {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a current-thread runtime builds"),
            pending: Vec::new(),
        }
    }

    /// Creates and registers (polls once) sleeps until `total` exist.
    fn grow_to(&mut self, total: usize) {
        let TokioSleepers { rt, pending } = self;
        rt.block_on(std::future::poll_fn(|cx| {
            while pending.len() < total {
                let mut s = Box::pin(tokio::time::sleep(PENDING_SLEEP));
                assert!(s.as_mut().poll(cx).is_pending(), "an hour has not passed");
                pending.push(s);
            }
            Poll::Ready(())
        }));
    }

    /// `iters` iterations of create + poll + drop, timed inside `block_on`.
    fn poll_drop(&self, iters: u64) -> Duration {
        self.rt.block_on(std::future::poll_fn(|cx| {
            let deadline = tokio::time::Instant::now() + INSERTED_AHEAD;
            let t = Instant::now();
            for _ in 0..iters {
                let s = std::pin::pin!(tokio::time::sleep_until(deadline));
                assert!(s.poll(cx).is_pending(), "a minute has not passed");
            }
            Poll::Ready(t.elapsed())
        }))
    }
}

fn timers(c: &mut Criterion) {
    let mut green = GreenSleepers::new();
    let mut tokio = TokioSleepers::new();
    let mut group = c.benchmark_group("timer_insert_cancel");
    for pending in PENDING {
        green.grow_to(pending);
        tokio.grow_to(pending);
        let deadline = Instant::now() + INSERTED_AHEAD;
        let p = Parker::start(Some(deadline));
        group.bench_with_input(
            BenchmarkId::new("green_park_until", pending),
            &pending,
            |b, _| b.iter(|| p.round()),
        );
        p.finish();
        let p = Parker::start(None);
        group.bench_with_input(
            BenchmarkId::new("green_park_control", pending),
            &pending,
            |b, _| b.iter(|| p.round()),
        );
        p.finish();
        group.bench_with_input(
            BenchmarkId::new("tokio_sleep_poll_drop", pending),
            &pending,
            |b, _| b.iter_custom(|iters| tokio.poll_drop(iters)),
        );
    }
    group.finish();
}

/// The criterion entry points (`criterion_group!` makes an undocumented
/// `pub fn`, hence the `allow`).
#[allow(missing_docs)]
mod group {
    use super::*;

    criterion_group! {
        name = timer;
        config = Criterion::default()
            .sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        targets = timers
    }
}
criterion_main!(group::timer);
