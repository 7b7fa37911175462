//! A greenlet that overflows its stack hits the guard page: the runtime
//! reports it with the greenlet's name and aborts the process instead of
//! corrupting memory.
//!
//! Overflowing ends the process, so this is a `harness = false` test that
//! runs itself again as a child with a scenario argument and checks how the
//! child died.

mod util;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use util::{run_checks, run_self};

/// `SIGABRT` on Linux.
const SIGABRT: i32 = 6;
const CHILD_FLAG: &str = "--green-child";
const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// Recurses for ever with 1 KiB frames (until the stack runs out).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth as u8; 1024]);
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + u64::from(std::hint::black_box(frame[7]))
}

fn child(scenario: &str) {
    match scenario {
        "named-small-stack" => {
            let h = green::Builder::new()
                .name("overflowing-greenlet".into())
                .stack_size(32 * 1024)
                .spawn(|| recurse(0))
                .expect("spawn");
            let _ = h.join();
            println!("joined a greenlet that should have overflowed");
        }
        "unnamed-default-stack" => {
            // A sibling greenlet is alive and parked meanwhile.
            let _other = green::spawn(|| loop {
                green::park("bystander");
            });
            let h = green::spawn(|| recurse(0));
            let _ = h.join();
            println!("joined a greenlet that should have overflowed");
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn assert_aborted_with_report(scenario: &str, name: &str) {
    let out = run_self(&[CHILD_FLAG, scenario], CHILD_LIMIT);
    assert_eq!(
        out.status.signal(),
        Some(SIGABRT),
        "the child must die by SIGABRT; status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.contains("overflowed its stack"),
        "stderr: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains(name),
        "stderr names {name}: {}",
        out.stderr
    );
    assert!(!out.stdout.contains("joined"), "stdout: {}", out.stdout);
}

fn overflow_of_named_greenlet_aborts_and_names_it() {
    assert_aborted_with_report("named-small-stack", "'overflowing-greenlet'");
}

fn overflow_of_unnamed_greenlet_aborts_with_a_report() {
    assert_aborted_with_report("unnamed-default-stack", "<unnamed>");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_FLAG) {
        child(args.get(i + 1).map(String::as_str).unwrap_or_default());
        return;
    }
    run_checks(&[
        (
            "overflow_of_named_greenlet_aborts_and_names_it",
            overflow_of_named_greenlet_aborts_and_names_it,
        ),
        (
            "overflow_of_unnamed_greenlet_aborts_with_a_report",
            overflow_of_unnamed_greenlet_aborts_with_a_report,
        ),
    ]);
}
