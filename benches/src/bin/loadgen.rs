//! The echo benchmark's load generator: `C` connections to an echo server,
//! each ping-ponging a `B`-byte message (send it whole, wait for all `B`
//! bytes back, compare every byte, send the next one) for `D` seconds.
//!
//! Written on mio with plain OS threads, so it shares no code path with the
//! servers it measures. It reports round trips per second, the p50 / p99
//! latency of a round trip, and — with `--server-pid` — the server's CPU
//! time per round trip: the growth of `utime + stime` in
//! `/proc/PID/stat` (all the server's threads) over the measured window,
//! divided by the round trips completed in it; and its voluntary and
//! involuntary context switches per round trip over the same window
//! (`/proc/PID/task/*/status`), a count that a shared machine distorts
//! far less than time.
//!
//! ```text
//! loadgen ADDR [--conns C] [--size B] [--secs D] [--warmup W]
//!              [--threads T] [--pin CPU] [--server-pid PID]
//! ```
//!
//! Defaults: 64 connections, 64 bytes, 2 s measured after 0.5 s of
//! warm-up, 1 thread. `--pin CPU` binds the load generator to one core
//! (`sched_setaffinity`); pin the server with `taskset -c`. Prints one
//! line of `key=value` fields; exits with an error on the first byte that
//! comes back wrong.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Bytes of the pattern messages are cut from; a message of round `r` on
/// connection `i` starts at offset `(13 r + 29 i) % PERIOD`.
const PERIOD: usize = 251;

struct Args {
    addr: SocketAddr,
    conns: usize,
    size: usize,
    secs: f64,
    warmup: f64,
    threads: usize,
    pin: Option<usize>,
    server_pid: Option<u32>,
}

fn usage(msg: &str) -> io::Error {
    io::Error::new(
        ErrorKind::InvalidInput,
        format!(
            "{msg}\nusage: loadgen ADDR [--conns C] [--size B] [--secs D] [--warmup W] \
             [--threads T] [--pin CPU] [--server-pid PID]"
        ),
    )
}

fn parse_args() -> io::Result<Args> {
    let mut it = std::env::args().skip(1);
    let addr = it
        .next()
        .ok_or_else(|| usage("missing ADDR"))?
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| usage("ADDR resolves to nothing"))?;
    let mut args = Args {
        addr,
        conns: 64,
        size: 64,
        secs: 2.0,
        warmup: 0.5,
        threads: 1,
        pin: None,
        server_pid: None,
    };
    while let Some(flag) = it.next() {
        let val = it
            .next()
            .ok_or_else(|| usage(&format!("{flag} needs a value")))?;
        let bad = || usage(&format!("bad value for {flag}: {val}"));
        match flag.as_str() {
            "--conns" => args.conns = val.parse().map_err(|_| bad())?,
            "--size" => args.size = val.parse().map_err(|_| bad())?,
            "--secs" => args.secs = val.parse().map_err(|_| bad())?,
            "--warmup" => args.warmup = val.parse().map_err(|_| bad())?,
            "--threads" => args.threads = val.parse().map_err(|_| bad())?,
            "--pin" => args.pin = Some(val.parse().map_err(|_| bad())?),
            "--server-pid" => args.server_pid = Some(val.parse().map_err(|_| bad())?),
            _ => return Err(usage(&format!("unknown flag {flag}"))),
        }
    }
    if args.conns == 0 || args.size == 0 || args.threads == 0 {
        return Err(usage("--conns, --size and --threads must be positive"));
    }
    Ok(args)
}

/// Binds the calling thread (and the threads it spawns later) to `cpu`.
fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: `set` is a plain bit set that CPU_ZERO/CPU_SET initialise
    // and write inside its bounds (CPU_SET ignores out-of-range indices);
    // sched_setaffinity only reads `size_of::<cpu_set_t>()` bytes of it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `(utime, utime + stime)` of process `pid` (all its threads), in
