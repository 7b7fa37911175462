//! Resident memory of idle green threads, against tokio tasks and may
//! coroutines (one worker each): many sleepers, or many idle connections
//! each held by its handler blocked in a read.
//!
//! ```text
//! idle green|tokio|may sleep N    # N threads of execution sleeping an hour
//! idle green|tokio|may conns N    # N idle connections, one handler each
//! idle green_std conns N          # green with std::io::copy
//! ```
//!
//! `sleep`: spawns `N` detached sleepers that each bump a counter and
//! sleep, waits until all have run, and reports the growth of `VmRSS`
//! per sleeper and the time from the first spawn until the last one ran.
//!
//! `conns`: serves the echo benchmark's handler (green: `green::io::copy`
//! on `&TcpStream`, which parks holding no buffer; `green_std`:
//! `std::io::copy`, std's 8 KiB buffer on the greenlet's stack; tokio: a read
//! loop with an 8 KiB `Vec`; may: the same loop with an 8 KiB array on the
//! coroutine's stack) on 127.0.0.1 while a child process opens `N`
//! connections and holds them silent. When every handler
//! has started and had time to block in its read, it reports the growth of
//! `VmRSS` per connection. Socket buffers are kernel memory, which
//! `VmRSS` does not show.
//!
//! Prints one line of `key=value` fields. `sleep` then leaves at once
//! with `_exit`, skipping the runtime's teardown of every sleeper (seconds
//! at a million); set `IDLE_TEARDOWN=1` to let it run and time the whole
//! process.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use green_benches::vm_rss_kib;

const SLEEP: Duration = Duration::from_secs(3600);
/// Time given to handlers that have started to reach their blocking read.
const SETTLE: Duration = Duration::from_millis(200);

fn report(peer: &str, what: &str, count: usize, before: u64, after: u64, secs: f64) {
    println!(
        "peer={peer} what={what} count={count} rss_before_kib={before} rss_after_kib={after} \
         kib_each={:.3} all_running_s={secs:.3}",
        after.saturating_sub(before) as f64 / count as f64
    );
    if what == "sleep" && std::env::var_os("IDLE_TEARDOWN").is_none() {
        // The figure is taken: skip the runtime's teardown of every sleeper
        // (seconds at a million; time it with IDLE_TEARDOWN=1).
        let _ = io::stdout().flush();
        // SAFETY: _exit ends the process at once; stdout was flushed and
        // nothing else is buffered.
        unsafe { libc::_exit(0) }
    }
}

fn rss() -> u64 {
    vm_rss_kib().unwrap_or(0)
}

/// Opens `count` connections to `addr` from a child process (this binary
/// run as `idle client ADDR N`, so the client's descriptors do not count
/// against this process's limit) and keeps them open and silent until
/// the child is killed.
fn hold_clients(addr: std::net::SocketAddr, count: usize) -> io::Result<std::process::Child> {
    std::process::Command::new(std::env::current_exe()?)
        .args(["client", &addr.to_string(), &count.to_string()])
        .spawn()
}

