//! A fixed-size loop of one green operation, for profilers (criterion's
//! statistics and peers would only add noise to a profile).
//!
//! ```text
//! cargo build --release -p green-benches --bin profile
//! perf record -g target/release/profile spawn 5000000
//! valgrind --tool=callgrind target/release/profile spawn 100000
//! ```
//!
//! Workloads: `spawn` (spawn + join of an empty greenlet from the main
//! context), `spawn-in-greenlet` (the same inside a greenlet), `yield`
//! (one greenlet calling `yield_now` alone), `yield-pair` (two greenlets
//! calling `yield_now`), `park-pair` (two greenlets handing a turn to each
//! other with park/unpark), `channel-pair` (two greenlets ping-ponging
//! through two `green_sync::Channel`s; one operation = one hand-off),
//! `event-pair` (the same through two `green_sync::Event`s: set, wait,
//! clear, as the criterion benchmark),
//! `mutex` (uncontended `green_sync::Mutex` lock + unlock in one greenlet),
//! `semaphore` (uncontended `Semaphore::acquire` + release, likewise),
//! `try-put-get` (`Queue::try_put` + `try_get` on a bounded(64) queue,
//! likewise), `queue-pair` (a producer and a consumer greenlet through a
//! `Queue::bounded(GREEN_CAP)`, 1 by default; one operation = one item),
//! `echo-pairs` (`GREEN_PAIRS` Unix socket pairs, 64 by default, each with
//! an echo greenlet running `io::copy` on one end — the echo benchmark's
//! server code — and a client greenlet writing 64 bytes to the other end
//! and reading them back; one operation = one round trip, so the figure is
//! the whole per-round-trip cost of both sides, kernel included, in one
//! hub), and the bare corosensei baselines `bare`
//! (resume + suspend) and `bare-spawn` (create a coroutine on a reused
//! stack and run it to completion). Prints the mean time per operation.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Instant;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult};

fn spawn_join(n: u64) {
    for _ in 0..n {
        green_runtime::spawn(|| black_box(()))
            .join()
            .expect("an empty greenlet does not panic");
    }
}

fn yield_loop(n: u64) {
    for _ in 0..n {
        green_runtime::yield_now();
    }
}

