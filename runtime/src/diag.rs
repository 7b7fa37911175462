//! Diagnostics: counters, a dump of live greenlets, the blocking watchdog,
//! panic reports and the deadlock report.

use std::any::Any;
use std::fmt;
use std::fmt::Write as _;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::greenlet::{GreenletId, State};
use crate::hub::{hub, try_hub, HubShared};

/// Counters of the calling thread's hub, from [`stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Greenlets alive (spawned and not yet ended), not counting the main
    /// context.
    pub greenlets: usize,
    /// Greenlets in the run queue.
    pub ready: usize,
    /// Greenlets parked (waiting on I/O, a timer, another greenlet, …).
    pub blocked: usize,
    /// Greenlet switches so far.
    pub switches: u64,
    /// Polls of the I/O selector so far.
    pub polls: u64,
    /// Pending timers.
    pub timers: usize,
    /// Descriptors registered with the hub.
    pub io_sources: usize,
    /// Greenlets parked on I/O.
    pub io_waiters: usize,
    /// Stacks lent to live greenlets.
    pub stacks_in_use: usize,
    /// Stacks waiting in the pool for reuse.
    pub stacks_pooled: usize,
    /// Virtual bytes mapped for stacks (committed lazily).
    pub stack_bytes_mapped: usize,
    /// `spawn_blocking` jobs of this hub still running.
    pub blocking_in_flight: usize,
}

/// Counters of the calling thread's hub.
///
/// ```
/// let before = green_runtime::stats();
/// green_runtime::spawn(|| ()).join().unwrap();
/// let after = green_runtime::stats();
/// assert_eq!(after.greenlets, before.greenlets);
/// assert!(after.switches > before.switches);
/// ```
pub fn stats() -> Stats {
    let hub = hub();
    let gs = hub.greenlets.borrow();
    let mut ready = 0;
    let mut blocked = 0;
    for (k, r) in gs.iter() {
        if k == hub.main {
            continue;
        }
        match r.state.get() {
            State::Ready => ready += 1,
            State::Parked => blocked += 1,
            State::Running => {}
        }
    }
    let stacks = hub.stacks.borrow();
    Stats {
        greenlets: gs.len() - 1,
        ready,
        blocked,
        switches: hub.switches.get(),
        polls: hub.polls.get(),
        timers: hub.timers.borrow().len(),
        io_sources: hub.sources.borrow().len(),
        io_waiters: hub.io_waiters.get(),
        stacks_in_use: stacks.in_use(),
        stacks_pooled: stacks.pooled(),
        stack_bytes_mapped: stacks.mapped_bytes(),
        blocking_in_flight: hub.shared.blocking_in_flight.load(Ordering::Acquire),
    }
}

/// What a greenlet is doing, in a [`GreenletInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GreenletState {
    /// Waiting in the run queue for its turn.
    Ready,
    /// Running now (the caller of [`dump`], or the main context).
    Running,
    /// Parked until something wakes it.
    Blocked,
}

/// One live greenlet, as listed by [`dump`].
#[derive(Debug, Clone)]
pub struct GreenletInfo {
    /// Its id.
    pub id: GreenletId,
    /// Its name, if it was given one.
    pub name: Option<Arc<str>>,
    /// What it is doing.
    pub state: GreenletState,
    /// What it waits on, when blocked (`"readable fd 7"`, `"sleep"`, …).
    pub waiting_on: Option<String>,
    /// Where it was spawned.
    pub spawned_at: &'static Location<'static>,
    /// True for the main context.
    pub is_main: bool,
}

impl fmt::Display for GreenletInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "greenlet {}", self.id)?;
        if let Some(n) = &self.name {
            write!(f, " '{n}'")?;
        }
        if self.is_main {
            f.write_str(" (main context)")?;
        }
        match (&self.state, &self.waiting_on) {
            (GreenletState::Blocked, Some(w)) => write!(f, " waits on {w}")?,
            (GreenletState::Blocked, None) => f.write_str(" is blocked")?,
            (GreenletState::Ready, _) => f.write_str(" is ready")?,
            (GreenletState::Running, _) => f.write_str(" is running")?,
        }
        if !self.is_main {
            write!(f, ", spawned at {}", self.spawned_at)?;
        }
        Ok(())
    }
}

