//! Ping-pong: two players volley a ball (a counter) back and forth for N
//! rounds, over TCP through a `StreamServer` or over UDP through a
//! `DatagramServer`, and print the rally count and rate.
//!
//! ```text
//! cargo run --release --example ping -- 127.0.0.1:0 100000 tcp
//! cargo run --release --example ping -- 127.0.0.1:0 100000 udp
//! ```
//!
//! The first line of output is `listening on ADDR` (the serving player);
//! the last is `rally: N volleys in T (R volleys/s)`.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use green::net::{DatagramServer, Reply, StreamServer, TcpStream, UdpSocket};

fn tcp(addr: &str, rounds: u64) -> io::Result<u64> {
    // The serving player returns every ball it receives, one higher.
    let server = StreamServer::bind(addr, |mut conn: TcpStream, _peer| -> io::Result<()> {
        conn.set_nodelay(true)?;
        let mut ball = [0u8; 8];
        loop {
            match conn.read_exact(&mut ball) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
            let n = u64::from_le_bytes(ball) + 1;
            conn.write_all(&n.to_le_bytes())?;
        }
    })?
    .start()?;
    println!("listening on {}", server.local_addr());
    let mut c = TcpStream::connect(server.local_addr())?;
    c.set_nodelay(true)?;
    let mut ball = 0u64;
    let mut volleys = 0u64;
    while volleys < rounds {
        c.write_all(&ball.to_le_bytes())?;
        let mut b = [0u8; 8];
        c.read_exact(&mut b)?;
        ball = u64::from_le_bytes(b) + 1;
        volleys += 1;
    }
    drop(c);
    server.stop(Duration::from_secs(1));
    debug_assert_eq!(ball, 2 * volleys);
    Ok(volleys)
}

fn udp(addr: &str, rounds: u64) -> io::Result<u64> {
    let server = DatagramServer::bind(addr, |ball: Vec<u8>, _peer, reply: Reply| {
        let b: [u8; 8] = ball
            .try_into()
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        reply
            .send(&(u64::from_le_bytes(b) + 1).to_le_bytes())
            .map(drop)
    })?
    .start()?;
    println!("listening on {}", server.local_addr());
    let c = UdpSocket::bind("127.0.0.1:0")?;
    c.connect(server.local_addr())?;
    // A lost datagram (rare even on loopback) is served again.
    c.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut ball = 0u64;
    let mut volleys = 0u64;
    while volleys < rounds {
        c.send(&ball.to_le_bytes())?;
        let mut b = [0u8; 8];
        match c.recv(&mut b) {
            Ok(8) if u64::from_le_bytes(b) == ball + 1 => {
                ball += 2;
                volleys += 1;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    server.stop(Duration::from_secs(1));
    Ok(volleys)
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let rounds: u64 = match args.next() {
        Some(r) => r
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("rounds: {e}")))?,
        None => 10_000,
    };
    let mode = args.next().unwrap_or_else(|| "tcp".into());
    let start = Instant::now();
    let volleys = match mode.as_str() {
        "tcp" => tcp(&addr, rounds)?,
        "udp" => udp(&addr, rounds)?,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown mode {other:?}: tcp or udp"),
            ))
        }
    };
    let t = start.elapsed();
    println!(
        "rally: {volleys} volleys in {t:?} ({:.0} volleys/s)",
        volleys as f64 / t.as_secs_f64()
    );
    Ok(())
}