fn park_pair(n: u64) {
    let turn = Rc::new(Cell::new(0u8));
    let unparkers: Rc<[Cell<Option<green_runtime::Unparker>>; 2]> =
        Rc::new([Cell::new(None), Cell::new(None)]);
    let handles: Vec<_> = (0..2u8)
        .map(|mine| {
            let (turn, unparkers) = (turn.clone(), unparkers.clone());
            green_runtime::spawn(move || {
                unparkers[usize::from(mine)].set(Some(green_runtime::current_unparker()));
                let other = 1 - mine;
                for _ in 0..n {
                    while turn.get() != mine {
                        green_runtime::park("profile turn");
                    }
                    turn.set(other);
                    let peer = unparkers[usize::from(other)].take();
                    if let Some(u) = &peer {
                        u.unpark();
                    }
                    unparkers[usize::from(other)].set(peer);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a profile greenlet does not panic");
    }
}

fn channel_pair(n: u64) {
    let ping = Rc::new(green_sync::Channel::new());
    let pong = Rc::new(green_sync::Channel::new());
    let (ping_b, pong_b) = (ping.clone(), pong.clone());
    let a = green_runtime::spawn(move || {
        for i in 0..n {
            ping.put(i).expect("the channel stays open");
            black_box(pong.get().expect("the channel stays open"));
        }
    });
    let b = green_runtime::spawn(move || {
        for _ in 0..n {
            let v = ping_b.get().expect("the channel stays open");
            pong_b.put(v).expect("the channel stays open");
        }
    });
    a.join().expect("a profile greenlet does not panic");
    b.join().expect("a profile greenlet does not panic");
}

fn event_pair(n: u64) {
    let ping = Rc::new(green_sync::Event::new());
    let pong = Rc::new(green_sync::Event::new());
    let (ping_b, pong_b) = (ping.clone(), pong.clone());
    let a = green_runtime::spawn(move || {
        for _ in 0..n {
            ping.set();
            pong.wait();
            pong.clear();
        }
    });
    let b = green_runtime::spawn(move || {
        for _ in 0..n {
            ping_b.wait();
            ping_b.clear();
            pong_b.set();
        }
    });
    a.join().expect("a profile greenlet does not panic");
    b.join().expect("a profile greenlet does not panic");
}

/// `n` round trips of 64 bytes spread over `pairs` socket pairs, each
/// served by an echo greenlet (`io::copy` from the socket to itself).
fn echo_pairs(n: u64, pairs: u64) {
    use std::io::{Read, Write};
    let per = n / pairs;
    let mut servers = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..pairs {
        let (a, b) = green_net::unix::UnixStream::pair().expect("a socket pair");
        servers.push(green_runtime::spawn(move || {
            std::io::copy(&mut &b, &mut &b).expect("the echo copy succeeds")
        }));
        clients.push(green_runtime::spawn(move || {
            let msg = [7u8; 64];
            let mut back = [0u8; 64];
            for _ in 0..per {
                (&a).write_all(&msg).expect("the echo write succeeds");
                (&a).read_exact(&mut back).expect("the echo read succeeds");
                black_box(&back);
            }
        }));
    }
    for c in clients {
        c.join().expect("a profile greenlet does not panic");
    }
    for s in servers {
        s.join().expect("a profile greenlet does not panic");
    }
}

fn mutex_loop(n: u64) {
    let m = green_sync::Mutex::new(0u64);
    for i in 0..n {
        *black_box(&m).lock() += i;
    }
}

fn semaphore_loop(n: u64) {
    let s = green_sync::Semaphore::new(1);
    for _ in 0..n {
        drop(black_box(&s).acquire());
    }
}

fn try_put_get_loop(n: u64) {
    let q = green_sync::Queue::bounded(64);
    for i in 0..n {
        black_box(&q).try_put(i).expect("the queue has room");
        black_box(q.try_get().expect("the queue holds the item"));
    }
}

/// `n` items through a bounded queue of capacity `cap` between two
/// greenlets (the `sync_queue` benchmark's shape).
fn queue_pair(n: u64, cap: usize) {
    let q = Rc::new(green_sync::Queue::bounded(cap));
    let rx = q.clone();
    let producer = green_runtime::spawn(move || {
        for i in 0..n {
            q.put(i).expect("the queue stays open");
        }
    });
    let consumer = green_runtime::spawn(move || {
        for _ in 0..n {
            black_box(rx.get().expect("the queue stays open"));
        }
    });
    producer.join().expect("a profile greenlet does not panic");
    consumer.join().expect("a profile greenlet does not panic");
}

fn bare(n: u64) {
    let mut co = Coroutine::new(|y, mut input: u64| loop {
        input = y.suspend(input);
    });
    for i in 0..n {
        black_box(co.resume(black_box(i)));
    }
    // SAFETY: the coroutine only loops on `suspend` and owns nothing that
    // needs dropping, so abandoning its stack without unwinding is sound.
    unsafe { co.force_reset() };
}

fn bare_spawn(n: u64) {
    let mut stack = DefaultStack::default();
    for _ in 0..n {
        let mut co = Coroutine::<(), (), (), _>::with_stack(stack, |_y, ()| black_box(()));
        assert!(matches!(co.resume(()), CoroutineResult::Return(())));
        stack = co.into_stack();
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "spawn".to_owned());
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    // Warm the hub and the stack pool outside the timed loop.
    spawn_join(1000);
    let t = Instant::now();
    let ops = match what.as_str() {
        "spawn" => {
            spawn_join(n);
            n
        }
        "spawn-in-greenlet" => {
            green_runtime::spawn(move || spawn_join(n))
                .join()
                .expect("the profile greenlet does not panic");
            n
        }
        "yield" => {
            green_runtime::spawn(move || yield_loop(n))
                .join()
                .expect("the profile greenlet does not panic");
            n
        }
        "yield-pair" => {
            let a = green_runtime::spawn(move || yield_loop(n));
            let b = green_runtime::spawn(move || yield_loop(n));
            a.join().expect("the profile greenlet does not panic");
            b.join().expect("the profile greenlet does not panic");
            2 * n
        }
        "park-pair" => {
            park_pair(n);
            2 * n
        }
        "channel-pair" => {
            channel_pair(n);
            2 * n
        }
        "event-pair" => {
            event_pair(n);
            2 * n
        }
        "echo-pairs" => {
            let pairs: u64 = std::env::var("GREEN_PAIRS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(64)
                .max(1);
            echo_pairs(n, pairs);
            n / pairs * pairs
        }
        "mutex" => {
            green_runtime::spawn(move || mutex_loop(n))
                .join()
                .expect("the profile greenlet does not panic");
            n
        }
        "semaphore" => {
            green_runtime::spawn(move || semaphore_loop(n))
                .join()
                .expect("the profile greenlet does not panic");
            n
        }
        "try-put-get" => {
            green_runtime::spawn(move || try_put_get_loop(n))
                .join()
                .expect("the profile greenlet does not panic");
            n
        }
        "queue-pair" => {
            let cap: usize = std::env::var("GREEN_CAP")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            queue_pair(n, cap);
            n
        }
        "bare" => {
            bare(n);
            n
        }
        "bare-spawn" => {
            bare_spawn(n);
            n
        }
        other => {
            eprintln!(
                "unknown workload {other}: spawn, spawn-in-greenlet, yield, yield-pair, park-pair, channel-pair, event-pair, echo-pairs, mutex, semaphore, try-put-get, queue-pair, bare, bare-spawn"
            );
            std::process::exit(2);
        }
    };
    let per = t.elapsed().as_secs_f64() * 1e9 / ops as f64;
    println!("{what}: {ops} operations, {per:.1} ns each");
}
