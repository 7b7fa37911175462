//! Each networking example driven end to end as a child process.
//!
//! How the binaries are found: each test first runs `cargo build
//! --example NAME` with the same `cargo` (`env!("CARGO")`), profile and
//! target directory as this test binary — a no-op when `cargo test` has
//! already built the examples, and the guarantee that a `cargo test --test
//! net_examples` run never uses a stale binary — then runs
//! `<target>/<profile>/examples/NAME` directly, so the test talks to the
//! program itself, not to `cargo run`.
//!
//! Servers are started on port 0 and their address is read from their
//! first line of output, `listening on ADDR`. Every child is killed when
//! its guard drops, and every wait has a generous safety deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use green::net::{SocketAddr, StreamServer, TcpStream};

const SAFETY: Duration = Duration::from_secs(120);

/// Safety net for the green waits of a test's main context.
fn bounded<T>(f: impl FnOnce() -> T) -> T {
    green::with_timeout(SAFETY, f).expect("the test did not finish within its safety deadline")
}

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let path = profile_dir.join("examples").join(name);
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--example", name])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    if release {
        cmd.arg("--release");
    }
    if let Some(target) = profile_dir.parent() {
        cmd.env("CARGO_TARGET_DIR", target);
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "building example {name} failed");
    assert!(path.exists(), "no binary at {}", path.display());
    path
}

/// A running example; killed on drop. Its stdout lines arrive on `lines`.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(name: &str, args: &[&str]) -> Running {
        let mut child = Command::new(example(name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(SAFETY)
            .expect("the example printed the expected line in time")
    }

    /// Waits for a line satisfying `pred`, returning it.
    fn line_where(&self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let l = self.line();
            if pred(&l) {
                return l;
            }
        }
    }

    fn listening_on(&self) -> SocketAddr {
        let first = self.line();
        first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line is not `listening on ADDR`: {first:?}"))
            .parse()
            .unwrap()
    }

    /// Waits for the child to exit by itself; returns all its remaining
    /// output lines.
    fn finish(mut self) -> Vec<String> {
        let deadline = Instant::now() + SAFETY;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                assert!(st.success(), "example exited with {st}");
                break;
            }
            assert!(Instant::now() < deadline, "example did not finish in time");
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut rest = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(SAFETY) {
            rest.push(l);
        }
        rest
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn echo_example_echoes_every_byte() {
    bounded(|| {
        let ex = Running::start("echo", &["127.0.0.1:0"]);
        let addr = ex.listening_on();
        let clients: Vec<_> = (0..10)
            .map(|_| {
                green::spawn(move || {
                    let c = TcpStream::connect(addr).unwrap();
                    let data = pattern(200_000);
                    let w = c.try_clone().unwrap();
                    let d = data.clone();
                    let writer = green::spawn(move || {
                        (&w).write_all(&d).unwrap();
                        w.shutdown(Shutdown::Write).unwrap();
                    });
                    let mut back = Vec::new();
                    (&c).read_to_end(&mut back).unwrap();
                    writer.join().unwrap();
                    back == data
                })
            })
            .collect();
        for c in clients {
            assert!(c.join().unwrap());
        }
    })
}

#[test]
fn discard_example_reports_bytes_per_connection() {
    bounded(|| {
        let ex = Running::start("discard", &["127.0.0.1:0"]);
        let addr = ex.listening_on();
        let mut c = TcpStream::connect(addr).unwrap();
        let me = c.local_addr().unwrap();
        c.write_all(&pattern(123_456)).unwrap();
        drop(c);
        let want = format!("received 123456 bytes from {me}");
        ex.line_where(|l| l == want);
    })
}

#[test]
fn chat_example_relays_lines_to_the_others() {
    bounded(|| {
        let ex = Running::start("chat", &["127.0.0.1:0"]);
        let addr = ex.listening_on();
        let connect = || {
            let c = TcpStream::connect(addr).unwrap();
            let me = c.local_addr().unwrap();
            ex.line_where(|l| l == format!("{me} joined"));
            let r = BufReader::new(c.try_clone().unwrap());
            (c, r, me)
        };
        let (mut a, mut ar, a_addr) = connect();
        let (mut b, mut br, b_addr) = connect();
        let (c, mut cr, c_addr) = connect();
        let read = |r: &mut BufReader<TcpStream>| {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            l
        };

        a.write_all(b"hello\n").unwrap();
        assert_eq!(read(&mut br), format!("{a_addr}: hello\n"));
        assert_eq!(read(&mut cr), format!("{a_addr}: hello\n"));
        b.write_all(b"hi\n").unwrap();
        // A's first line is B's: A was not sent its own.
        assert_eq!(read(&mut ar), format!("{b_addr}: hi\n"));
        assert_eq!(read(&mut cr), format!("{b_addr}: hi\n"));

        drop((c, cr));
        ex.line_where(|l| l == format!("{c_addr} left"));
        b.write_all(b"again\n").unwrap();
        assert_eq!(read(&mut ar), format!("{b_addr}: again\n"));
        a.write_all(b"bye\n").unwrap();
        assert_eq!(read(&mut br), format!("{a_addr}: bye\n"));
    })
}