/// Lists the live greenlets of the calling thread's hub (the main context
/// first) with their state, what each waits on and where it was spawned.
///
/// ```
/// let h = green_runtime::Builder::new().name("sleeper".into())
///     .spawn(|| green_runtime::sleep(std::time::Duration::from_secs(60))).unwrap();
/// green_runtime::yield_now(); // let it start and park
/// let d = green_runtime::dump();
/// let s = d.iter().find(|g| g.name.as_deref() == Some("sleeper")).unwrap();
/// assert_eq!(s.waiting_on.as_deref(), Some("sleep"));
/// h.kill();
/// ```
pub fn dump() -> Vec<GreenletInfo> {
    let hub = hub();
    let gs = hub.greenlets.borrow();
    let mut out: Vec<GreenletInfo> = gs
        .iter()
        .map(|(k, r)| {
            let state = match r.state.get() {
                State::Ready => GreenletState::Ready,
                State::Running => GreenletState::Running,
                State::Parked => GreenletState::Blocked,
            };
            GreenletInfo {
                id: GreenletId::new(r.id),
                name: r.name.clone(),
                state,
                waiting_on: (r.state.get() == State::Parked).then(|| r.wait.get().to_string()),
                spawned_at: r.spawned_at,
                is_main: k == hub.main,
            }
        })
        .collect();
    out.sort_by_key(|g| (!g.is_main, g.id));
    out
}

/// The message of the panic raised when the main context waits on
/// something that nothing can ever provide.
pub(crate) fn deadlock_report() -> String {
    let mut s = String::from(
        "green: deadlock: this operation would block forever: no greenlet is ready, no timer \
         is pending, no I/O is awaited, no blocking job is running and no other thread \
         could wake the main context.",
    );
    for g in dump() {
        let _ = write!(s, "\n  {g}");
    }
    s
}

// ---- panics ----

/// Installs, once, a panic hook that reports panics inside greenlets in
/// place of std's default message: once, naming the greenlet, through `log`
/// (target `green`) when a logger is installed, on standard error
/// otherwise. Panics outside greenlets go to the previous hook unchanged.
/// Kills and expired `Timeout`s unwind without a panic, so they are not
/// reported.
pub(crate) fn on_hub_created() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_greenlet = try_hub().is_some_and(|h| !h.in_main() && !h.is_tearing_down());
            if in_greenlet {
                report_panic(info);
            } else {
                prev(info);
            }
        }));
    });
    start_watchdog_from_env();
}

pub(crate) fn payload_str(p: &(dyn Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

fn report_panic(info: &std::panic::PanicHookInfo<'_>) {
    let who = crate::current();
    let name = who
        .name()
        .map_or_else(|| "<unnamed>".to_string(), |n| format!("'{n}'"));
    let at = info
        .location()
        .map_or_else(|| "<unknown>".to_string(), |l| l.to_string());
    let mut msg = format!(
        "greenlet {} {} panicked at {}:\n{}",
        who.id(),
        name,
        at,
        payload_str(info.payload())
    );
    let bt = std::backtrace::Backtrace::capture();
    if bt.status() == std::backtrace::BacktraceStatus::Captured {
        let _ = write!(msg, "\nstack backtrace:\n{bt}");
    }
    if log::max_level() != log::LevelFilter::Off {
        log::error!(target: "green", "{msg}");
    } else {
        eprintln!("{msg}");
    }
}

// ---- the blocking watchdog ----

static WATCHDOG_ON: AtomicBool = AtomicBool::new(false);
static LIMIT_NANOS: AtomicU64 = AtomicU64::new(0);
static HUBS: Mutex<Vec<Weak<HubShared>>> = Mutex::new(Vec::new());
static WATCHDOG_THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[inline]
pub(crate) fn watchdog_enabled() -> bool {
    WATCHDOG_ON.load(Ordering::Relaxed)
}

pub(crate) fn register_hub(shared: &Arc<HubShared>) {
    let mut hubs = HUBS.lock();
    hubs.retain(|w| w.strong_count() > 0);
    hubs.push(Arc::downgrade(shared));
}

pub(crate) fn unregister_hub(id: u64) {
    HUBS.lock()
        .retain(|w| w.upgrade().is_some_and(|h| h.id != id));
}

/// Threads of ours that can wake no greenlet: idle pool threads and the
/// watchdog.
pub(crate) fn idle_internal_threads() -> usize {
    crate::blocking::IDLE_THREADS.load(Ordering::SeqCst) + WATCHDOG_THREADS.load(Ordering::SeqCst)
}

/// Turns the blocking watchdog on (`Some(limit)`) or off (`None`).
///
/// While on, a watchdog thread looks at every hub and reports, through
/// `log::warn!` (target `green`), a greenlet that has run for longer than
/// `limit` without switching: CPU-bound code that should call
/// [`yield_now`](crate::yield_now), or a call that blocks the OS thread. It
/// names the greenlet and says for how long; one report per stall.
///
/// The environment variable `GREEN_MAX_BLOCKING_TIME` (milliseconds, or with
/// an `ms`/`s` suffix) turns it on at start-up.
pub fn set_max_blocking_time(limit: Option<Duration>) {
    match limit {
        Some(l) if !l.is_zero() => {
            LIMIT_NANOS.store(
                u64::try_from(l.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            WATCHDOG_ON.store(true, Ordering::Relaxed);
            start_watchdog();
        }
        _ => WATCHDOG_ON.store(false, Ordering::Relaxed),
    }
}

/// The current watchdog limit, if it is on.
pub fn max_blocking_time() -> Option<Duration> {
    watchdog_enabled().then(|| Duration::from_nanos(LIMIT_NANOS.load(Ordering::Relaxed)))
}

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.trim().parse().ok().map(Duration::from_millis);
    }
    if let Some(secs) = s.strip_suffix('s') {
        return secs
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|v| Duration::try_from_secs_f64(v).ok());
    }
    s.parse().ok().map(Duration::from_millis)
}

fn start_watchdog_from_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(v) = std::env::var("GREEN_MAX_BLOCKING_TIME") {
            match parse_duration(&v) {
                Some(d) => set_max_blocking_time(Some(d)),
                None => log::warn!(target: "green", "green: ignoring GREEN_MAX_BLOCKING_TIME={v:?}: expected milliseconds, or a number with ms or s"),
            }
        }
    });
}