/// nanoseconds. The kernel splits user from system time by where each
/// tick found the process, so the user part is a sampled estimate.
fn cpu_ns(pid: u32) -> io::Result<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // count fields from the last ')'. After it, field 3 (state) is index
    // 0, so utime (field 14) is index 11 and stime (field 15) index 12.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, "bad /proc/PID/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, "bad /proc/PID/stat"))
    };
    let user = ticks(11)?;
    let total = user + ticks(12)?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Ok((user * 1_000_000_000 / hz, total * 1_000_000_000 / hz))
}

/// Context switches of process `pid` (all its threads): voluntary (it
/// blocked) and involuntary (it was preempted), from `/proc/PID/task/*/status`.
fn ctx_switches(pid: u32) -> io::Result<(u64, u64)> {
    let mut vol = 0;
    let mut invol = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        // A thread may end between the listing and the read: skip it.
        let Ok(status) = std::fs::read_to_string(task?.path().join("status")) else {
            continue;
        };
        let count = |n: &str| n.trim().parse::<u64>().unwrap_or(0);
        for line in status.lines() {
            if let Some(n) = line.strip_prefix("voluntary_ctxt_switches:") {
                vol += count(n);
            } else if let Some(n) = line.strip_prefix("nonvoluntary_ctxt_switches:") {
                invol += count(n);
            }
        }
    }
    Ok((vol, invol))
}

struct Conn {
    sock: TcpStream,
    id: usize,
    round: usize,
    /// Bytes of the current message written so far.
    sent: usize,
    /// Bytes of the current message received so far.
    got: usize,
    started: Instant,
}

impl Conn {
    fn offset(&self) -> usize {
        (self.round * 13 + self.id * 29) % PERIOD
    }
}

/// What one thread measured.
#[derive(Default)]
struct Tally {
    /// Round trips completed inside the measured window.
    rounds: u64,
    /// Their latencies in nanoseconds.
    lat_ns: Vec<u64>,
}

