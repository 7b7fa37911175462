//! Panics in greenlets are contained: reported once through `log` with the
//! greenlet's name, the hub keeps running, and `join()` returns the payload.
//!
//! Every test here runs with the capturing logger installed (it is
//! process-global), so each one looks only at records naming its own
//! greenlets.

mod util;

use std::time::Duration;

use util::{bounded, CaptureLog};

#[test]
fn panicking_greenlet_does_not_stop_others() {
    CaptureLog::install();
    bounded(|| {
        let bad = green::Builder::new()
            .name("contained-panic".into())
            .spawn(|| -> u32 {
                green::yield_now();
                panic!("contained");
            })
            .unwrap();
        let good: Vec<_> = (0..5u32)
            .map(|i| {
                green::spawn(move || {
                    for _ in 0..3 {
                        green::yield_now();
                    }
                    green::sleep(Duration::from_millis(1));
                    i
                })
            })
            .collect();
        assert!(bad.join().unwrap_err().is_panic());
        let got: Vec<u32> = good.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        // The hub still spawns and runs greenlets afterwards.
        assert_eq!(green::spawn(|| "after").join().unwrap(), "after");
    });
}

#[test]
fn join_returns_str_panic_payload() {
    CaptureLog::install();
    bounded(|| {
        let h = green::spawn(|| -> () { panic!("static message") });
        let e = h.join().unwrap_err();
        assert!(e.is_panic());
        assert!(!e.is_killed());
        assert!(e.to_string().contains("static message"), "{e}");
        let p = e.into_panic();
        assert_eq!(p.downcast_ref::<&str>(), Some(&"static message"));
    });
}

#[test]
fn join_returns_string_panic_payload() {
    CaptureLog::install();
    bounded(|| {
        let n = 42;
        let h = green::spawn(move || -> () { panic!("formatted {n}") });
        let e = h.join().unwrap_err();
        let p = e.try_into_panic().expect("a panic");
        assert_eq!(
            p.downcast_ref::<String>().map(String::as_str),
            Some("formatted 42")
        );
    });
}

#[test]
fn join_returns_custom_panic_payload() {
    CaptureLog::install();
    bounded(|| {
        #[derive(Debug, PartialEq)]
        struct Custom(u8);
        let h = green::spawn(|| -> () { std::panic::panic_any(Custom(7)) });
        let p = h.join().unwrap_err().into_panic();
        assert_eq!(p.downcast_ref::<Custom>(), Some(&Custom(7)));
    });
}

#[test]
fn panic_can_be_resumed_by_the_joiner() {
    CaptureLog::install();
    bounded(|| {
        let inner = green::spawn(|| -> () { panic!("relayed") });
        let relay = green::spawn(move || match inner.join() {
            Ok(()) => (),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        });
        let p = relay.join().unwrap_err().into_panic();
        assert_eq!(p.downcast_ref::<&str>(), Some(&"relayed"));
    });
}

#[test]
fn panic_is_reported_once_through_log_with_the_greenlet_name() {
    let log = CaptureLog::install();
    bounded(|| {
        let h = green::Builder::new()
            .name("report-me-7f3a".into())
            .spawn(|| -> () {
                green::yield_now();
                panic!("the reported failure");
            })
            .unwrap();
        let id = h.id();
        assert!(h.join().unwrap_err().is_panic());
        let recs = log.matching("report-me-7f3a");
        assert_eq!(recs.len(), 1, "reported exactly once: {recs:?}");
        let r = &recs[0];
        assert_eq!(r.level, log::Level::Error);
        assert_eq!(r.target, "green");
        assert!(r.message.contains("the reported failure"), "{}", r.message);
        assert!(r.message.contains(&id.to_string()), "{}", r.message);
        assert!(r.message.contains("panicked"), "{}", r.message);
    });
}

#[test]
fn kill_is_not_reported_as_a_panic() {
    let log = CaptureLog::install();
    bounded(|| {
        let h = green::Builder::new()
            .name("killed-quietly-91c2".into())
            .spawn(|| loop {
                green::park("forever");
            })
            .unwrap();
        green::yield_now();
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
        assert!(log.matching("killed-quietly-91c2").is_empty());
    });
}

#[test]
fn panic_report_names_where_it_panicked() {
    let log = CaptureLog::install();
    bounded(|| {
        let h = green::Builder::new()
            .name("located-5d0e".into())
            .spawn(|| -> () { panic!("here") })
            .unwrap();
        let line = line!() - 2;
        assert!(h.join().unwrap_err().is_panic());
        let recs = log.matching("located-5d0e");
        assert_eq!(recs.len(), 1, "{recs:?}");
        let at = format!("tests/panics.rs:{line}:");
        assert!(
            recs[0].message.contains(&at),
            "{} lacks {at}",
            recs[0].message
        );
    });
}
