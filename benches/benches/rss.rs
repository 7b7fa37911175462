//! Resident memory per sleeping green thread: green greenlets against tokio
//! tasks, may coroutines and OS threads.
//!
//! Run with `cargo bench -p green-benches --bench rss` (it is part of
//! `cargo bench -p green-benches`).
//!
//! Each peer runs in a child process of its own (this same binary, told
//! which peer by the `GREEN_RSS_PEER` variable), so one that dies — may
//! running out of memory mappings, say — is reported and the others still
//! run. A child:
//!
//! 1. starts its runtime and lets it do one unit of work, so the runtime's
//!    fixed cost (hub, poller, worker threads, the first stack slab) is
//!    paid before the first reading;
//! 2. reads `VmRSS` from `/proc/self/status`;
//! 3. spawns `count` threads of execution, detached (their join handles
//!    dropped), each of which bumps a counter and sleeps for an hour with
//!    its runtime's own `sleep`;
//! 4. waits until the counter reaches `count` — every one of them has run
//!    and is parked in its sleep — and reads `VmRSS` again.
//!
//! The figure is `(after - before) / count`: everything the sleeping
//! population costs in resident memory, stacks, records, timers, queues
//! and allocator overhead included. It excludes kernel memory that `VmRSS`
//! does not show (a thread's kernel stack and task struct) and virtual
//! memory reserved but never touched. The child also reports the number of
//! memory mappings (`/proc/self/maps` lines) at the end, the resource that
//! bounds runtimes mapping one region per stack.
//!
//! Environment: `GREEN_RSS_COUNT` (default 100000; OS threads use a tenth
//! of it), `GREEN_RSS_RUNS` (default 3 runs per peer), `GREEN_RSS_PEERS`
//! (comma-separated subset of `green,tokio,may,thread`).

use std::cell::Cell;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use green_benches::{map_count, vm_rss_kib};

/// How long each sleeper sleeps: far longer than a run.
const SLEEP: Duration = Duration::from_secs(3600);
/// A child that has not reported by then is killed and reported as hung.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);
const PEERS: [&str; 4] = ["green", "tokio", "may", "thread"];
/// A count of may coroutines that stays clear of `vm.max_map_count`.
const MAY_REACHES: usize = 30_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn main() {
    if let Ok(peer) = std::env::var("GREEN_RSS_PEER") {
        let count = env_usize("GREEN_RSS_COUNT", 100_000);
        child(&peer, count);
        return;
    }
    parent();
}

// ---- the parent: runs every peer in its own process and tabulates ----

/// What one child run produced.
enum Outcome {
    Ok { per_kib: f64, maps: usize },
    Failed(String),
}

fn run_child(peer: &str, count: usize) -> Outcome {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return Outcome::Failed(format!("cannot find own executable: {e}")),
    };
    let mut child = match Command::new(exe)
        .env("GREEN_RSS_PEER", peer)
        .env("GREEN_RSS_COUNT", count.to_string())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("cannot start child: {e}")),
    };
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = child.stdout.take().map(|o| drain(Box::new(o)));
    let err = child.stderr.take().map(|e| drain(Box::new(e)));
    let start = Instant::now();
    let status: Option<ExitStatus> = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() < CHILD_DEADLINE => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let out = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let err = err.and_then(|h| h.join().ok()).unwrap_or_default();
    if let Some(line) = out.lines().find(|l| l.starts_with("result ")) {
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(k))
                .and_then(|v| v.parse::<f64>().ok())
        };
        if let (Some(per_kib), Some(maps)) = (field("per_kib="), field("maps=")) {
            return Outcome::Ok {
                per_kib,
                maps: maps as usize,
            };
        }
    }
    let progress = err
        .lines()
        .rev()
        .find(|l| l.starts_with("progress:"))
        .unwrap_or("no progress reported");
    let last: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("progress:") && !l.trim().is_empty())
        .collect();
    let tail = last[last.len().saturating_sub(2)..].join(" | ");
    let how = match status {
        None => format!("hung, killed after {CHILD_DEADLINE:?}"),
        Some(st) => format!("exited with {st}"),
    };
    Outcome::Failed(format!("{how}; last {progress}; stderr: {tail}"))
}

fn parent() {
    let count = env_usize("GREEN_RSS_COUNT", 100_000);
    let runs = env_usize("GREEN_RSS_RUNS", 3).max(1);
    let wanted = std::env::var("GREEN_RSS_PEERS").unwrap_or_else(|_| PEERS.join(","));
    println!("RSS per sleeping green thread ({runs} runs per peer, each in its own process)");
    // Stack memory depends on it: see "Transparent huge pages" in
    // docs/PERFORMANCE.md.
    if let Ok(thp) = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled") {
        println!("transparent huge pages: {}", thp.trim());
    }
    println!(
        "{:<8} {:>8} {:>10} {:>10} {:>10} {:>8}  notes",
        "peer", "count", "min KiB", "median", "max KiB", "maps"
    );
    let mut green_median = None;
    let mut plan = Vec::new();
    for peer in PEERS
        .iter()
        .filter(|p| wanted.split(',').any(|w| w.trim() == **p))
    {
        match *peer {
            "thread" => plan.push((*peer, count / 10)),
            // Beyond ~32k may runs out of memory mappings (see the docs);
            // measure it also where it still works.
            "may" if count > MAY_REACHES => {
                plan.push((*peer, count));
                plan.push((*peer, MAY_REACHES));
            }
            _ => plan.push((*peer, count)),
        }
    }
    for (peer, n) in plan {
        let mut figures = Vec::new();
        let mut maps = 0;
        let mut failures = Vec::new();
        for _ in 0..runs {
            match run_child(peer, n) {
                Outcome::Ok { per_kib, maps: m } => {
                    figures.push(per_kib);
                    maps = m;
                }
                Outcome::Failed(why) => failures.push(why),
            }
        }
        figures.sort_by(f64::total_cmp);
        let mut notes = String::new();
        if let Some(f) = failures.first() {
            notes = format!("{} of {runs} runs failed: {f}", failures.len());
        }
        if figures.is_empty() {
            println!(
                "{:<8} {:>8} {:>10} {:>10} {:>10} {:>8}  {}",
                peer, n, "-", "-", "-", "-", notes
            );
            continue;
        }
        let median = figures[figures.len() / 2];
        if peer == "green" {
            green_median = Some(median);
        } else if let Some(g) = green_median {
            if notes.is_empty() {
                notes = format!("green/{peer} = {:.2}", g / median);
            }
        }
        println!(
            "{:<8} {:>8} {:>10.2} {:>10.2} {:>10.2} {:>8}  {}",
            peer,
            n,
            figures[0],
            median,
            figures[figures.len() - 1],
            maps,
            notes
        );
    }
}

