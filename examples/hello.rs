//! The tour of `green` in one screen.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example hello
//! ```
//!
//! Three greenlets sleep concurrently on one OS thread, one is killed while
//! it waits, and a `Timeout` cuts another short.

use std::time::{Duration, Instant};

fn main() {
    let start = Instant::now();

    // Greenlets run whenever the main context blocks (here: in `join`).
    let sleepers: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|ms| {
            green::Builder::new()
                .name(format!("sleeper-{ms}"))
                .spawn(move || {
                    green::sleep(Duration::from_millis(ms));
                    format!(
                        "{} woke after {ms} ms",
                        green::current().name().unwrap_or("?")
                    )
                })
                .expect("spawn")
        })
        .collect();

    // One that would sleep for a minute: kill it instead.
    let slowpoke = green::spawn(|| green::sleep(Duration::from_secs(60)));

    for h in sleepers {
        println!("{}", h.join().expect("sleeper ended normally"));
    }
    slowpoke.kill();
    println!(
        "slowpoke killed: {}",
        slowpoke.join().unwrap_err().is_killed()
    );

    // A deadline over a region of blocking code.
    let r = green::with_timeout(Duration::from_millis(15), || {
        green::sleep(Duration::from_secs(60));
    });
    println!(
        "with_timeout(15 ms, sleep 60 s) -> {}",
        r.map_or_else(|e| e.to_string(), |()| "finished".into())
    );

    // Blocking work goes to the thread pool; only this context waits.
    let n = green::spawn_blocking(|| (1..=1_000_000u64).sum::<u64>());
    println!("spawn_blocking sum = {n}");

    // Everything above took about as long as the longest wait, not the sum.
    println!("total {:?} on one OS thread", start.elapsed());
    let s = green::stats();
    println!(
        "stats: {} greenlets alive, {} switches, {} stacks pooled for reuse",
        s.greenlets, s.switches, s.stacks_pooled
    );
}
