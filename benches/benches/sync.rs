//! Hand-offs through green-sync's primitives against the bare greenlet
//! switch and against tokio, crossbeam-channel and may, in the same run.
//!
//! Run with `cargo bench -p green-benches --bench sync`.
//!
//! **Ping-pong** (`sync/*`): two parties pass a token back and forth. One
//! iteration = one round trip = A hands to B, then B hands back to A (two
//! hand-offs, two switches between the parties).
//!
//! * `green_yield_now_round_trip` — the baseline: two greenlets calling
//!   `green_runtime::yield_now()` in a loop, so the hub resumes them A, B,
//!   A, B... One iteration = both yield once. No synchronisation object;
//!   the least a greenlet-to-greenlet round trip can cost.
//! * `green_channel_ping_pong` — two `green_sync::Channel<u64>`s
//!   (rendezvous): A `put`s on the first and `get`s from the second, B the
//!   reverse.
//! * `green_event_ping_pong` — two `green_sync::Event`s: A `set`s `ping` and
//!   `wait`s for `pong` (then `clear`s it), B the reverse.
//! * `tokio_mpsc_ping_pong` — the same over two `tokio::sync::mpsc`
//!   channels of capacity 1, between the `block_on` future and one spawned
//!   task of a current-thread runtime.
//! * `tokio_notify_ping_pong` — the same with two `tokio::sync::Notify`s
//!   (`notify_one` + `notified().await`).
//! * `crossbeam_rendezvous_ping_pong` — two `crossbeam_channel::bounded(0)`
//!   channels between two OS threads.
//! * `may_mpsc_ping_pong` — two `may::sync::mpsc` channels between two may
//!   coroutines on may's single worker thread.
//!
//! **Producer/consumer** (`sync_queue/*`): one party sends `u64`s through a
//! bounded queue as fast as it can, the other receives them. One iteration
//! = one item through the queue. With capacity 1 nearly every item costs a
//! switch; with 1024 the switches are spread over up to 1024 items.
//!
//! * `green_cap_{1,64,1024}` — `green_sync::Queue::bounded(n)`, `put` /
//!   `get`, between two greenlets.
//! * `tokio_cap_{1,64,1024}` — `tokio::sync::mpsc::channel(n)`, a spawned
//!   producer task and the `block_on` future as consumer.
//! * `crossbeam_cap_{1,64,1024}` — `crossbeam_channel::bounded(n)` between
//!   two OS threads.
//! * `green_unbounded` / `may_unbounded` — `green_sync::Queue::new()`
//!   between two greenlets, and `may::sync::mpsc::channel()` between two may
//!   coroutines on one worker (may has no bounded channel); the producer may
//!   run ahead of the consumer.
//!
//! **Uncontended fast paths** (`sync_fast/*`), timed in one greenlet that is
//! the only one on its hub. One iteration =
//!
//! * `green_mutex_lock_unlock` — `green_sync::Mutex::lock` + drop of the
//!   guard;
//! * `green_semaphore_acquire_release` — `Semaphore::acquire` + drop of the
//!   permit;
//! * `green_queue_try_put_try_get` — `Queue::try_put` + `Queue::try_get` on
//!   a bounded(64) queue;
//! * `std_mutex_lock_unlock` and `crossbeam_try_send_try_recv` — the same
//!   shape on `std::sync::Mutex` and `crossbeam_channel::bounded(64)`, for
//!   scale.
//!
//! What the measurement excludes: building runtimes, spawning the parties
//! (greenlets, tasks, coroutines, threads), their first run up to the loop
//! and their joins — every figure is timed with `iter_custom` from inside
//! the parties: for two greenlets from the first one's first instruction
//! to the last one's end; for tokio, may and crossbeam from the timing
//! party's loop, after the other party exists (the crossbeam threads first
//! exchange one untimed message, so the timed loop starts with both
//! threads running). What it includes: for green, everything the hub does
//! per switch (run queue, greenlet states, checkpoints, and every 61
//! resumes a zero-timeout look at timers and I/O) and the primitives'
//! `consume_budget()` calls on their fast paths, which every so often yield
//! to the hub.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use green_sync::{Channel, Event, Mutex, Queue, Semaphore};