/// A client that never reads is disconnected once its queue stays full,
/// while a client that reads gets every line of a 20 MB flood.
#[test]
fn chat_example_disconnects_a_slow_client_without_stalling_others() {
    const LINES: usize = 20_000;
    bounded(|| {
        // A grace of 3 s: the reading client must never look slow, even on
        // a loaded machine; the slow one is cut off 3 s after it fills up.
        let ex = Running::start("chat", &["127.0.0.1:0", "3000"]);
        let addr = ex.listening_on();
        let join = || {
            let c = TcpStream::connect(addr).unwrap();
            let me = c.local_addr().unwrap();
            ex.line_where(|l| l == format!("{me} joined"));
            (c, me)
        };
        let (mut slow, slow_addr) = join();
        let (flooder, _) = join();
        let (reader, _) = join();
        let flood = green::spawn(move || {
            let line = format!("{}\n", "x".repeat(1000));
            let mut w = std::io::BufWriter::new(&flooder);
            for _ in 0..LINES {
                w.write_all(line.as_bytes()).unwrap();
            }
            w.flush().unwrap();
            drop(w);
            flooder
        });
        let mut r = BufReader::new(&reader);
        let mut line = String::new();
        for i in 0..LINES {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(
                line.ends_with(&format!("{}\n", "x".repeat(1000))),
                "line {i}: {line:?}"
            );
        }
        let _flooder = flood.join().unwrap();
        ex.line_where(|l| l == format!("{slow_addr} is too slow: disconnected"));
        // What the slow client had been sent is still there, then EOF.
        let mut rest = Vec::new();
        slow.read_to_end(&mut rest).unwrap();
        assert!(rest.len() < LINES * 1000, "the slow client was cut off");
    })
}

#[test]
fn idle_writer_example_writes_40_mib_while_the_idle_loop_runs() {
    // A sink on its own thread (and hub) that counts what arrives.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let sink = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        let mut foo_lines = true;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                let at = (total as usize + i) % 4;
                foo_lines &= *b == b"foo\n"[at];
            }
            total += n as u64;
        }
        (total, foo_lines)
    });
    let ex = Running::start("idle_writer", &[&addr.to_string()]);
    let out = ex.finish();
    let (received, all_foo) = sink.join().unwrap();
    assert_eq!(received, 40 << 20);
    assert!(all_foo, "the stream is \"foo\\n\" repeated");
    assert!(
        out.iter()
            .any(|l| l == &format!("wrote {} bytes", 40u64 << 20)),
        "{out:?}"
    );
    let spins: u64 = out
        .iter()
        .find_map(|l| l.strip_prefix("busy loop ran "))
        .and_then(|l| l.strip_suffix(" times"))
        .expect("a busy-loop line")
        .parse()
        .unwrap();
    // The writer outruns the sink's socket buffer many times over, so it
    // parks, and whenever it does the idle loop gets a turn.
    assert!(spins > 0, "{out:?}");
    assert!(out.iter().any(|l| l.starts_with("elapsed ")), "{out:?}");
}

/// The test's HTTP/1.1 file server: `/bytes/N` answers N bytes with a
/// `Content-Length`, `/chunked/N` N bytes in chunks, anything else 404.
fn http_handler(conn: TcpStream, _peer: SocketAddr) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let path = loop {
        let n = (&conn).read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(_) = req
            .parse(&buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?
        {
            assert_eq!(req.method, Some("GET"));
            assert!(req
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("host")));
            break req.path.unwrap_or("/").to_owned();
        }
    };
    let mut w = &conn;
    let num = |p: &str| p.parse::<usize>().ok();
    if let Some(n) = path.strip_prefix("/bytes/").and_then(num) {
        write!(
            w,
            "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"
        )?;
        w.write_all(&pattern(n))?;
    } else if let Some(n) = path.strip_prefix("/chunked/").and_then(num) {
        write!(
            w,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )?;
        for part in pattern(n).chunks(1000) {
            write!(w, "{:x}\r\n", part.len())?;
            w.write_all(part)?;
            w.write_all(b"\r\n")?;
        }
        w.write_all(b"0\r\n\r\n")?;
    } else {
        w.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n",
        )?;
    }
    Ok(())
}

