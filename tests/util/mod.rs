//! Helpers shared by the integration tests: safety nets that keep every
//! test bounded, a drop flag, a capturing `log::Log`, loopback socket pairs
//! and a runner for child processes (for behaviour that ends a process).

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::cell::Cell;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The soft limit of a test: `bounded` wraps the body in a `with_timeout`
/// of this length, so a test blocked greenly fails instead of hanging.
pub const SOFT_LIMIT: Duration = Duration::from_secs(10);
/// The hard limit: past this, a test that is stuck without blocking
/// greenly (a spinning hub) aborts the whole test process.
pub const HARD_LIMIT: Duration = Duration::from_secs(60);

/// Aborts the process if it is not dropped within its limit. The last
/// resort against a test that hangs without ever reaching a blocking point.
#[derive(Debug)]
pub struct SafetyNet {
    done: Option<mpsc::Sender<()>>,
}

impl SafetyNet {
    /// Arms a safety net for `limit`, labelled `what` in its report.
    pub fn new(what: &str, limit: Duration) -> SafetyNet {
        let (tx, rx) = mpsc::channel::<()>();
        let what = what.to_string();
        thread::Builder::new()
            .name("test-safety-net".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                    eprintln!("safety net: {what} still running after {limit:?}; aborting");
                    std::process::abort();
                }
            })
            .expect("start the safety-net thread");
        SafetyNet { done: Some(tx) }
    }
}

impl Drop for SafetyNet {
    fn drop(&mut self) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs a test body with both safety nets: a green `with_timeout` of
/// [`SOFT_LIMIT`] (fails the test if it stays blocked greenly) and a
/// process-aborting [`SafetyNet`] of [`HARD_LIMIT`].
#[track_caller]
pub fn bounded<T>(f: impl FnOnce() -> T) -> T {
    let what = format!("test at {}", std::panic::Location::caller());
    let _net = SafetyNet::new(&what, HARD_LIMIT);
    match green::with_timeout(SOFT_LIMIT, f) {
        Ok(v) => v,
        Err(e) => panic!("{what} did not finish within its {SOFT_LIMIT:?} safety net: {e}"),
    }
}

/// Sets a shared flag when dropped: proves that a destructor ran.
#[derive(Debug)]
pub struct DropFlag(pub Rc<Cell<bool>>);

impl DropFlag {
    /// A new guard and the flag it sets.
    pub fn new() -> (DropFlag, Rc<Cell<bool>>) {
        let flag = Rc::new(Cell::new(false));
        (DropFlag(flag.clone()), flag)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Yields (greenly) until `cond` holds. Bounded by the caller's safety net.
pub fn yield_until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        green::yield_now();
    }
}

// ---- capturing logger ----

/// One record seen by [`CaptureLog`].
#[derive(Debug, Clone)]
pub struct Captured {
    /// Its level.
    pub level: log::Level,
    /// Its target.
    pub target: String,
    /// Its formatted message.
    pub message: String,
}

/// A `log::Log` that keeps every record in memory. The logger is
/// process-global, so tests that install it live in their own files.
#[derive(Debug)]
pub struct CaptureLog {
    records: Mutex<Vec<Captured>>,
}

impl log::Log for CaptureLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let c = Captured {
            level: record.level(),
            target: record.target().to_string(),
            message: record.args().to_string(),
        };
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(c);
    }

    fn flush(&self) {}
}

impl CaptureLog {
    /// Installs the capturing logger (once per process) at `Trace` level
    /// and returns it.
    pub fn install() -> &'static CaptureLog {
        static LOGGER: OnceLock<CaptureLog> = OnceLock::new();
        let logger = LOGGER.get_or_init(|| CaptureLog {
            records: Mutex::new(Vec::new()),
        });
        // Fails only if it is already installed, which is what we want.
        let _ = log::set_logger(logger);
        log::set_max_level(log::LevelFilter::Trace);
        logger
    }

    /// Every record captured so far.
    pub fn records(&self) -> Vec<Captured> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The records whose message contains `needle`.
    pub fn matching(&self, needle: &str) -> Vec<Captured> {
        self.records()
            .into_iter()
            .filter(|r| r.message.contains(needle))
            .collect()
    }
}

// ---- sockets ----

/// A connected pair of non-blocking TCP streams on 127.0.0.1.
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local_addr");
    let a = TcpStream::connect(addr).expect("connect");
    let (b, _) = listener.accept().expect("accept");
    for s in [&a, &b] {
        s.set_nonblocking(true).expect("set_nonblocking");
        s.set_nodelay(true).expect("set_nodelay");
    }
    (a, b)
}