/// The capacities of the producer/consumer benchmarks.
const CAPS: [usize; 3] = [1, 64, 1024];

/// Runs `a` and `b` in two greenlets; returns the time from the first one's
/// start to the last one's end.
fn timed_two<A, B>(a: A, b: B) -> Duration
where
    A: FnOnce() + 'static,
    B: FnOnce() + 'static,
{
    let start: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
    let end: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
    let wrap = |f: Box<dyn FnOnce()>| {
        let (start, end) = (start.clone(), end.clone());
        green_runtime::spawn(move || {
            if start.get().is_none() {
                start.set(Some(Instant::now()));
            }
            f();
            end.set(Some(Instant::now()));
        })
    };
    let ha = wrap(Box::new(a));
    let hb = wrap(Box::new(b));
    for h in [ha, hb] {
        h.join().expect("a benchmark greenlet does not panic");
    }
    match (start.get(), end.get()) {
        (Some(s), Some(e)) => e.duration_since(s),
        _ => unreachable!("both greenlets ran"),
    }
}

fn green_yield_now_round_trip(c: &mut Criterion) {
    c.bench_function("sync/green_yield_now_round_trip", |b| {
        b.iter_custom(|iters| {
            let body = move || {
                for _ in 0..iters {
                    green_runtime::yield_now();
                }
            };
            timed_two(body, body)
        })
    });
}

fn green_channel_ping_pong(c: &mut Criterion) {
    c.bench_function("sync/green_channel_ping_pong", |b| {
        b.iter_custom(|iters| {
            let ping = Rc::new(Channel::new());
            let pong = Rc::new(Channel::new());
            let (ping_b, pong_b) = (ping.clone(), pong.clone());
            timed_two(
                move || {
                    for i in 0..iters {
                        ping.put(i).expect("the channel stays open");
                        black_box(pong.get().expect("the channel stays open"));
                    }
                },
                move || {
                    for _ in 0..iters {
                        let v = ping_b.get().expect("the channel stays open");
                        pong_b.put(v).expect("the channel stays open");
                    }
                },
            )
        })
    });
}

fn green_event_ping_pong(c: &mut Criterion) {
    c.bench_function("sync/green_event_ping_pong", |b| {
        b.iter_custom(|iters| {
            let ping = Rc::new(Event::new());
            let pong = Rc::new(Event::new());
            let (ping_b, pong_b) = (ping.clone(), pong.clone());
            timed_two(
                move || {
                    for _ in 0..iters {
                        ping.set();
                        pong.wait();
                        pong.clear();
                    }
                },
                move || {
                    for _ in 0..iters {
                        ping_b.wait();
                        ping_b.clear();
                        pong_b.set();
                    }
                },
            )
        })
    });
}

fn green_queue(c: &mut Criterion) {
    for cap in CAPS {
        c.bench_function(&format!("sync_queue/green_cap_{cap}"), |b| {
            b.iter_custom(|iters| {
                let q = Rc::new(Queue::bounded(cap));
                let rx = q.clone();
                timed_two(
                    move || {
                        for i in 0..iters {
                            q.put(i).expect("the queue stays open");
                        }
                    },
                    move || {
                        for _ in 0..iters {
                            black_box(rx.get().expect("the queue stays open"));
                        }
                    },
                )
            })
        });
    }
}

/// Runs `iters` of `body` in one greenlet and returns the time it took.
fn in_greenlet<F: FnMut(u64) + 'static>(iters: u64, mut body: F) -> Duration {
    green_runtime::spawn(move || {
        let t = Instant::now();
        for i in 0..iters {
            body(i);
        }
        t.elapsed()
    })
    .join()
    .expect("the benchmark greenlet does not panic")
}