#[test]
fn download_example_fetches_every_url_from_a_green_server() {
    let (tx, rx) = mpsc::channel();
    // The file server runs on its own thread's hub; this thread blocks on
    // the child's output.
    std::thread::spawn(move || {
        let handle = StreamServer::bind("127.0.0.1:0", http_handler)
            .unwrap()
            .start()
            .unwrap();
        tx.send(handle.local_addr()).unwrap();
        let _ = handle.join();
    });
    let addr = rx.recv_timeout(SAFETY).unwrap();
    let port = addr.port();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = closed.local_addr().unwrap();
    drop(closed);
    let urls = [
        format!("http://{addr}/bytes/1000"),
        format!("http://localhost:{port}/bytes/0"),
        format!("http://{addr}/chunked/250000"),
        format!("http://{addr}/bytes/3000000"),
        format!("http://{addr}/missing"),
        format!("http://{refused}/nobody-home"),
    ];
    let mut args = vec!["-n", "2"];
    args.extend(urls.iter().map(String::as_str));
    let out = Running::start("download", &args).finish();
    let expect = [
        format!("{} 200 1000 bytes", urls[0]),
        format!("{} 200 0 bytes", urls[1]),
        format!("{} 200 250000 bytes", urls[2]),
        format!("{} 200 3000000 bytes", urls[3]),
        format!("{} 404 10 bytes", urls[4]),
    ];
    for e in &expect {
        assert!(out.contains(e), "missing {e:?} in {out:#?}");
    }
    assert!(
        out.iter()
            .any(|l| l.starts_with(&format!("{} error: ", urls[5]))),
        "{out:#?}"
    );
    assert_eq!(out.last().map(String::as_str), Some("fetched 5 of 6 URLs"));
}

#[test]
fn ping_example_rallies_over_tcp_and_udp() {
    for mode in ["tcp", "udp"] {
        let ex = Running::start("ping", &["127.0.0.1:0", "500", mode]);
        let addr = ex.listening_on();
        assert_eq!(addr.ip().to_string(), "127.0.0.1");
        let out = ex.finish();
        let last = out.last().cloned().unwrap_or_default();
        assert!(
            last.starts_with("rally: 500 volleys in "),
            "{mode}: {out:?}"
        );
    }
}

/// Reads exactly `n` `Hello, World!` responses (each 13-byte body after a
/// fixed head) from `c`.
fn read_hellos(c: &TcpStream, n: usize) -> Vec<u8> {
    const ONE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: green\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
    let mut got = vec![0u8; ONE.len() * n];
    (&*c).read_exact(&mut got).unwrap();
    assert_eq!(got, ONE.repeat(n), "{n} whole responses in order");
    got
}

/// A GET whose head carries an `X-Filler` header of `filler` bytes.
fn get_with_filler(filler: usize) -> String {
    format!("GET / HTTP/1.1\r\nX-Filler: {}\r\n\r\n", "f".repeat(filler))
}

/// Everything the server sends until it closes (a reset after it is
/// ignored: the answer read before it is what counts).
fn answer_until_close(c: &TcpStream) -> String {
    let mut answer = String::new();
    let _ = (&*c).read_to_string(&mut answer);
    answer
}

/// A request head that takes many reads is answered; one past the
/// example's 64 KiB limit gets 400 and a close.
#[test]
fn http_hello_example_takes_large_heads_up_to_its_limit() {
    bounded(|| {
        let ex = Running::start("http_hello", &["127.0.0.1:0"]);
        let addr = ex.listening_on();
        let c = TcpStream::connect(addr).unwrap();
        (&c).write_all(get_with_filler(20_000).as_bytes()).unwrap();
        read_hellos(&c, 1);
        let huge = get_with_filler(70_000);
        let w = c.try_clone().unwrap();
        // Written from its own greenlet: the server stops reading at its
        // limit, so the rest of the head may never be taken.
        let writer = green::spawn(move || drop((&w).write_all(huge.as_bytes())));
        let answer = answer_until_close(&c);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
        writer.join().unwrap();
        // A head of exactly the limit is still answered.
        let c = TcpStream::connect(addr).unwrap();
        let exact = get_with_filler(65_536 - get_with_filler(0).len());
        assert_eq!(exact.len(), 65_536);
        (&c).write_all(exact.as_bytes()).unwrap();
        read_hellos(&c, 1);
        // A body larger than the example buffers is refused before it is
        // read, whatever `Content-Length` claims.
        let c = TcpStream::connect(addr).unwrap();
        (&c).write_all(b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\nabc")
            .unwrap();
        let answer = answer_until_close(&c);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    })
}

#[test]
fn http_hello_example_answers_keep_alive_and_pipelined_requests() {
    bounded(|| {
        let ex = Running::start("http_hello", &["127.0.0.1:0"]);
        let addr = ex.listening_on();
        let c = TcpStream::connect(addr).unwrap();
        // Keep-alive: three requests, one at a time, on one connection.
        for _ in 0..3 {
            (&c).write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            read_hellos(&c, 1);
        }
        // Pipelining: 16 requests in one write, split mid-request too.
        let one = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n".as_slice();
        let burst = one.repeat(16);
        let (a, b) = burst.split_at(burst.len() / 2 + 3);
        (&c).write_all(a).unwrap();
        (&c).write_all(b).unwrap();
        read_hellos(&c, 16);
        // A body is skipped, then `Connection: close` ends the connection.
        (&c).write_all(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        read_hellos(&c, 2);
        let mut rest = Vec::new();
        (&c).read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "closed after Connection: close");
        // A malformed request gets 400 and the connection is closed.
        let bad = TcpStream::connect(addr).unwrap();
        (&bad).write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
        let mut answer = String::new();
        (&bad).read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    })
}