fn start_watchdog() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let r = std::thread::Builder::new()
            .name("green-watchdog".into())
            .spawn(watchdog);
        match r {
            Ok(_) => {
                WATCHDOG_THREADS.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => log::warn!(target: "green", "green: cannot start the watchdog thread: {e}"),
        }
    });
}

struct Seen {
    id: u64,
    switches: u64,
    running: u64,
    since: Instant,
    reported: bool,
}

fn watchdog() {
    let mut seen: Vec<Seen> = Vec::new();
    loop {
        let limit = Duration::from_nanos(LIMIT_NANOS.load(Ordering::Relaxed));
        let tick = (limit / 4).clamp(Duration::from_millis(1), Duration::from_millis(100));
        std::thread::sleep(tick);
        if !watchdog_enabled() {
            seen.clear();
            continue;
        }
        let hubs: Vec<Arc<HubShared>> = HUBS.lock().iter().filter_map(Weak::upgrade).collect();
        seen.retain(|s| hubs.iter().any(|h| h.id == s.id));
        let now = Instant::now();
        for h in hubs {
            let switches = h.switches.load(Ordering::Relaxed);
            let running = h.running.load(Ordering::Relaxed);
            let entry = match seen.iter_mut().position(|s| s.id == h.id) {
                Some(i) => &mut seen[i],
                None => {
                    seen.push(Seen {
                        id: h.id,
                        switches,
                        running,
                        since: now,
                        reported: false,
                    });
                    continue;
                }
            };
            if entry.switches != switches || entry.running != running || running == 0 {
                *entry = Seen {
                    id: h.id,
                    switches,
                    running,
                    since: now,
                    reported: false,
                };
                continue;
            }
            let stuck = now - entry.since;
            if stuck >= limit && !entry.reported {
                entry.reported = true;
                let name = h.running_name.lock().clone();
                let name = name.map_or_else(|| "<unnamed>".to_string(), |n| format!("'{n}'"));
                log::warn!(
                    target: "green",
                    "green: greenlet {running} {name} has run for {} ms without switching (max_blocking_time {} ms): it blocks every other greenlet of its thread",
                    stuck.as_millis(),
                    limit.as_millis()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("200"), Some(Duration::from_millis(200)));
        assert_eq!(parse_duration("200ms"), Some(Duration::from_millis(200)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(
            parse_duration("1e300s"),
            None,
            "too large is rejected, not a panic"
        );
        assert_eq!(parse_duration("-1s"), None);
    }
}