fn green_fast_paths(c: &mut Criterion) {
    c.bench_function("sync_fast/green_mutex_lock_unlock", |b| {
        b.iter_custom(|iters| {
            let m = Mutex::new(0u64);
            in_greenlet(iters, move |i| *black_box(&m).lock() += i)
        })
    });
    c.bench_function("sync_fast/green_semaphore_acquire_release", |b| {
        b.iter_custom(|iters| {
            let s = Semaphore::new(1);
            in_greenlet(iters, move |_| drop(black_box(&s).acquire()))
        })
    });
    c.bench_function("sync_fast/green_queue_try_put_try_get", |b| {
        b.iter_custom(|iters| {
            let q = Queue::bounded(64);
            in_greenlet(iters, move |i| {
                q.try_put(i).expect("the queue has room");
                black_box(q.try_get().expect("the queue has an item"));
            })
        })
    });
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds")
}

fn tokio_ping_pong(c: &mut Criterion) {
    let rt = tokio_runtime();
    c.bench_function("sync/tokio_mpsc_ping_pong", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let (ping, mut ping_rx) = tokio::sync::mpsc::channel(1);
                let (pong, mut pong_rx) = tokio::sync::mpsc::channel(1);
                let peer = tokio::spawn(async move {
                    while let Some(v) = ping_rx.recv().await {
                        if pong.send(v).await.is_err() {
                            break;
                        }
                    }
                });
                let t = Instant::now();
                for i in 0..iters {
                    ping.send(i).await.expect("the peer is alive");
                    black_box(pong_rx.recv().await.expect("the peer is alive"));
                }
                let d = t.elapsed();
                drop(ping);
                peer.await.expect("the peer does not panic");
                d
            })
        })
    });
    c.bench_function("sync/tokio_notify_ping_pong", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let ping = std::sync::Arc::new(tokio::sync::Notify::new());
                let pong = std::sync::Arc::new(tokio::sync::Notify::new());
                let (ping_b, pong_b) = (ping.clone(), pong.clone());
                let peer = tokio::spawn(async move {
                    for _ in 0..iters {
                        ping_b.notified().await;
                        pong_b.notify_one();
                    }
                });
                let t = Instant::now();
                for _ in 0..iters {
                    ping.notify_one();
                    pong.notified().await;
                }
                let d = t.elapsed();
                peer.await.expect("the peer does not panic");
                d
            })
        })
    });
}

fn tokio_queue(c: &mut Criterion) {
    let rt = tokio_runtime();
    for cap in CAPS {
        c.bench_function(&format!("sync_queue/tokio_cap_{cap}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async move {
                    let (tx, mut rx) = tokio::sync::mpsc::channel(cap);
                    let producer = tokio::spawn(async move {
                        for i in 0..iters {
                            tx.send(i).await.expect("the consumer is alive");
                        }
                    });
                    let t = Instant::now();
                    for _ in 0..iters {
                        black_box(rx.recv().await.expect("the producer is alive"));
                    }
                    let d = t.elapsed();
                    producer.await.expect("the producer does not panic");
                    d
                })
            })
        });
    }
}

fn crossbeam_ping_pong(c: &mut Criterion) {
    c.bench_function("sync/crossbeam_rendezvous_ping_pong", |b| {
        b.iter_custom(|iters| {
            let (ping, ping_rx) = crossbeam_channel::bounded::<u64>(0);
            let (pong, pong_rx) = crossbeam_channel::bounded::<u64>(0);
            let peer = std::thread::spawn(move || {
                for v in ping_rx {
                    if pong.send(v).is_err() {
                        break;
                    }
                }
            });
            // One untimed exchange: the peer thread is up and running.
            ping.send(0).expect("the peer is alive");
            pong_rx.recv().expect("the peer is alive");
            let t = Instant::now();
            for i in 0..iters {
                ping.send(i).expect("the peer is alive");
                black_box(pong_rx.recv().expect("the peer is alive"));
            }
            let d = t.elapsed();
            drop(ping);
            peer.join().expect("the peer does not panic");
            d
        })
    });
}