// ---- the children: one peer each ----

/// Prints the result line the parent looks for, then ends the process at
/// once (skipping the teardown of a hundred thousand sleepers).
fn report(count: usize, before: u64, after: u64) -> ! {
    let maps = map_count().unwrap_or(0);
    let per = after.saturating_sub(before) as f64 / count as f64;
    println!(
        "result count={count} before_kib={before} after_kib={after} per_kib={per:.3} maps={maps}"
    );
    std::process::exit(0)
}

fn rss() -> u64 {
    match vm_rss_kib() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("cannot read VmRSS: {e}");
            std::process::exit(2)
        }
    }
}

fn progress(i: usize) {
    if i % 10_000 == 0 {
        eprintln!("progress: {i} spawned");
    }
}

fn child(peer: &str, count: usize) {
    match peer {
        "green" => child_green(count),
        "tokio" => child_tokio(count),
        "may" => child_may(count),
        "thread" => child_thread(count),
        other => {
            eprintln!("unknown peer {other}");
            std::process::exit(2)
        }
    }
}

fn child_green(count: usize) {
    green_runtime::spawn(|| green_runtime::sleep(Duration::from_millis(1)))
        .join()
        .expect("warm-up greenlet");
    let parked = Rc::new(Cell::new(0usize));
    let before = rss();
    for i in 0..count {
        let p = parked.clone();
        drop(green_runtime::spawn(move || {
            p.set(p.get() + 1);
            green_runtime::sleep(SLEEP);
        }));
        progress(i);
    }
    // The main context's turn comes after every greenlet queued before it.
    while parked.get() < count {
        green_runtime::yield_now();
    }
    report(count, before, rss());
}

fn child_tokio(count: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds");
    rt.block_on(async move {
        tokio::spawn(tokio::time::sleep(Duration::from_millis(1)))
            .await
            .expect("warm-up task");
        let parked = Arc::new(AtomicUsize::new(0));
        let before = rss();
        for i in 0..count {
            let p = parked.clone();
            drop(tokio::spawn(async move {
                p.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(SLEEP).await;
            }));
            progress(i);
        }
        while parked.load(Ordering::Relaxed) < count {
            tokio::task::yield_now().await;
        }
        report(count, before, rss());
    })
}

fn child_may(count: usize) {
    may::config().set_workers(1);
    may::go!(|| may::coroutine::sleep(Duration::from_millis(1)))
        .join()
        .expect("warm-up coroutine");
    let parked = Arc::new(AtomicUsize::new(0));
    let before = rss();
    // may panics in `go!` when it cannot map a stack; by then the process
    // may be out of mappings, and the default panic hook (which allocates)
    // can hang. Report with as little allocation as possible and leave.
    std::panic::set_hook(Box::new(|_| {}));
    for i in 0..count {
        let p = parked.clone();
        let spawned = std::panic::catch_unwind(move || {
            may::go!(move || {
                p.fetch_add(1, Ordering::Relaxed);
                may::coroutine::sleep(SLEEP);
            })
        });
        match spawned {
            Ok(h) => drop(h),
            Err(payload) => {
                let why = payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("unknown panic");
                eprintln!("progress: {i} spawned");
                match map_count() {
                    Ok(maps) => {
                        eprintln!("may::go! panicked at coroutine {i} (maps={maps}): {why}")
                    }
                    Err(_) => eprintln!("may::go! panicked at coroutine {i}: {why}"),
                }
                std::process::exit(1);
            }
        }
        progress(i);
    }
    wait_os(&parked, count);
    report(count, before, rss());
}

fn child_thread(count: usize) {
    std::thread::spawn(|| std::thread::sleep(Duration::from_millis(1)))
        .join()
        .expect("warm-up thread");
    let parked = Arc::new(AtomicUsize::new(0));
    let before = rss();
    for i in 0..count {
        let p = parked.clone();
        let spawned = std::thread::Builder::new().spawn(move || {
            p.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(SLEEP);
        });
        if let Err(e) = spawned {
            eprintln!("progress: {i} spawned");
            eprintln!("thread spawn failed: {e}");
            std::process::exit(1);
        }
        progress(i);
    }
    wait_os(&parked, count);
    report(count, before, rss());
}

/// Waits on an OS thread until `count` sleepers have checked in.
fn wait_os(parked: &AtomicUsize, count: usize) {
    let mut last = 0;
    loop {
        let now = parked.load(Ordering::Relaxed);
        if now >= count {
            return;
        }
        if now / 10_000 != last / 10_000 {
            eprintln!("progress: {now} running");
        }
        last = now;
        std::thread::sleep(Duration::from_millis(5));
    }
}
