//! `green::io::BufReader` over real sockets: std's `BufRead` and `Read`
//! behaviour (lines, exact reads, EOF), `fill_more` appending to a partial
//! message and growing past a pooled buffer, timeouts, and handing over to
//! `copy` with the buffered bytes first.

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use green::io::BufReader;
use green::net::TcpStream;

mod util;
use util::{bounded, green_tcp_pair as pair};

/// Writes `data` from a greenlet in pieces of `piece` bytes, a short sleep
/// apart (so the reader sees them as separate arrivals), then shuts the
/// write side.
fn send_in_pieces(c: TcpStream, data: Vec<u8>, piece: usize) -> green::JoinHandle<()> {
    green::spawn(move || {
        for chunk in data.chunks(piece) {
            (&c).write_all(chunk).unwrap();
            green::sleep(Duration::from_millis(1));
        }
        c.shutdown(Shutdown::Write).unwrap();
    })
}

#[test]
fn lines_split_across_arrivals_come_out_whole() {
    bounded(|| {
        let (c, s) = pair();
        let text: String = (0..500).map(|i| format!("line number {i}\n")).collect();
        let writer = send_in_pieces(c, text.clone().into_bytes(), 777);
        let lines: Vec<String> = BufReader::new(&s).lines().map(Result::unwrap).collect();
        writer.join().unwrap();
        assert_eq!(lines.len(), 500);
        assert_eq!(lines.join("\n") + "\n", text);
    });
}

/// Reads of every size, including ones larger than the buffer (which go
/// straight to the socket), return the stream's bytes in order.
#[test]
fn reads_of_any_size_return_the_stream_in_order() {
    bounded(|| {
        let (c, s) = pair();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let writer = send_in_pieces(c, data.clone(), 40_000);
        let mut r = BufReader::new(&s);
        let mut got = Vec::new();
        let mut size = 1;
        loop {
            let mut chunk = vec![0u8; size];
            let n = r.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
            size = size * 7 % 20_000 + 1;
        }
        writer.join().unwrap();
        assert!(got == data);
    });
}

/// `fill_more` keeps what is buffered and appends, past the size of a
/// pooled buffer when the message is larger; `consume` drops a prefix.
#[test]
fn fill_more_appends_and_grows_past_the_pooled_size() {
    bounded(|| {
        let (c, s) = pair();
        let message: Vec<u8> = (0..150_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let writer = send_in_pieces(c, message.clone(), 30_000);
        let mut r = BufReader::new(&s);
        assert!(r.buffer().is_empty());
        while r.buffer().len() < message.len() {
            assert!(r.fill_more().unwrap() > 0, "EOF before the whole message");
        }
        assert!(r.buffer() == &message[..]);
        assert!(r.capacity() >= message.len());
        r.consume(149_990);
        assert_eq!(r.buffer(), &message[149_990..]);
        r.consume(10);
        assert!(r.buffer().is_empty());
        assert_eq!(r.fill_more().unwrap(), 0, "EOF");
        assert!(r.fill_buf().unwrap().is_empty());
        writer.join().unwrap();
    });
}

/// Consumed bytes are dropped from the front when more arrive: what is
/// left and what came after it read as one slice.
#[test]
fn fill_more_moves_the_unconsumed_rest_to_the_front() {
    bounded(|| {
        let (c, s) = pair();
        let mut r = BufReader::new(&s);
        (&c).write_all(b"abcdef").unwrap();
        while r.buffer().len() < 6 {
            assert!(r.fill_more().unwrap() > 0);
        }
        r.consume(4);
        assert_eq!(r.buffer(), b"ef");
        (&c).write_all(b"ghij").unwrap();
        while r.buffer().len() < 6 {
            assert!(r.fill_more().unwrap() > 0);
        }
        assert_eq!(r.buffer(), b"efghij");
        assert_eq!(r.capacity(), 8 * 1024, "no growth for a small message");
    });
}

/// After reading a header line, `copy` moves the rest: the bytes already
/// buffered come first.
#[test]
fn copy_continues_from_the_buffered_bytes() {
    bounded(|| {
        let (c, s) = pair();
        let mut data = b"HEADER 12345\n".to_vec();
        data.extend((0..100_000u32).map(|i| (i % 253) as u8));
        let expect_body = data[13..].to_vec();
        let writer = send_in_pieces(c, data, 5_000);
        let mut r = BufReader::new(&s);
        let mut header = String::new();
        r.read_line(&mut header).unwrap();
        assert_eq!(header, "HEADER 12345\n");
        let mut body = Vec::new();
        let n = green::io::copy(&mut r, &mut body).unwrap();
        assert_eq!(n, expect_body.len() as u64);
        assert!(body == expect_body);
        writer.join().unwrap();
    });
}

#[test]
fn read_timeout_gives_would_block_and_keeps_the_buffered_bytes() {
    bounded(|| {
        let (c, s) = pair();
        s.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        (&c).write_all(b"partial line").unwrap();
        let mut r = BufReader::new(&s);
        while r.buffer().len() < 12 {
            r.fill_more().unwrap();
        }
        let e = r.fill_more().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert_eq!(r.buffer(), b"partial line");
        (&c).write_all(b" ends\n").unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "partial line ends\n");
        assert!(format!("{r:?}").contains("buffered: 0"), "{r:?}");
    });
}