fn crossbeam_queue(c: &mut Criterion) {
    for cap in CAPS {
        c.bench_function(&format!("sync_queue/crossbeam_cap_{cap}"), |b| {
            b.iter_custom(|iters| {
                let (tx, rx) = crossbeam_channel::bounded::<u64>(cap);
                let (go, go_rx) = crossbeam_channel::bounded::<()>(0);
                let producer = std::thread::spawn(move || {
                    go_rx.recv().expect("the consumer starts us");
                    for i in 0..iters {
                        tx.send(i).expect("the consumer is alive");
                    }
                });
                let t = Instant::now();
                go.send(()).expect("the producer is alive");
                for _ in 0..iters {
                    black_box(rx.recv().expect("the producer is alive"));
                }
                let d = t.elapsed();
                producer.join().expect("the producer does not panic");
                d
            })
        });
    }
}

fn crossbeam_fast_path(c: &mut Criterion) {
    c.bench_function("sync_fast/crossbeam_try_send_try_recv", |b| {
        let (tx, rx) = crossbeam_channel::bounded::<u64>(64);
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            tx.try_send(i).expect("the channel has room");
            rx.try_recv().expect("the channel has an item")
        })
    });
    c.bench_function("sync_fast/std_mutex_lock_unlock", |b| {
        let m = std::sync::Mutex::new(0u64);
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            *black_box(&m).lock().expect("the lock is never poisoned") += i;
        })
    });
}

fn may_ping_pong(c: &mut Criterion) {
    // One worker, like green's one hub per thread; set before may's first
    // use.
    may::config().set_workers(1);
    c.bench_function("sync/may_mpsc_ping_pong", |b| {
        b.iter_custom(|iters| {
            may::go!(move || {
                let (ping, ping_rx) = may::sync::mpsc::channel::<u64>();
                let (pong, pong_rx) = may::sync::mpsc::channel::<u64>();
                let peer = may::go!(move || {
                    for v in ping_rx {
                        if pong.send(v).is_err() {
                            break;
                        }
                    }
                });
                let t = Instant::now();
                for i in 0..iters {
                    ping.send(i).expect("the peer is alive");
                    black_box(pong_rx.recv().expect("the peer is alive"));
                }
                let d = t.elapsed();
                drop(ping);
                peer.join().expect("the peer does not panic");
                d
            })
            .join()
            .expect("the benchmark coroutine does not panic")
        })
    });
}

/// may has no bounded channel: its unbounded `mpsc` between two coroutines
/// on one worker, against green's unbounded `Queue` between two greenlets.
fn unbounded_queues(c: &mut Criterion) {
    c.bench_function("sync_queue/green_unbounded", |b| {
        b.iter_custom(|iters| {
            let q = Rc::new(Queue::new());
            let rx = q.clone();
            timed_two(
                move || {
                    for i in 0..iters {
                        q.put(i).expect("the queue stays open");
                    }
                },
                move || {
                    for _ in 0..iters {
                        black_box(rx.get().expect("the queue stays open"));
                    }
                },
            )
        })
    });
    may::config().set_workers(1);
    c.bench_function("sync_queue/may_unbounded", |b| {
        b.iter_custom(|iters| {
            may::go!(move || {
                let (tx, rx) = may::sync::mpsc::channel::<u64>();
                let producer = may::go!(move || {
                    for i in 0..iters {
                        tx.send(i).expect("the consumer is alive");
                    }
                });
                let t = Instant::now();
                for _ in 0..iters {
                    black_box(rx.recv().expect("the producer is alive"));
                }
                let d = t.elapsed();
                producer.join().expect("the producer does not panic");
                d
            })
            .join()
            .expect("the benchmark coroutine does not panic")
        })
    });
}

/// The criterion entry points (`criterion_group!` makes an undocumented
/// `pub fn`, hence the `allow`).
#[allow(missing_docs)]
mod group {
    use super::*;

    criterion_group! {
        name = sync;
        config = Criterion::default()
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        targets = green_yield_now_round_trip, green_channel_ping_pong, green_event_ping_pong,
            tokio_ping_pong, crossbeam_ping_pong, may_ping_pong, green_queue, tokio_queue,
            crossbeam_queue, unbounded_queues, green_fast_paths, crossbeam_fast_path
    }
}
criterion_main!(group::sync);