/// Drives `conns` until `end`; counts the round trips that complete
/// between `start` and `end`.
fn drive(
    mut conns: Vec<Conn>,
    size: usize,
    start: Instant,
    end: Instant,
    ready: &Barrier,
) -> io::Result<Tally> {
    let pattern: Vec<u8> = (0..PERIOD + size).map(|k| (k % PERIOD) as u8).collect();
    let mut poll = Poll::new()?;
    for (key, c) in conns.iter_mut().enumerate() {
        poll.registry().register(
            &mut c.sock,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
    }
    let mut buf = vec![0u8; size];
    let mut events = Events::with_capacity(1024);
    let mut tally = Tally::default();
    ready.wait();
    let now = Instant::now();
    for c in &mut conns {
        c.started = now;
    }
    // Every connection starts in the sending state: the first writable
    // event sends its first message.
    loop {
        let now = Instant::now();
        if now >= end {
            return Ok(tally);
        }
        match poll.poll(&mut events, Some(end - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in &events {
            let c = &mut conns[event.token().0];
            loop {
                if c.sent < size {
                    let off = c.offset();
                    match c.sock.write(&pattern[off + c.sent..off + size]) {
                        Ok(0) => return Err(ErrorKind::WriteZero.into()),
                        Ok(n) => c.sent += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                    continue;
                }
                match c.sock.read(&mut buf[..size - c.got]) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            ErrorKind::UnexpectedEof,
                            "the server closed a connection",
                        ))
                    }
                    Ok(n) => {
                        let off = c.offset() + c.got;
                        if buf[..n] != pattern[off..off + n] {
                            return Err(io::Error::new(
                                ErrorKind::InvalidData,
                                format!(
                                    "connection {} round {}: wrong bytes at {}..{}",
                                    c.id,
                                    c.round,
                                    c.got,
                                    c.got + n
                                ),
                            ));
                        }
                        c.got += n;
                        if c.got == size {
                            let done = Instant::now();
                            if c.started >= start && done < end {
                                tally.rounds += 1;
                                tally.lat_ns.push((done - c.started).as_nanos() as u64);
                            }
                            c.round += 1;
                            c.sent = 0;
                            c.got = 0;
                            c.started = done;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

fn connect(addr: SocketAddr, id: usize) -> io::Result<Conn> {
    let sock = std::net::TcpStream::connect(addr)?;
    sock.set_nodelay(true)?;
    sock.set_nonblocking(true)?;
    Ok(Conn {
        sock: TcpStream::from_std(sock),
        id,
        round: 0,
        sent: 0,
        got: 0,
        started: Instant::now(),
    })
}

fn main() -> io::Result<()> {
    let args = parse_args()?;
    if let Some(cpu) = args.pin {
        pin_to(cpu)?;
    }
    let mut per_thread: Vec<Vec<Conn>> = (0..args.threads).map(|_| Vec::new()).collect();
    for id in 0..args.conns {
        per_thread[id % args.threads].push(connect(args.addr, id)?);
        // Let the server accept: a full accept queue (std and mio listen
        // with a backlog of 128) drops SYNs, and the kernel retries a
        // dropped SYN only after a second.
        if id % 100 == 99 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let begin = Instant::now();
    let start = begin + Duration::from_secs_f64(args.warmup);
    let end = start + Duration::from_secs_f64(args.secs);
    let ready = Arc::new(Barrier::new(args.threads + 1));
    let size = args.size;
    let workers: Vec<_> = per_thread
        .into_iter()
        .map(|conns| {
            let ready = Arc::clone(&ready);
            std::thread::spawn(move || drive(conns, size, start, end, &ready))
        })
        .collect();
    ready.wait();
    std::thread::sleep(start.saturating_duration_since(Instant::now()));
    let cpu0 = args.server_pid.map(cpu_ns).transpose()?;
    let ctx0 = args.server_pid.map(ctx_switches).transpose()?;
    let t0 = Instant::now();
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    let cpu1 = args.server_pid.map(cpu_ns).transpose()?;
    let ctx1 = args.server_pid.map(ctx_switches).transpose()?;
    let window = t0.elapsed().as_secs_f64();

    let mut rounds = 0;
    let mut lat = Vec::new();
    for w in workers {
        let tally = w
            .join()
            .map_err(|_| io::Error::other("a load generator thread panicked"))??;
        rounds += tally.rounds;
        lat.extend(tally.lat_ns);
    }
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i] as f64 / 1000.0
    };
    let per_rt =
        |a: u64, b: u64| format!("{:.3}", b.saturating_sub(a) as f64 / rounds as f64 / 1000.0);
    let (cpu, user) = match (cpu0, cpu1) {
        (Some(a), Some(b)) if rounds > 0 => (per_rt(a.1, b.1), per_rt(a.0, b.0)),
        _ => ("-".into(), "-".into()),
    };
    let (vcsw, nvcsw) = match (ctx0, ctx1) {
        (Some(a), Some(b)) if rounds > 0 => (
            format!("{:.4}", b.0.saturating_sub(a.0) as f64 / rounds as f64),
            format!("{:.4}", b.1.saturating_sub(a.1) as f64 / rounds as f64),
        ),
        _ => ("-".into(), "-".into()),
    };
    println!(
        "conns={} size={} secs={:.2} rounds={} rt_per_s={:.0} p50_us={:.1} p99_us={:.1} server_cpu_us_per_rt={} \
         server_user_us_per_rt={} server_vcsw_per_rt={} server_nvcsw_per_rt={}",
        args.conns,
        args.size,
        window,
        rounds,
        rounds as f64 / args.secs,
        pct(0.50),
        pct(0.99),
        cpu,
        user,
        vcsw,
        nvcsw,
    );
    Ok(())
}