/// A connected pair of green TCP streams on 127.0.0.1 (client, server),
/// in green's default blocking mode.
pub fn green_tcp_pair() -> (green::net::TcpStream, green::net::TcpStream) {
    let l = green::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let c = green::net::TcpStream::connect(l.local_addr().expect("local_addr")).expect("connect");
    let (s, _) = l.accept().expect("accept");
    (c, s)
}

// ---- descriptors ----

/// Lowers this process's soft limit on open descriptors to `headroom`
/// above what is open now, so a test can run out of descriptors quickly
/// (for a child process: the limit is not restored).
pub fn lower_fd_limit(headroom: u64) {
    let open_now = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) }, 0);
    let lim = libc::rlimit {
        rlim_cur: open_now + headroom,
        rlim_max: cur.rlim_max,
    };
    // SAFETY: valid struct; lowers only the soft limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

// ---- /proc ----

/// Number of mappings of this process (lines of `/proc/self/maps`).
pub fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("read /proc/self/maps")
        .lines()
        .count()
}

// ---- child processes ----

/// How a child process ended and what it printed.
#[derive(Debug)]
pub struct ChildOutput {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs this test binary again with `args`, without the environment
/// variables that would change the runtime's behaviour, and waits for it
/// at most `limit` (killing it past that and panicking).
pub fn run_self(args: &[&str], limit: Duration) -> ChildOutput {
    run_self_with_env(args, &[], limit)
}

/// Like [`run_self`], with the environment variables `env` set in the
/// child (after the runtime's own ones were removed).
pub fn run_self_with_env(args: &[&str], env: &[(&str, &str)], limit: Duration) -> ChildOutput {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env_remove("GREEN_MAX_BLOCKING_TIME")
        .env_remove("GREEN_STACK_SIZE")
        .env_remove("GREEN_MAX_BLOCKING_THREADS")
        .env("RUST_BACKTRACE", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child process");
    let out = child.stdout.take().expect("child stdout");
    let err = child.stderr.take().expect("child stderr");
    let read = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(out));
    let err = read(Box::new(err));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait().expect("wait for child") {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("child {args:?} still running after {limit:?}; killed it");
            }
            None => thread::sleep(Duration::from_millis(10)),
        }
    };
    ChildOutput {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// A minimal runner for `harness = false` test binaries: runs each named
/// scenario check, prints a libtest-like summary, and exits non-zero if any
/// failed. Honours a name filter given as the first free argument.
pub fn run_checks(checks: &[(&str, fn())]) {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    if std::env::args().any(|a| a == "--list") {
        for (name, _) in checks {
            println!("{name}: test");
        }
        return;
    }
    let selected: Vec<_> = checks
        .iter()
        .filter(|(name, _)| name.contains(&filter))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, check) in &selected {
        let r = std::panic::catch_unwind(check);
        match r {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    let passed = selected.len() - failed.len();
    if failed.is_empty() {
        println!("\ntest result: ok. {passed} passed; 0 failed\n");
    } else {
        println!(
            "\ntest result: FAILED. {passed} passed; {} failed: {failed:?}\n",
            failed.len()
        );
        std::process::exit(101);
    }
}

// ---- reliability suites (tests/rel_*.rs) ----

/// True if the greenlet `id` of this hub is parked (per [`green::dump`]).
pub fn is_parked(id: green::GreenletId) -> bool {
    green::dump()
        .iter()
        .any(|g| g.id == id && g.state == green::GreenletState::Blocked)
}

/// Sleeps greenly a millisecond at a time until `cond` holds: for work
/// that ends on other threads or in other greenlets. Bounded by the
/// caller's safety net.
pub fn settle(mut cond: impl FnMut() -> bool) {
    while !cond() {
        green::sleep(Duration::from_millis(1));
    }
}

/// The counters of [`green::stats`] that must come back to their baseline
/// once everything a test started has ended: greenlets, blocked, timers,
/// I/O waiters, I/O sources, stacks in use, blocking jobs in flight.
pub fn leak_counters(s: &green::Stats) -> [usize; 7] {
    [
        s.greenlets,
        s.blocked,
        s.timers,
        s.io_waiters,
        s.io_sources,
        s.stacks_in_use,
        s.blocking_in_flight,
    ]
}

/// Open descriptors of this process (entries of `/proc/self/fd`).
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Serialises the tests of one binary that compare process-wide figures
/// (descriptors, RSS): hold the guard for the whole test.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Open sockets of this process (entries of `/proc/self/fd` that link to
/// `socket:[…]`): unlike [`fd_count`], not disturbed by the epoll and
/// eventfd descriptors of hubs that other test threads create and drop.
pub fn socket_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}