/// The child side of [`hold_clients`].
fn client(addr: &str, count: usize) -> io::Result<()> {
    let mut held = Vec::with_capacity(count);
    for i in 0..count {
        held.push(std::net::TcpStream::connect(addr)?);
        // Let the server accept (see loadgen.rs).
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    std::thread::sleep(SLEEP);
    drop(held);
    Ok(())
}

/// Reports, stops the client child and leaves.
fn finish(peer: &str, count: usize, before: u64, secs: f64, mut child: std::process::Child) -> ! {
    report(peer, "conns", count, before, rss(), secs);
    let _ = child.kill();
    let _ = child.wait();
    std::process::exit(0)
}

fn green_sleep(count: usize) {
    green_runtime::spawn(|| green_runtime::sleep(Duration::from_millis(1)))
        .join()
        .expect("warm-up greenlet");
    let ran = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let before = rss();
    let t0 = Instant::now();
    for _ in 0..count {
        let r = ran.clone();
        drop(green_runtime::spawn(move || {
            r.set(r.get() + 1);
            green_runtime::sleep(SLEEP);
        }));
    }
    while ran.get() < count {
        green_runtime::yield_now();
    }
    let secs = t0.elapsed().as_secs_f64();
    report("green", "sleep", count, before, rss(), secs);
}

/// `std_copy`: the handler uses `std::io::copy` instead of green's.
fn green_conns(count: usize, std_copy: bool) -> io::Result<()> {
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let server =
        green_net::StreamServer::bind("127.0.0.1:0", move |conn: green_net::TcpStream, _| {
            s.fetch_add(1, Ordering::Relaxed);
            if std_copy {
                io::copy(&mut &conn, &mut &conn).map(drop)
            } else {
                green_net::io::copy(&mut &conn, &mut &conn).map(drop)
            }
        })?;
    let addr = server.local_addr()?;
    let handle = server.start()?;
    // Warm-up: one connection served and closed, from an OS thread (a
    // blocking std call here would stop the hub that serves it).
    let warm = std::thread::spawn(move || -> io::Result<()> {
        let mut c = std::net::TcpStream::connect(addr)?;
        c.write_all(b"x")?;
        let mut b = [0u8; 1];
        c.read_exact(&mut b)
    });
    while !warm.is_finished() {
        green_runtime::sleep(Duration::from_millis(1));
    }
    warm.join()
        .map_err(|_| io::Error::other("the warm-up client panicked"))??;
    green_runtime::sleep(SETTLE);
    let before = rss();
    let t0 = Instant::now();
    let child = hold_clients(addr, count)?;
    while started.load(Ordering::Relaxed) < count + 1 {
        green_runtime::sleep(Duration::from_millis(1));
    }
    let secs = t0.elapsed().as_secs_f64();
    green_runtime::sleep(SETTLE);
    drop(handle);
    finish(
        if std_copy { "green_std" } else { "green" },
        count,
        before,
        secs,
        child,
    )
}

fn tokio_sleep(count: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds");
    rt.block_on(async move {
        tokio::spawn(tokio::time::sleep(Duration::from_millis(1)))
            .await
            .expect("warm-up task");
        let ran = Arc::new(AtomicUsize::new(0));
        let before = rss();
        let t0 = Instant::now();
        for _ in 0..count {
            let r = ran.clone();
            drop(tokio::spawn(async move {
                r.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(SLEEP).await;
            }));
        }
        while ran.load(Ordering::Relaxed) < count {
            tokio::task::yield_now().await;
        }
        let secs = t0.elapsed().as_secs_f64();
        report("tokio", "sleep", count, before, rss(), secs);
    })
}

async fn tokio_handler(mut conn: tokio::net::TcpStream, started: Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    started.fetch_add(1, Ordering::Relaxed);
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = conn.read(&mut buf).await {
        if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn tokio_conns(count: usize) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(tokio_handler(conn, s.clone()));
            }
        });
        let warm = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let mut c = std::net::TcpStream::connect(addr)?;
            c.write_all(b"x")?;
            let mut b = [0u8; 1];
            c.read_exact(&mut b)
        });
        warm.await.map_err(io::Error::other)??;
        tokio::time::sleep(SETTLE).await;
        let before = rss();
        let t0 = Instant::now();
        let child = hold_clients(addr, count)?;
        while started.load(Ordering::Relaxed) < count + 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let secs = t0.elapsed().as_secs_f64();
        tokio::time::sleep(SETTLE).await;
        finish("tokio", count, before, secs, child)
    })
}

fn may_sleep(count: usize) {
    may::config().set_workers(1);
    may::go!(|| may::coroutine::sleep(Duration::from_millis(1)))
        .join()
        .expect("warm-up coroutine");
    let ran = Arc::new(AtomicUsize::new(0));
    let before = rss();
    let t0 = Instant::now();
    for _ in 0..count {
        let r = ran.clone();
        drop(may::go!(move || {
            r.fetch_add(1, Ordering::Relaxed);
            may::coroutine::sleep(SLEEP);
        }));
    }
    while ran.load(Ordering::Relaxed) < count {
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = t0.elapsed().as_secs_f64();
    report("may", "sleep", count, before, rss(), secs);
}

fn may_conns(count: usize) -> io::Result<()> {
    may::config().set_workers(1).set_stack_size(64 * 1024);
    let listener = may::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    drop(may::go!(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let s = s.clone();
            drop(may::go!(move || {
                s.fetch_add(1, Ordering::Relaxed);
                let mut buf = [0u8; 8192];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }));
        }
    }));
    {
        let mut c = std::net::TcpStream::connect(addr)?;
        c.write_all(b"x")?;
        let mut b = [0u8; 1];
        c.read_exact(&mut b)?;
    }
    std::thread::sleep(SETTLE);
    let before = rss();
    let t0 = Instant::now();
    let child = hold_clients(addr, count)?;
    while started.load(Ordering::Relaxed) < count + 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = t0.elapsed().as_secs_f64();
    std::thread::sleep(SETTLE);
    finish("may", count, before, secs, child)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: idle green|tokio|may sleep|conns N, or idle green_std conns N",
        )
    };
    let [peer, what, n] = args.as_slice() else {
        return Err(usage());
    };
    let count: usize = n.parse().map_err(|_| usage())?;
    if peer == "client" {
        return client(what, count);
    }
    if count == 0 {
        return Err(usage());
    }
    match (peer.as_str(), what.as_str()) {
        ("green", "sleep") => green_sleep(count),
        ("green", "conns") => green_conns(count, false)?,
        ("green_std", "conns") => green_conns(count, true)?,
        ("tokio", "sleep") => tokio_sleep(count),
        ("tokio", "conns") => tokio_conns(count)?,
        ("may", "sleep") => may_sleep(count),
        ("may", "conns") => may_conns(count)?,
        _ => return Err(usage()),
    }
    Ok(())
}
