//! The blocking pool: OS threads for work that would stall the hub
//! (`getaddrinfo`, file I/O, CPU-heavy work).
//!
//! Threads are started on demand up to a bound and leave after a while
//! idle. A job hands its result back through the waiting greenlet's
//! [`Unparker`](crate::Unparker), which crosses threads through the hub's
//! inbox; only the calling greenlet waits, the hub keeps running.

use std::collections::VecDeque;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::greenlet::Wait;
use crate::hub::hub;
use crate::park::{current_unparker, park_with};

/// Default bound on pool threads.
const DEFAULT_MAX_THREADS: usize = 128;
/// An idle pool thread exits after this long without work.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

static MAX_THREADS: AtomicUsize = AtomicUsize::new(0);
/// Pool threads waiting for work: they can wake nobody, so the deadlock
/// check does not count them as threads that might.
pub(crate) static IDLE_THREADS: AtomicUsize = AtomicUsize::new(0);

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            queue: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        work: Condvar::new(),
    })
}

fn max_threads() -> usize {
    let v = MAX_THREADS.load(Ordering::Relaxed);
    if v != 0 {
        return v;
    }
    static FROM_ENV: OnceLock<usize> = OnceLock::new();
    *FROM_ENV.get_or_init(|| {
        std::env::var("GREEN_MAX_BLOCKING_THREADS")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_MAX_THREADS)
    })
}

/// Sets the most threads the blocking pool may run at once (default 128,
/// or `GREEN_MAX_BLOCKING_THREADS`).
///
/// # Errors
/// `InvalidInput` for 0: the pool could never run a job.
pub fn set_max_blocking_threads(n: usize) -> io::Result<()> {
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the blocking pool needs at least one thread",
        ));
    }
    MAX_THREADS.store(n, Ordering::Relaxed);
    Ok(())
}

fn submit(job: Job) {
    let p = pool();
    let mut st = p.state.lock();
    st.queue.push_back(job);
    // An idle thread counts as idle until it wakes and takes the lock, so
    // several jobs queued back to back must not all count on the same one:
    // only rely on idle threads while there are at least as many as queued
    // jobs, otherwise start another (a job waiting for a later job must
    // not starve it).
    if st.idle >= st.queue.len() {
        p.work.notify_one();
        return;
    }
    if st.threads >= max_threads() {
        if st.idle > 0 {
            p.work.notify_one();
        }
        return; // otherwise a busy thread takes it when it is done
    }
    st.threads += 1;
    drop(st);
    let spawned = thread::Builder::new()
        .name("green-blocking".into())
        .spawn(worker);
    if let Err(e) = spawned {
        let mut st = p.state.lock();
        st.threads -= 1;
        if st.threads == 0 {
            // No thread can ever run the queue: run it here rather than
            // leave callers parked for ever.
            let jobs: Vec<Job> = st.queue.drain(..).collect();
            drop(st);
            log::warn!(target: "green", "green: cannot start a blocking-pool thread ({e}); running the job on the hub thread");
            for j in jobs {
                j();
            }
        }
    }
}

fn worker() {
    let p = pool();
    let mut st = p.state.lock();
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            job();
            st = p.state.lock();
            continue;
        }
        st.idle += 1;
        IDLE_THREADS.fetch_add(1, Ordering::SeqCst);
        let timed_out = p.work.wait_for(&mut st, KEEP_ALIVE).timed_out();
        IDLE_THREADS.fetch_sub(1, Ordering::SeqCst);
        st.idle -= 1;
        if timed_out && st.queue.is_empty() {
            st.threads -= 1;
            return;
        }
    }
}

/// Runs `f` on the blocking pool and parks only the calling greenlet until
/// it returns; other greenlets keep running. Use it for `getaddrinfo`,
/// blocking file I/O or long computations.
///
/// ```
/// let sum = green_runtime::spawn_blocking(|| (1..=100u64).sum::<u64>());
/// assert_eq!(sum, 5050);
/// ```
///
/// # Panics
/// A panic in `f` is caught on the pool thread and resumed in the caller.
///
/// If the caller is killed or times out while `f` runs, `f` still runs to
/// the end on its thread; its result is dropped.
pub fn spawn_blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let hub = hub();
    let slot: Arc<Mutex<Option<thread::Result<T>>>> = Arc::new(Mutex::new(None));
    let theirs = slot.clone();
    let unparker = current_unparker();
    let shared = hub.shared.clone();
    shared.blocking_in_flight.fetch_add(1, Ordering::AcqRel);
    submit(Box::new(move || {
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        *theirs.lock() = Some(r);
        unparker.unpark();
        // After the unpark is queued: the deadlock check reads this count
        // before looking at the inbox.
        shared.blocking_in_flight.fetch_sub(1, Ordering::AcqRel);
    }));
    loop {
        if let Some(r) = slot.lock().take() {
            return match r {
                Ok(v) => v,
                Err(p) => panic::resume_unwind(p),
            };
        }
        park_with(Wait::Blocking, None);
    }
}
