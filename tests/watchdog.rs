//! The blocking watchdog: a greenlet that runs too long without switching
//! is reported through `log`, by name and with how long it has run.
//!
//! The watchdog and the logger are process-global, so they live in this
//! file alone.

mod util;

use std::time::{Duration, Instant};

use util::{bounded, run_self_with_env, CaptureLog};

const LIMIT: Duration = Duration::from_millis(50);

#[test]
fn watchdog_reports_a_greenlet_that_blocks_its_thread() {
    let log = CaptureLog::install();
    green::set_max_blocking_time(Some(LIMIT));
    assert_eq!(green::max_blocking_time(), Some(LIMIT));
    bounded(|| {
        let name = "spinner-4b1d";
        let h = green::Builder::new()
            .name(name.into())
            .spawn(move || {
                // Blocks the OS thread without ever switching, until the
                // report shows up (or a generous safety limit passes).
                let start = Instant::now();
                while log.matching(name).is_empty() && start.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                start.elapsed()
            })
            .unwrap();
        let id = h.id();
        let blocked_for = h.join().unwrap();
        let recs = log.matching(name);
        assert_eq!(recs.len(), 1, "one report per stall: {recs:?}");
        let r = &recs[0];
        assert_eq!(r.level, log::Level::Warn);
        assert_eq!(r.target, "green");
        assert!(r.message.contains(&id.to_string()), "{}", r.message);
        let ms = reported_millis(&r.message).expect("the report says for how long");
        assert!(ms >= LIMIT.as_millis() as u64, "{}", r.message);
        assert!(ms <= blocked_for.as_millis() as u64 + 1, "{}", r.message);
    });
}

#[test]
fn watchdog_does_not_report_greenlets_that_switch() {
    let log = CaptureLog::install();
    green::set_max_blocking_time(Some(LIMIT));
    bounded(|| {
        let name = "polite-9e77";
        // Parked (not running) greenlets are never reported, however long
        // they wait.
        let h = green::Builder::new()
            .name(name.into())
            .spawn(|| green::sleep(LIMIT * 4))
            .unwrap();
        h.join().unwrap();
        assert!(log.matching(name).is_empty(), "{:?}", log.matching(name));
    });
}

#[test]
fn environment_variable_turns_the_watchdog_on() {
    // A fresh process, so the variable is read when its first hub starts.
    let out = run_self_with_env(
        &[
            "--exact",
            "env_child_reports_a_blocking_greenlet",
            "--ignored",
            "--nocapture",
        ],
        &[("GREEN_MAX_BLOCKING_TIME", "75ms")],
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "child failed: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("1 passed"),
        "the child test ran: {}",
        out.stdout
    );
}

#[test]
#[ignore = "child process of environment_variable_turns_the_watchdog_on"]
fn env_child_reports_a_blocking_greenlet() {
    assert_eq!(
        std::env::var("GREEN_MAX_BLOCKING_TIME").as_deref(),
        Ok("75ms"),
        "run only as the child of environment_variable_turns_the_watchdog_on"
    );
    let log = CaptureLog::install();
    assert_eq!(green::max_blocking_time(), None, "off until a hub starts");
    bounded(|| {
        assert_eq!(green::max_blocking_time(), Some(Duration::from_millis(75)));
        let name = "env-spinner-0c4e";
        let h = green::Builder::new()
            .name(name.into())
            .spawn(move || {
                let start = Instant::now();
                while log.matching(name).is_empty() && start.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
            .unwrap();
        h.join().unwrap();
        assert_eq!(log.matching(name).len(), 1);
    });
}

/// The first number followed by " ms" in a report.
fn reported_millis(msg: &str) -> Option<u64> {
    let words: Vec<&str> = msg.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[1].starts_with("ms") && w[0].parse::<u64>().is_ok())
        .and_then(|w| w[0].parse().ok())
}
